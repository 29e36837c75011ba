import Contracts
import Foundation
import Hummingbird
import Notifications

/// The notification center: a user's own in-app notifications and their email preference.
struct NotificationRoutes {
    let services: IngressServices

    struct Page: Encodable, Documented {
        var items: [InAppNotification]
        var limit: Int
        var offset: Int
        var total: Int
        var unread: Int
        static let schemaName = "NotificationPage"
        static let schema = Schema.object(
            [
                ("items", .array(.ref(InAppNotification.self))), ("limit", .integer(minimum: 1, maximum: 200)),
                ("offset", .integer(minimum: 0)), ("total", .integer(minimum: 0)), ("unread", .integer(minimum: 0)),
            ], required: ["items", "limit", "offset", "total", "unread"])
    }

    struct UnreadCount: Encodable, Documented {
        var unread: Int
        static let schema = Schema.object([("unread", .integer(minimum: 0))], required: ["unread"])
    }

    struct Marked: Encodable, Documented {
        var marked: Int
        static let schema = Schema.object([("marked", .integer(minimum: 0))], required: ["marked"])
    }

    struct Preferences: Codable, Documented {
        var email: Bool
        static let schemaName = "NotificationPreferences"
        static let schema = Schema.object([("email", .boolean)], required: ["email"])
    }

    func add(to routes: Routes) {
        routes.get(
            "notifications",
            Doc(
                "My notifications, newest first", tag: "notifications",
                parameters: [
                    Doc.query("unread", .boolean, "only unread ones"), Doc.query("limit", .integer(minimum: 1, maximum: 200)),
                    Doc.query("offset", .integer(minimum: 0, maximum: 100_000)),
                ], answers: [Doc.ok(Page.self, "a page")])
        ) { request, context in try await list(request, context) }
        routes.get(
            "notifications/unread-count",
            Doc("How many of my notifications are unread", tag: "notifications", answers: [Doc.ok(UnreadCount.self, "the count")])
        ) { _, context in
            let caller = try context.requireUser()
            return try JSONBody.response(UnreadCount(unread: try await services.notifications.unreadCount(of: recipient(caller))))
        }
        routes.post(
            "notifications/read-all",
            Doc("Mark all my notifications read", tag: "notifications", answers: [Doc.ok(Marked.self, "how many were marked")])
        ) { _, context in
            let caller = try context.requireUser()
            return try JSONBody.response(Marked(marked: try await services.notifications.markAllRead(of: recipient(caller))))
        }
        routes.post(
            "notifications/:id/read",
            Doc("Mark one notification read", tag: "notifications", parameters: [Doc.path("id")], answers: [Doc.noContent], errors: [404])
        ) { _, context in
            let caller = try context.requireUser()
            guard try await services.notifications.markRead(try Path.id(context), of: recipient(caller)) else {
                throw APIError.notFound("notification")
            }
            return JSONBody.noContent()
        }
        routes.delete(
            "notifications/:id",
            Doc("Delete one notification", tag: "notifications", parameters: [Doc.path("id")], answers: [Doc.noContent], errors: [404])
        ) { _, context in
            let caller = try context.requireUser()
            guard try await services.notifications.delete(try Path.id(context), of: recipient(caller)) else {
                throw APIError.notFound("notification")
            }
            return JSONBody.noContent()
        }
        routes.get(
            "notifications/preferences",
            Doc("My email preference", tag: "notifications", answers: [Doc.ok(Preferences.self, "the preference")])
        ) { _, context in
            let caller = try context.requireUser()
            return try JSONBody.response(Preferences(email: try await services.notifications.emailEnabled(for: recipient(caller))))
        }
        routes.put(
            "notifications/preferences",
            Doc(
                "Turn email notifications on or off", tag: "notifications", body: Preferences.self,
                answers: [Doc.ok(Preferences.self, "the preference")])
        ) { request, context in
            let caller = try context.requireUser()
            let body = try await JSONBody.decode(Preferences.self, from: request, context: context)
            try await services.notifications.setEmailEnabled(body.email, for: recipient(caller))
            return try JSONBody.response(body)
        }
    }

    func recipient(_ caller: AuthenticatedUser) -> Recipient { Recipient(user: caller.id, tenant: caller.tenantId) }

    /// `unread=true` for unread only; `limit` (1…200) and `offset`; newest first.
    func list(_ request: Request, _ context: IngressContext) async throws -> Response {
        let caller = try context.requireUser()
        let query = QueryParameters(request)
        let unreadOnly = try query.bool("unread", default: false)
        let limit = try query.int("limit", default: 50, in: 1...200)
        let offset = try query.int("offset", default: 0, in: 0...100_000)
        let page = try await services.notifications.notifications(of: recipient(caller), unreadOnly: unreadOnly, limit: limit, offset: offset)
        let unread = try await services.notifications.unreadCount(of: recipient(caller))
        return try JSONBody.response(Page(items: page.items, limit: limit, offset: offset, total: page.total, unread: unread))
    }
}

extension InAppNotification: Documented {
    static var schemaName: String { "Notification" }
    static var schema: Schema {
        .object(
            [
                ("id", .uuid), ("kind", .oneOf(NotificationKind.self)), ("title", .string()), ("body", .string()),
                ("appointmentId", .uuid), ("createdAt", .dateTime), ("readAt", .dateTime),
            ], required: ["id", "kind", "title", "body", "createdAt"])
    }
}
