import Contracts
import Foundation
import Postgres

/// A registered endpoint as its tenant's admins see it (never with its secret).
public struct WebhookEndpoint: Codable, Sendable, Equatable {
    public var id: UUID
    public var url: String
    public var eventTypes: [String]
    /// `active` or `disabled`.
    public var status: String
    /// When the current run of failed attempts began (nil while deliveries succeed).
    public var failingSince: Date?
    public var disabledAt: Date?
    public var disabledReason: String?
    public var createdAt: Date

    public init(
        id: UUID, url: String, eventTypes: [String], status: String, failingSince: Date? = nil, disabledAt: Date? = nil,
        disabledReason: String? = nil, createdAt: Date
    ) {
        self.id = id
        self.url = url
        self.eventTypes = eventTypes
        self.status = status
        self.failingSince = failingSince
        self.disabledAt = disabledAt
        self.disabledReason = disabledReason
        self.createdAt = createdAt
    }
}

/// One line of an endpoint's delivery log.
public struct WebhookDeliveryRecord: Codable, Sendable, Equatable {
    public var webhookId: String
    public var eventType: String
    public var appointmentId: UUID?
    /// `pending`, `retrying`, `delivered` or `failed` (refused with a 4xx, or its endpoint disabled).
    public var status: String
    public var attempts: Int
    public var lastStatusCode: Int?
    public var lastError: String?
    public var lastAttemptAt: Date?
    public var deliveredAt: Date?
    public var createdAt: Date
}

public enum WebhookRegistryError: Error, Sendable, Equatable {
    case unknownEndpoint
    /// The tenant has `WebhookRules.maximumEndpointsPerTenant` already.
    case tooManyEndpoints
}

/// What a tenant may register.
public enum WebhookRules {
    public static let maximumEndpointsPerTenant = 20
    /// The event types an endpoint may subscribe to: every appointment event.
    public static let eventTypes = AppointmentEvent.payloadTypes.map { $0.messageType }
}

/// The endpoints of each tenant, as the API manages them.
public protocol WebhookRegistry: Sendable {
    func create(tenant: UUID, url: String, eventTypes: [String], secret: String, by user: UUID) async throws -> WebhookEndpoint
    func endpoints(tenant: UUID) async throws -> [WebhookEndpoint]
    /// The newest deliveries first. Throws `unknownEndpoint` for an endpoint of another tenant.
    func deliveries(endpoint: UUID, tenant: UUID, limit: Int) async throws -> [WebhookDeliveryRecord]
    /// Enabling clears the failure run, so a re-enabled endpoint gets its full grace period again.
    func setEnabled(_ enabled: Bool, endpoint: UUID, tenant: UUID, reason: String) async throws
}

public struct PostgresWebhookRegistry: WebhookRegistry {
    let pool: PostgresPool

    public init(pool: PostgresPool) { self.pool = pool }

    static let endpointColumns = """
        id, url, array_to_json(event_types)::text AS event_types, status, failing_since, disabled_at, disabled_reason, created_at
        """

    public func create(tenant: UUID, url: String, eventTypes: [String], secret: String, by user: UUID) async throws -> WebhookEndpoint {
        // The count and the insert in one statement under a lock of the tenant's row, so two
        // concurrent registrations cannot both pass the limit.
        let rows = try await pool.transaction { connection in
            _ = try await connection.query("SELECT 1 FROM identity.tenants WHERE id = $1 FOR UPDATE", [tenant])
            return try await connection.query(
                """
                INSERT INTO webhooks.endpoints (id, tenant_id, url, event_types, secret, created_by)
                SELECT $1, $2, $3, $4::text[], $5, $6
                WHERE (SELECT count(*) FROM webhooks.endpoints WHERE tenant_id = $2) < $7
                RETURNING \(Self.endpointColumns)
                """, [UUID(), tenant, url, eventTypes, secret, user, WebhookRules.maximumEndpointsPerTenant])
        }
        guard let row = rows.first else { throw WebhookRegistryError.tooManyEndpoints }
        return try Self.endpoint(row)
    }

    public func endpoints(tenant: UUID) async throws -> [WebhookEndpoint] {
        try await pool.query(
            "SELECT \(Self.endpointColumns) FROM webhooks.endpoints WHERE tenant_id = $1 ORDER BY created_at, id", [tenant]
        ).map(Self.endpoint)
    }

    public func deliveries(endpoint: UUID, tenant: UUID, limit: Int) async throws -> [WebhookDeliveryRecord] {
        let owned = try await pool.query("SELECT 1 FROM webhooks.endpoints WHERE id = $1 AND tenant_id = $2", [endpoint, tenant])
        guard !owned.isEmpty else { throw WebhookRegistryError.unknownEndpoint }
        return try await pool.query(
            """
            SELECT webhook_id, event_type, appointment_id, status, attempts, last_status_code, last_error, last_attempt_at,
                   delivered_at, created_at
            FROM webhooks.deliveries WHERE endpoint_id = $1 ORDER BY created_at DESC, webhook_id LIMIT $2
            """, [endpoint, limit]
        ).map { row in
            WebhookDeliveryRecord(
                webhookId: try row.decode(String.self, 0), eventType: try row.decode(String.self, 1),
                appointmentId: try row.decode(UUID?.self, 2), status: try row.decode(String.self, 3), attempts: try row.decode(Int.self, 4),
                lastStatusCode: try row.decode(Int?.self, 5), lastError: try row.decode(String?.self, 6),
                lastAttemptAt: try row.decode(Date?.self, 7), deliveredAt: try row.decode(Date?.self, 8),
                createdAt: try row.decode(Date.self, 9))
        }
    }

    public func setEnabled(_ enabled: Bool, endpoint: UUID, tenant: UUID, reason: String) async throws {
        let rows = try await pool.query(
            enabled
                ? """
                UPDATE webhooks.endpoints SET status = 'active', failing_since = NULL, disabled_at = NULL, disabled_reason = NULL
                WHERE id = $1 AND tenant_id = $2 RETURNING id
                """
                : """
                UPDATE webhooks.endpoints
                SET status = 'disabled', disabled_at = coalesce(disabled_at, now()), disabled_reason = coalesce(disabled_reason, $3)
                WHERE id = $1 AND tenant_id = $2 RETURNING id
                """, enabled ? [endpoint, tenant] : [endpoint, tenant, reason])
        guard !rows.isEmpty else { throw WebhookRegistryError.unknownEndpoint }
    }

    static func endpoint(_ row: PostgresRow) throws -> WebhookEndpoint {
        WebhookEndpoint(
            id: try row.decode(UUID.self, 0), url: try row.decode(String.self, 1), eventTypes: try row.decodeJSON([String].self, "event_types"),
            status: try row.decode(String.self, 3),
            failingSince: try row.decode(Date?.self, 4), disabledAt: try row.decode(Date?.self, 5),
            disabledReason: try row.decode(String?.self, 6), createdAt: try row.decode(Date.self, 7))
    }
}
