import Contracts
import Foundation
import Postgres

/// What the webhook worker reads and writes: which endpoints hear of an event, each endpoint's
/// address and secret, and each attempt in the delivery log.
struct WebhookStore: Sendable {
    let pool: PostgresPool

    /// An endpoint as a delivery needs it.
    struct Target: Sendable {
        var url: String
        var secret: String
        var isActive: Bool
        /// The delivery was already made (a redelivered message): nothing to send.
        var isDelivered: Bool
    }

    /// An endpoint as the fan-out sees it.
    struct Subscriber: Sendable {
        var id: UUID
        var tenant: UUID
        var eventTypes: Set<String>
    }

    /// The active endpoints of `tenants`, in one query.
    func activeEndpoints(tenants: Set<UUID>) async throws -> [Subscriber] {
        try await pool.query(
            """
            SELECT id, tenant_id, array_to_json(event_types) AS event_types FROM webhooks.endpoints
            WHERE tenant_id = ANY ($1::uuid[]) AND status = 'active' ORDER BY id
            """, [Array(tenants)]
        ).map { row in
            Subscriber(
                id: try row.decode(UUID.self, 0), tenant: try row.decode(UUID.self, 1),
                eventTypes: Set(try row.decodeJSON([String].self, "event_types")))
        }
    }

    /// A `pending` line in an endpoint's log for one event.
    struct Pending: Sendable {
        var endpoint: UUID
        var webhookId: String
        var eventType: String
        var appointmentId: UUID?
    }

    /// Writes the lines in one statement; a line already there (the event fanned out again) stays as it is.
    func logPending(_ lines: [Pending]) async throws {
        guard !lines.isEmpty else { return }
        try await pool.query(
            """
            INSERT INTO webhooks.deliveries (endpoint_id, webhook_id, event_type, appointment_id)
            SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::uuid[])
            ON CONFLICT (endpoint_id, webhook_id) DO NOTHING
            """, [lines.map(\.endpoint), lines.map(\.webhookId), lines.map(\.eventType), lines.map(\.appointmentId)])
    }

    func target(endpoint: UUID, webhookId: String) async throws -> Target? {
        guard
            let row = try await pool.query(
                """
                SELECT e.url, e.secret, e.status = 'active', coalesce(d.status = 'delivered', false)
                FROM webhooks.endpoints e
                LEFT JOIN webhooks.deliveries d ON d.endpoint_id = e.id AND d.webhook_id = $2
                WHERE e.id = $1
                """, [endpoint, webhookId]
            ).first
        else { return nil }
        return Target(
            url: try row.decode(String.self, 0), secret: try row.decode(String.self, 1), isActive: try row.decode(Bool.self, 2),
            isDelivered: try row.decode(Bool.self, 3))
    }

    /// One attempt's line in the log: `status` is `delivered`, `retrying` or `failed`.
    struct Attempt: Sendable {
        var endpoint: UUID
        var request: WebhookDeliveryRequested
        var status: String
        var statusCode: Int?
        var error: String?
    }

    /// An endpoint's current run of failed attempts: since when, and how long so far (by the
    /// database's clock).
    struct FailureRun: Sendable {
        var since: Date
        var length: Duration
    }

    /// Logs an attempt. A delivery ends the endpoint's run of failures; a failure worth retrying
    /// starts one if none is running. Returns the run (nil when the endpoint is not failing).
    @discardableResult
    func record(_ attempt: Attempt) async throws -> FailureRun? {
        let failing: String =
            switch attempt.status {
            case "delivered": "NULL"
            case "retrying": "coalesce(failing_since, now())"
            default: "failing_since"  // a refusal of one delivery says nothing about the endpoint
            }
        let row = try await pool.query(
            """
            WITH logged AS (
                INSERT INTO webhooks.deliveries AS d (
                    endpoint_id, webhook_id, event_type, appointment_id, status, attempts, last_status_code, last_error,
                    last_attempt_at, delivered_at)
                VALUES ($1, $2, $3, $4, $5, 1, $6, $7, now(), CASE WHEN $5 = 'delivered' THEN now() END)
                ON CONFLICT (endpoint_id, webhook_id) DO UPDATE SET
                    status = excluded.status, attempts = d.attempts + 1, last_status_code = excluded.last_status_code,
                    last_error = excluded.last_error, last_attempt_at = excluded.last_attempt_at,
                    delivered_at = coalesce(d.delivered_at, excluded.delivered_at)
            )
            UPDATE webhooks.endpoints SET failing_since = \(failing) WHERE id = $1
            RETURNING failing_since, extract(epoch FROM now() - failing_since)::float8
            """,
            [
                attempt.endpoint, attempt.request.webhookId, attempt.request.eventType, attempt.request.appointmentId, attempt.status,
                attempt.statusCode, attempt.error.map { String($0.prefix(500)) },
            ]
        ).first
        guard let row, let since = try row.decode(Date?.self, 0) else { return nil }
        return FailureRun(since: since, length: .seconds(max(0, try row.decode(Double.self, 1))))
    }

    /// Marks the endpoint disabled; false when it was disabled already.
    func disable(endpoint: UUID, reason: String) async throws -> Bool {
        let flipped = try await pool.query(
            """
            UPDATE webhooks.endpoints SET status = 'disabled', disabled_at = now(), disabled_reason = $2
            WHERE id = $1 AND status = 'active' RETURNING id
            """, [endpoint, reason])
        return !flipped.isEmpty
    }

    /// Who is told that an endpoint was disabled: the tenant's admins.
    struct Admin: Sendable {
        var id: UUID
        var email: String
        var name: String
        var clinic: String
    }

    func admins(ofEndpoint endpoint: UUID) async throws -> (tenant: UUID, url: String, admins: [Admin])? {
        let rows = try await pool.query(
            """
            SELECT e.tenant_id, e.url, u.id, u.email, u.display_name, t.name
            FROM webhooks.endpoints e
            JOIN identity.tenants t ON t.id = e.tenant_id
            LEFT JOIN identity.users u ON u.tenant_id = e.tenant_id AND u.role = 'admin'
            WHERE e.id = $1 ORDER BY u.created_at, u.id
            """, [endpoint])
        guard let first = rows.first else { return nil }
        let admins = try rows.filter { !$0.isNull(2) }.map { row in
            Admin(
                id: try row.decode(UUID.self, 2), email: try row.decode(String.self, 3), name: try row.decode(String.self, 4),
                clinic: try row.decode(String.self, 5))
        }
        return (try first.decode(UUID.self, 0), try first.decode(String.self, 1), admins)
    }
}
