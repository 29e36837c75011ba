import Contracts
import Foundation
import Postgres

/// An in-app notification as its recipient sees it.
public struct InAppNotification: Codable, Sendable, Equatable {
    public var id: UUID
    public var kind: NotificationKind
    public var title: String
    public var body: String
    public var appointmentId: UUID?
    public var createdAt: Date
    public var readAt: Date?

    public init(
        id: UUID, kind: NotificationKind, title: String, body: String, appointmentId: UUID?, createdAt: Date, readAt: Date?
    ) {
        self.id = id
        self.kind = kind
        self.title = title
        self.body = body
        self.appointmentId = appointmentId
        self.createdAt = createdAt
        self.readAt = readAt
    }
}

/// A recipient of notifications.
public struct Recipient: Sendable, Hashable {
    public var user: UUID
    public var tenant: UUID

    public init(user: UUID, tenant: UUID) {
        self.user = user
        self.tenant = tenant
    }
}

/// A user's notification center: their own notifications and email preference (`notify`
/// schema). The ingress writes read/deleted flags and preferences here, the one place another
/// program writes into the notification worker's schema (see migration 0005).
public protocol NotificationInbox: Sendable {
    /// Newest first; `unreadOnly` filters.
    func notifications(of recipient: Recipient, unreadOnly: Bool, limit: Int, offset: Int) async throws
        -> (items: [InAppNotification], total: Int)
    func unreadCount(of recipient: Recipient) async throws -> Int
    /// False when there is no such notification of this recipient.
    func markRead(_ id: UUID, of recipient: Recipient) async throws -> Bool
    /// How many were marked.
    func markAllRead(of recipient: Recipient) async throws -> Int
    /// A flag, not a DELETE: a redelivered event must not bring the notification back.
    func delete(_ id: UUID, of recipient: Recipient) async throws -> Bool
    func emailEnabled(for recipient: Recipient) async throws -> Bool
    func setEmailEnabled(_ enabled: Bool, for recipient: Recipient) async throws
}

public struct PostgresNotificationInbox: NotificationInbox {
    let pool: PostgresPool

    public init(pool: PostgresPool) {
        self.pool = pool
    }

    public func notifications(of recipient: Recipient, unreadOnly: Bool, limit: Int, offset: Int) async throws
        -> (items: [InAppNotification], total: Int)
    {
        let filter = "tenant_id = $1 AND recipient_id = $2 AND deleted_at IS NULL AND (NOT $3 OR read_at IS NULL)"
        let rows = try await pool.query(
            """
            SELECT id, kind, title, body, appointment_id, created_at, read_at, count(*) OVER () AS total
            FROM notify.notifications WHERE \(filter) ORDER BY created_at DESC, id LIMIT $4 OFFSET $5
            """, [recipient.tenant, recipient.user, unreadOnly, limit, offset])
        let items = try rows.map { row in
            let kindText = try row.decode(String.self, "kind")
            guard let kind = NotificationKind(rawValue: kindText) else {
                throw PostgresError(kind: .decoding, message: "notify.notifications.kind holds '\(kindText.prefix(20))'")
            }
            return InAppNotification(
                id: try row.decode(UUID.self, "id"), kind: kind, title: try row.decode(String.self, "title"),
                body: try row.decode(String.self, "body"), appointmentId: try row.decode(UUID?.self, "appointment_id"),
                createdAt: try row.decode(Date.self, "created_at"), readAt: try row.decode(Date?.self, "read_at"))
        }
        if let first = rows.first { return (items, try first.decode(Int.self, "total")) }
        let total = try await pool.query(
            "SELECT count(*) AS total FROM notify.notifications WHERE \(filter)", [recipient.tenant, recipient.user, unreadOnly])
        return (items, try total.first?.decode(Int.self, "total") ?? 0)
    }

    public func unreadCount(of recipient: Recipient) async throws -> Int {
        try await pool.query(
            """
            SELECT count(*) AS unread FROM notify.notifications
            WHERE tenant_id = $1 AND recipient_id = $2 AND read_at IS NULL AND deleted_at IS NULL
            """, [recipient.tenant, recipient.user]
        ).first?.decode(Int.self, "unread") ?? 0
    }

    public func markRead(_ id: UUID, of recipient: Recipient) async throws -> Bool {
        try await !pool.query(
            """
            UPDATE notify.notifications SET read_at = coalesce(read_at, now())
            WHERE id = $1 AND tenant_id = $2 AND recipient_id = $3 AND deleted_at IS NULL RETURNING id
            """, [id, recipient.tenant, recipient.user]
        ).isEmpty
    }

    public func markAllRead(of recipient: Recipient) async throws -> Int {
        try await pool.query(
            """
            UPDATE notify.notifications SET read_at = now()
            WHERE tenant_id = $1 AND recipient_id = $2 AND read_at IS NULL AND deleted_at IS NULL
            """, [recipient.tenant, recipient.user]
        ).affectedRows
    }

    public func delete(_ id: UUID, of recipient: Recipient) async throws -> Bool {
        try await !pool.query(
            """
            UPDATE notify.notifications SET deleted_at = now()
            WHERE id = $1 AND tenant_id = $2 AND recipient_id = $3 AND deleted_at IS NULL RETURNING id
            """, [id, recipient.tenant, recipient.user]
        ).isEmpty
    }

    public func emailEnabled(for recipient: Recipient) async throws -> Bool {
        try await pool.query(
            "SELECT email_enabled FROM notify.preferences WHERE user_id = $1 AND tenant_id = $2", [recipient.user, recipient.tenant]
        ).first?.decode(Bool.self, "email_enabled") ?? true
    }

    public func setEmailEnabled(_ enabled: Bool, for recipient: Recipient) async throws {
        try await pool.query(
            """
            INSERT INTO notify.preferences (user_id, tenant_id, email_enabled) VALUES ($1, $2, $3)
            ON CONFLICT (user_id) DO UPDATE SET email_enabled = excluded.email_enabled, updated_at = now()
            """, [recipient.user, recipient.tenant, enabled])
    }
}
