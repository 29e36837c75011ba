import Foundation
import Postgres

/// Where a POST with an `Idempotency-Key` stands.
public enum IdempotencyClaim: Sendable, Equatable {
    /// The key is new: the caller runs the request and then `complete`s or `release`s it.
    case claimed
    /// The key was used with another request.
    case mismatch
    /// The first request with this key is still running.
    case inProgress
    /// The first request's answer, to give again.
    case answered(status: Int, body: String)
}

/// The answers to POSTs sent with an `Idempotency-Key` (`identity.idempotency_keys`), per signed-in
/// principal. Answers holding secrets (tokens) are never stored: auth routes are not recorded.
public protocol IdempotencyStore: Sendable {
    func claim(tenant: UUID, principal: String, key: String, requestHash: String) async throws -> IdempotencyClaim
    func complete(tenant: UUID, principal: String, key: String, status: Int, body: String) async throws
    /// Forgets a claim whose request failed (5xx), so the client may try again with the key.
    func release(tenant: UUID, principal: String, key: String) async throws
}

public struct PostgresIdempotencyStore: IdempotencyStore {
    let pool: PostgresPool

    public init(pool: PostgresPool) {
        self.pool = pool
    }

    public func claim(tenant: UUID, principal: String, key: String, requestHash: String) async throws -> IdempotencyClaim {
        let inserted = try await pool.query(
            """
            INSERT INTO identity.idempotency_keys (tenant_id, principal, key, request_hash) VALUES ($1, $2, $3, $4)
            ON CONFLICT DO NOTHING
            """, [tenant, principal, key, requestHash])
        if inserted.affectedRows == 1 { return .claimed }
        let rows = try await pool.query(
            """
            SELECT request_hash, status_code, response_body FROM identity.idempotency_keys
            WHERE tenant_id = $1 AND principal = $2 AND key = $3
            """, [tenant, principal, key])
        // Released between our insert and this read: the client may simply try again.
        guard let row = rows.first else { return .inProgress }
        guard try row.decode(String.self, "request_hash") == requestHash else { return .mismatch }
        guard let status = try row.decode(Int?.self, "status_code") else { return .inProgress }
        return .answered(status: status, body: try row.decode(String?.self, "response_body") ?? "")
    }

    public func complete(tenant: UUID, principal: String, key: String, status: Int, body: String) async throws {
        try await pool.query(
            """
            UPDATE identity.idempotency_keys SET status_code = $4, response_body = $5
            WHERE tenant_id = $1 AND principal = $2 AND key = $3
            """, [tenant, principal, key, status, body])
    }

    public func release(tenant: UUID, principal: String, key: String) async throws {
        try await pool.query(
            "DELETE FROM identity.idempotency_keys WHERE tenant_id = $1 AND principal = $2 AND key = $3", [tenant, principal, key])
    }
}
