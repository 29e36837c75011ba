import Contracts
import Foundation
import Hummingbird
import Webhooks

/// A clinic's webhook endpoints (admins): register one (its signing secret is shown once), list
/// them, read an endpoint's delivery log, disable and enable one. The webhook worker delivers.
struct WebhookRoutes {
    let services: IngressServices

    struct NewEndpoint: Decodable, Documented {
        var url: String
        /// Absent: every appointment event.
        var eventTypes: [String]?
        static let schemaName = "NewWebhookEndpoint"
        static let schema = Schema.object(
            [
                ("url", .string(minLength: 10, maxLength: 2048, pattern: "^https?://")),
                ("eventTypes", .array(.string(values: WebhookRules.eventTypes), maxItems: 50)),
            ], required: ["url"])
    }

    struct CreatedEndpoint: Encodable, Documented {
        var endpoint: WebhookEndpoint
        /// Shown once: the receiver verifies each delivery's `webhook-signature` with it.
        var secret: String
        static let schemaName = "CreatedWebhookEndpoint"
        static let schema = Schema.object(
            [("endpoint", .ref(WebhookEndpoint.self)), ("secret", .string(minLength: 10, maxLength: 100))],
            required: ["endpoint", "secret"])
    }

    struct EndpointList: Encodable, Documented {
        var items: [WebhookEndpoint]
        static let schemaName = "WebhookEndpointList"
        static let schema = Schema.object([("items", .array(.ref(WebhookEndpoint.self)))], required: ["items"])
    }

    struct DeliveryLog: Encodable, Documented {
        var items: [WebhookDeliveryRecord]
        var limit: Int
        static let schemaName = "WebhookDeliveryLog"
        static let schema = Schema.object(
            [("items", .array(.ref(WebhookDeliveryRecord.self))), ("limit", .integer(minimum: 1, maximum: 500))],
            required: ["items", "limit"])
    }

    func add(to routes: Routes) {
        routes.post(
            "webhooks",
            Doc(
                "Register a webhook endpoint (admins): every matching appointment event is POSTed to it, signed per Standard Webhooks; the secret is in this answer only",
                tag: "webhooks", body: NewEndpoint.self, answers: [Doc.created(CreatedEndpoint.self)], errors: [403, 409])
        ) { request, context in try await create(request, context) }
        routes.get(
            "webhooks", Doc("The clinic's webhook endpoints (admins)", tag: "webhooks", answers: [Doc.ok(EndpointList.self, "the endpoints")], errors: [403])
        ) { _, context in
            let caller = try context.requireRole(.admin)
            return try JSONBody.response(EndpointList(items: try await services.webhooks.endpoints(tenant: caller.tenantId)))
        }
        routes.get(
            "webhooks/:id/deliveries",
            Doc(
                "An endpoint's delivery log, newest first (admins): status, attempts, last response code and time", tag: "webhooks",
                parameters: [Doc.path("id"), Doc.query("limit", .integer(minimum: 1, maximum: 500))],
                answers: [Doc.ok(DeliveryLog.self, "the deliveries")], errors: [403, 404])
        ) { request, context in
            let caller = try context.requireRole(.admin)
            let limit = try QueryParameters(request).int("limit", default: 100, in: 1...500)
            do {
                let items = try await services.webhooks.deliveries(endpoint: try Path.id(context), tenant: caller.tenantId, limit: limit)
                return try JSONBody.response(DeliveryLog(items: items, limit: limit))
            } catch WebhookRegistryError.unknownEndpoint {
                throw APIError.notFound("webhook endpoint")
            }
        }
        for (action, enabled) in [("disable", false), ("enable", true)] {
            routes.post(
                "webhooks/:id/\(action)",
                Doc(
                    enabled
                        ? "Enable an endpoint again, e.g. after the worker disabled it; its missed deliveries are replayed with `fleet dlq replay` (admins)"
                        : "Stop delivering to an endpoint (admins)",
                    tag: "webhooks", parameters: [Doc.path("id")], answers: [Doc.noContent], errors: [403, 404])
            ) { _, context in
                let caller = try context.requireRole(.admin)
                do {
                    try await services.webhooks.setEnabled(
                        enabled, endpoint: try Path.id(context), tenant: caller.tenantId, reason: "disabled by an admin")
                } catch WebhookRegistryError.unknownEndpoint {
                    throw APIError.notFound("webhook endpoint")
                }
                return JSONBody.noContent()
            }
        }
    }

