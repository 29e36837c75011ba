import Foundation
import HTTPTypes
import Hummingbird
import Synchronization

/// What one route answers, as documented: the OpenAPI document at `/openapi.json` is made from
/// these, and they are registered together with the handler, so no route goes undocumented.
struct Doc: Sendable {
    enum Access: Sendable {
        /// Needs no token (a token that is sent is still checked).
        case open
        /// Needs a valid access token.
        case signedIn
    }

    struct Parameter: Sendable {
        var name: String
        var location: String
        var schema: Schema
        var required: Bool
        var description: String
    }

    struct Answer: Sendable {
        var status: Int
        var description: String
        var schemaName: String?
        var schema: Schema?
        var contentType: String
        var headers: [String: Schema]
    }

    var summary: String
    var tag: String
    var access: Access
    var body: (name: String, schema: Schema)?
    var bodyRequired: Bool
    var parameters: [Parameter]
    var answers: [Answer]
    /// Error statuses this route answers beyond those every route may (400, 401, 413, 422, 503).
    var errors: Set<Int>

    init(
        _ summary: String, tag: String, access: Access = .signedIn, parameters: [Parameter] = [], answers: [Answer],
        errors: Set<Int> = []
    ) {
        self.summary = summary
        self.tag = tag
        self.access = access
        self.body = nil
        self.bodyRequired = true
        self.parameters = parameters
        self.answers = answers
        self.errors = errors
    }

    init<Body: Documented>(
        _ summary: String, tag: String, access: Access = .signedIn, body: Body.Type, bodyRequired: Bool = true,
        parameters: [Parameter] = [], answers: [Answer], errors: Set<Int> = []
    ) {
        self.init(summary, tag: tag, access: access, parameters: parameters, answers: answers, errors: errors)
        self.body = (Body.schemaName, Body.schema)
        self.bodyRequired = bodyRequired
    }

    static func ok<T: Documented>(_ type: T.Type, _ description: String = "done") -> Answer {
        Answer(status: 200, description: description, schemaName: T.schemaName, schema: T.schema, contentType: "application/json", headers: [:])
    }

    static func created<T: Documented>(_ type: T.Type) -> Answer {
        Answer(status: 201, description: "created", schemaName: T.schemaName, schema: T.schema, contentType: "application/json", headers: [:])
    }

    static func accepted<T: Documented>(_ type: T.Type, _ description: String = "accepted") -> Answer {
        Answer(status: 202, description: description, schemaName: T.schemaName, schema: T.schema, contentType: "application/json", headers: [:])
    }

    static let noContent = Answer(status: 204, description: "done", schemaName: nil, schema: nil, contentType: "", headers: [:])

    static func text(_ status: Int, _ description: String, contentType: String) -> Answer {
        Answer(status: status, description: description, schemaName: nil, schema: .string(), contentType: contentType, headers: [:])
    }

    /// A `text/event-stream`: each event (as a client parses it) has an id, a name and its data.
    static func eventStream(_ description: String) -> Answer {
        Answer(
            status: 200, description: description, schemaName: nil,
            schema: .object(
                [("id", .string(maxLength: 2_000)), ("event", .string(maxLength: 40)), ("data", .string()), ("retry", .integer(minimum: 0))]),
            contentType: "text/event-stream", headers: [:])
    }

    static func path(_ name: String, _ schema: Schema = .uuid, _ description: String = "") -> Parameter {
        Parameter(name: name, location: "path", schema: schema, required: true, description: description)
    }

    static func query(_ name: String, _ schema: Schema, required: Bool = false, _ description: String = "") -> Parameter {
        Parameter(name: name, location: "query", schema: schema, required: required, description: description)
    }

    static func header(_ name: String, _ schema: Schema, required: Bool = false, _ description: String = "") -> Parameter {
        Parameter(name: name, location: "header", schema: schema, required: required, description: description)
    }
}

