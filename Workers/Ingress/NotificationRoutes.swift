import Contracts
import Foundation
import Hummingbird
import Postgres

/// The notification center: a user's own in-app notifications and their email preference.
struct NotificationRoutes {
    let services: IngressServices

    struct NotificationView: Encodable {
        var id: UUID
        var kind: String
        var title: String
        var body: String
        var appointmentId: UUID?
        var createdAt: Date
        var readAt: Date?
    }

    struct Page: Encodable {
        var items: [NotificationView]
        var limit: Int
        var offset: Int
        var total: Int
        var unread: Int
    }

    struct Preferences: Codable {
        var email: Bool
    }

    func add(to router: RouterGroup<IngressContext>) {
        router.get("notifications") { request, context in try await list(request, context) }
        router.get("notifications/unread-count") { _, context in
            let caller = try context.requireUser()
            return JSONBody.response(["unread": try await unread(caller)])
        }
        router.post("notifications/read-all") { _, context in
            let caller = try context.requireUser()
            let rows = try await services.database.query(
                """
                UPDATE notify.notifications SET read_at = now()
                WHERE tenant_id = $1 AND recipient_id = $2 AND read_at IS NULL AND deleted_at IS NULL
                """, [caller.tenantId, caller.id])
            return JSONBody.response(["marked": rows.affectedRows])
        }
        router.post("notifications/:id/read") { _, context in
            let caller = try context.requireUser()
            let rows = try await services.database.query(
                """
                UPDATE notify.notifications SET read_at = coalesce(read_at, now())
                WHERE id = $1 AND tenant_id = $2 AND recipient_id = $3 AND deleted_at IS NULL
                RETURNING id
                """, [try Path.id(context), caller.tenantId, caller.id])
            guard !rows.isEmpty else { throw APIError.notFound("notification") }
            return JSONBody.noContent()
        }
        router.delete("notifications/:id") { _, context in
            let caller = try context.requireUser()
            // A flag, not a DELETE: a redelivered event must not bring the notification back.
            let rows = try await services.database.query(
                """
                UPDATE notify.notifications SET deleted_at = now()
                WHERE id = $1 AND tenant_id = $2 AND recipient_id = $3 AND deleted_at IS NULL RETURNING id
                """, [try Path.id(context), caller.tenantId, caller.id])
            guard !rows.isEmpty else { throw APIError.notFound("notification") }
            return JSONBody.noContent()
        }
        router.get("notifications/preferences") { _, context in
            let caller = try context.requireUser()
            let rows = try await services.database.query(
                "SELECT email_enabled FROM notify.preferences WHERE user_id = $1 AND tenant_id = $2", [caller.id, caller.tenantId])
            return JSONBody.response(Preferences(email: try rows.first?.decode(Bool.self, 0) ?? true))
        }
        router.put("notifications/preferences") { request, context in
            let caller = try context.requireUser()
            let body = try await JSONBody.decode(Preferences.self, from: request, context: context)
            try await services.database.query(
                """
                INSERT INTO notify.preferences (user_id, tenant_id, email_enabled) VALUES ($1, $2, $3)
                ON CONFLICT (user_id) DO UPDATE SET email_enabled = excluded.email_enabled, updated_at = now()
                """, [caller.id, caller.tenantId, body.email])
            return JSONBody.response(body)
        }
    }

    /// `unread=true` for unread only; `limit` (≤ 200) and `offset`; newest first.
    func list(_ request: Request, _ context: IngressContext) async throws -> Response {
        let caller = try context.requireUser()
        let query = request.uri.queryParameters
        let unreadOnly: Bool
        switch query.get("unread") {
        case nil, "false": unreadOnly = false
        case "true": unreadOnly = true
        default: throw APIError.malformed(field: "unread", "unread must be true or false")
        }
        let limit = min(200, max(1, Int(query.get("limit") ?? "") ?? 50))
        let offset = max(0, Int(query.get("offset") ?? "") ?? 0)
        let filter = "tenant_id = $1 AND recipient_id = $2 AND deleted_at IS NULL AND (NOT $3 OR read_at IS NULL)"
        let rows = try await services.database.query(
            """
            SELECT id, kind, title, body, appointment_id, created_at, read_at FROM notify.notifications
            WHERE \(filter) ORDER BY created_at DESC, id LIMIT $4 OFFSET $5
            """, [caller.tenantId, caller.id, unreadOnly, limit, offset])
        let total = try await services.database.query(
            "SELECT count(*) FROM notify.notifications WHERE \(filter)", [caller.tenantId, caller.id, unreadOnly])
        let items = try rows.map { row in
            NotificationView(
                id: try row.decode(UUID.self, 0), kind: try row.decode(String.self, 1), title: try row.decode(String.self, 2),
                body: try row.decode(String.self, 3), appointmentId: try row.decode(UUID?.self, 4),
                createdAt: try row.decode(Date.self, 5), readAt: try row.decode(Date?.self, 6))
        }
        return JSONBody.response(
            Page(items: items, limit: limit, offset: offset, total: try total[0].decode(Int.self, 0), unread: try await unread(caller)))
    }

    func unread(_ caller: AuthenticatedUser) async throws -> Int {
        try await services.database.query(
            """
            SELECT count(*) FROM notify.notifications
            WHERE tenant_id = $1 AND recipient_id = $2 AND read_at IS NULL AND deleted_at IS NULL
            """, [caller.tenantId, caller.id])[0].decode(Int.self, 0)
    }
}