    func create(_ request: Request, _ context: IngressContext) async throws -> Response {
        let caller = try context.requireRole(.admin)
        let body = try await JSONBody.decode(NewEndpoint.self, from: request, context: context)
        let url = try EndpointAddress.check(body.url, allowPrivate: services.settings.webhooksAllowPrivateAddresses)
        let asked = body.eventTypes ?? WebhookRules.eventTypes
        guard asked.count <= 50 else { throw APIError.invalid(field: "eventTypes", "must list at most 50 event types") }
        var types: [String] = []
        for (index, type) in asked.enumerated() {
            guard WebhookRules.eventTypes.contains(type) else {
                throw APIError.invalid(
                    field: "eventTypes[\(index)]", "must be one of \(WebhookRules.eventTypes.joined(separator: ", "))")
            }
            if !types.contains(type) { types.append(type) }
        }
        guard !types.isEmpty else { throw APIError.invalid(field: "eventTypes", "must name at least one event type") }
        let secret = WebhookSigning.newSecret()
        do {
            let endpoint = try await services.webhooks.create(
                tenant: caller.tenantId, url: url, eventTypes: types, secret: secret, by: caller.id)
            return try JSONBody.response(status: .created, CreatedEndpoint(endpoint: endpoint, secret: secret))
        } catch WebhookRegistryError.tooManyEndpoints {
            throw APIError.conflict(
                "too_many_endpoints", "a clinic may register at most \(WebhookRules.maximumEndpointsPerTenant) webhook endpoints")
        }
    }
}

/// Where a webhook may point. An endpoint is called by the worker from inside the fleet's
/// network, so an address that names the fleet's own hosts would let an admin make it POST to
/// them: unless `webhooks.allow.private.addresses` is set (development, tests), only https to a
/// name or a public IP literal is accepted.
enum EndpointAddress {
    static func check(_ text: String, allowPrivate: Bool) throws -> String {
        // Checked as sent: a URL is not trimmed or lower-cased into shape.
        if let bad = text.unicodeScalars.first(where: { Check.isControl($0) || $0.properties.isWhitespace }) {
            throw APIError.invalid(field: "url", "must not contain spaces or control characters (found U+\(String(bad.value, radix: 16, uppercase: true)))")
        }
        guard (10...2048).contains(text.unicodeScalars.count) else { throw APIError.invalid(field: "url", "must be 10 to 2048 characters") }
        let url = text
        guard url.hasPrefix("http://") || url.hasPrefix("https://"), let components = URLComponents(string: url),
            let scheme = components.scheme, let host = components.host?.lowercased(), !host.isEmpty
        else { throw APIError.invalid(field: "url", "must be an http:// or https:// URL with a host") }
        guard components.user == nil, components.password == nil else {
            throw APIError.invalid(field: "url", "must not carry a user name or password")
        }
        guard components.fragment == nil else { throw APIError.invalid(field: "url", "must not have a fragment") }
        if !allowPrivate {
            guard scheme == "https" else { throw APIError.invalid(field: "url", "must use https (deliveries carry appointment data)") }
            guard !isPrivate(host: host) else {
                throw APIError.invalid(field: "url", "must not name a loopback, private or link-local address")
            }
        }
        return url
    }

    static func isPrivate(host rawHost: String) -> Bool {
        let host = rawHost.trimmingCharacters(in: CharacterSet(charactersIn: "[]")).trimmingCharacters(in: CharacterSet(charactersIn: "."))
        if host == "localhost" || host.hasSuffix(".localhost") || host.hasSuffix(".local") || host.hasSuffix(".internal") || !host.contains(".")
            && !host.contains(":")
        {
            return true
        }
        // IP literals are judged as the worker judges the addresses it connects to; an IPv6
        // literal that does not parse (a zone id, say) is refused.
        if let isPrivate = WebhookAddressPolicy.isPrivate(literal: host) { return isPrivate }
        if host.contains(":") { return true }
        // A number in a form other than four decimal octets (`0x7f.1`, `2130706433`), which
        // resolvers read as an address: refused unless it is plainly a name.
        return host.allSatisfy { $0.isNumber || $0 == "." || $0 == "x" }
    }
}

extension WebhookEndpoint: Documented {
    static var schema: Schema {
        .object(
            [
                ("id", .uuid), ("url", .string(maxLength: 2048)), ("eventTypes", .array(.string(maxLength: 100))),
                ("status", .string(values: ["active", "disabled"])), ("failingSince", .dateTime), ("disabledAt", .dateTime),
                ("disabledReason", .string(maxLength: 1000)), ("createdAt", .dateTime),
            ], required: ["id", "url", "eventTypes", "status", "createdAt"])
    }
}

extension WebhookDeliveryRecord: Documented {
    static var schema: Schema {
        .object(
            [
                ("webhookId", .string(maxLength: 100)), ("eventType", .string(maxLength: 100)), ("appointmentId", .uuid),
                ("status", .string(values: ["pending", "retrying", "delivered", "failed"])), ("attempts", .integer(minimum: 0)),
                ("lastStatusCode", .integer(minimum: 0)), ("lastError", .string(maxLength: 1000)), ("lastAttemptAt", .dateTime),
                ("deliveredAt", .dateTime), ("createdAt", .dateTime),
            ], required: ["webhookId", "eventType", "status", "attempts", "createdAt"])
    }
}