/// Every route of the API with its documentation: the source of `/openapi.json`, and of `405`
/// answers (with `Allow`) for a known path asked with a method it does not serve.
final class RouteTable: Sendable {
    struct Route: Sendable {
        var method: HTTPRequest.Method
        /// `/v1/appointments/:id`
        var path: String
        var doc: Doc
        var segments: [Substring] { path.split(separator: "/") }
    }

    private let routes = Mutex<[Route]>([])

    func add(_ method: HTTPRequest.Method, _ path: String, _ doc: Doc) {
        routes.withLock { $0.append(Route(method: method, path: path, doc: doc)) }
    }

    var all: [Route] { routes.withLock { $0 } }

    /// The methods served on the path of a request (empty when no route has this path). Like the
    /// router, a literal segment wins over a parameter: `/v1/notifications/preferences` is not
    /// `/v1/notifications/:id`.
    func methods(servingPath path: String) -> [HTTPRequest.Method] {
        let asked = path.split(separator: "/")
        let matching = all.filter { Self.matches($0.segments, asked) }
        // The most specific patterns: at the first segment where they differ, a literal beats a parameter.
        let specificity = { (route: Route) in route.segments.map { $0.hasPrefix(":") ? 0 : 1 } }
        guard let best = matching.map(specificity).max(by: { $0.lexicographicallyPrecedes($1) }) else { return [] }
        var methods: [HTTPRequest.Method] = []
        for route in matching where specificity(route) == best && !methods.contains(route.method) {
            methods.append(route.method)
        }
        return methods
    }

    static func matches(_ pattern: [Substring], _ asked: [Substring]) -> Bool {
        guard pattern.count == asked.count else { return false }
        return zip(pattern, asked).allSatisfy { $0.hasPrefix(":") || $0 == $1 }
    }

    // MARK: - The OpenAPI document

    /// Errors every route may answer.
    static let commonErrors: [Int: String] = [
        400: "malformed request: the field or parameter is named in `error.details.field`",
        401: "missing, invalid, expired or revoked access token",
        413: "the body is too large",
        422: "a value breaks a rule: the field is named in `error.details.field`",
        503: "the database or the broker is unavailable; try again",
    ]

    static let errorDescriptions: [Int: String] = [
        403: "not allowed for this role or account", 404: "unknown id, or not visible to the caller",
        409: "conflict with the current state", 429: "too many attempts; see Retry-After",
    ]

    func openAPI() -> [String: Any] {
        var paths: [String: [String: Any]] = [:]
        var schemas: [String: Any] = ["Error": Self.errorSchema.json]
        var components: [String: Schema] = [:]
        for route in all {
            let openAPIPath = route.segments.map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0) }
                .reduce("") { $0 + "/" + $1 }
            var operation: [String: Any] = [
                "summary": route.doc.summary, "tags": [route.doc.tag],
                "operationId": "\(route.method.rawValue.lowercased())\(openAPIPath.replacingOccurrences(of: "/", with: "_"))",
            ]
            if case .open = route.doc.access { operation["security"] = [] as [Any] }
            var parameters = route.doc.parameters
            if let body = route.doc.body {
                schemas[body.name] = body.schema.requestJSON
                body.schema.components(into: &components)
                operation["requestBody"] = [
                    "required": route.doc.bodyRequired,
                    "content": ["application/json": ["schema": Schema.named(body.name, body.schema).json]],
                ]
                if case .signedIn = route.doc.access, route.method == .post {
                    parameters.append(
                        Doc.header(
                            "Idempotency-Key", .string(minLength: 1, maxLength: 200),
                            "the same key and body get the first answer again (and nothing is done twice)"))
                }
            }
            if !parameters.isEmpty {
                operation["parameters"] = parameters.map { parameter -> [String: Any] in
                    var object: [String: Any] = [
                        "name": parameter.name, "in": parameter.location, "required": parameter.required,
                        "schema": parameter.schema.json,
                    ]
                    if !parameter.description.isEmpty { object["description"] = parameter.description }
                    return object
                }
            }
            var responses: [String: Any] = [:]
            for answer in route.doc.answers {
                // Answers of one status in several content types (JSON or CSV) share one entry.
                var response = responses[String(answer.status)] as? [String: Any] ?? ["description": answer.description]
                if let schema = answer.schema {
                    schema.components(into: &components)
                    let reference: Schema
                    if let name = answer.schemaName {
                        schemas[name] = schema.json
                        reference = .named(name, schema)
                    } else {
                        reference = schema
                    }
                    var content = response["content"] as? [String: Any] ?? [:]
                    content[answer.contentType] = ["schema": reference.json]
                    response["content"] = content
                }
                if !answer.headers.isEmpty {
                    response["headers"] = answer.headers.mapValues { ["schema": $0.json] }
                }
                responses[String(answer.status)] = response
            }
            var errors = Self.commonErrors
            if case .open = route.doc.access, route.path.hasPrefix("/health") || route.path == "/metrics" || route.path == "/openapi.json" {
                errors[422] = nil
                errors[413] = nil
            }
            for status in route.doc.errors { errors[status] = Self.errorDescriptions[status] ?? "error" }
            for (status, description) in errors where responses[String(status)] == nil {
                var response: [String: Any] = [
                    "description": description, "content": ["application/json": ["schema": Schema.named("Error", Self.errorSchema).json]],
                ]
                if status == 429 || status == 503 { response["headers"] = ["Retry-After": ["schema": Schema.integer(minimum: 0).json]] }
                if status == 401 { response["headers"] = ["WWW-Authenticate": ["schema": Schema.string().json]] }
                responses[String(status)] = response
            }
            operation["responses"] = responses
            paths[openAPIPath, default: [:]][route.method.rawValue.lowercased()] = operation
        }
        // Components referred to from inside bodies and answers. A component used by request bodies
        // is rendered as a request body (its optional fields nullable), since null reads as absent.
        for (name, schema) in components where schemas[name] == nil { schemas[name] = schema.requestJSON }
        return [
            "openapi": "3.1.0",
            "info": [
                "title": "CareFleet API", "version": "1.1.0",
                "description": "Appointments, directory and auth. Writes are commands answered 202; follow them at /v1/commands/{id}.",
            ],
            "servers": [["url": "/"]],
            "security": [["bearer": [] as [Any]]],
            "paths": paths,
            "components": [
                "schemas": schemas,
                "securitySchemes": ["bearer": ["type": "http", "scheme": "bearer", "bearerFormat": "JWT"]],
            ],
        ]
    }

    static let errorSchema = Schema.object(
        [
            (
                "error",
                .object(
                    [("code", .string(maxLength: 100)), ("message", .string()), ("details", .object([], additional: .string()))],
                    required: ["code", "message", "details"])
            )
        ], required: ["error"])

    /// The document as JSON bytes (made once).
    func openAPIJSON() throws -> [UInt8] {
        Array(try JSONSerialization.data(withJSONObject: openAPI(), options: [.sortedKeys]))
    }
}

/// Registers routes on a Hummingbird router group and documents them in the table.
struct Routes {
    let group: RouterGroup<IngressContext>
    /// The group's path, e.g. `/v1`.
    let prefix: String
    let table: RouteTable

    typealias Handler = @Sendable (Request, IngressContext) async throws -> Response

    func get(_ path: String, _ doc: Doc, _ handler: @escaping Handler) { add(.get, path, doc, handler) }
    func post(_ path: String, _ doc: Doc, _ handler: @escaping Handler) { add(.post, path, doc, handler) }
    func put(_ path: String, _ doc: Doc, _ handler: @escaping Handler) { add(.put, path, doc, handler) }
    func patch(_ path: String, _ doc: Doc, _ handler: @escaping Handler) { add(.patch, path, doc, handler) }
    func delete(_ path: String, _ doc: Doc, _ handler: @escaping Handler) { add(.delete, path, doc, handler) }

    private func add(_ method: HTTPRequest.Method, _ path: String, _ doc: Doc, _ handler: @escaping Handler) {
        table.add(method, prefix + "/" + path, doc)
        group.on(RouterPath(path), method: method, use: handler)
    }
}
