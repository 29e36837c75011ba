import Contracts
import Foundation
import Postgres

/// What became of a refresh token presented to be rotated.
public enum RefreshOutcome: Sendable, Equatable {
    /// Rotated: the old token is spent, the new one (whose hash the caller chose) is stored.
    case rotated(session: UUID, user: User)
    /// A token that was already rotated came back: stolen or replayed. Its session is now revoked.
    case reused(session: UUID)
    case expired
    /// The session was ended (logout, password change, revoked by its user).
    case revoked
    case unknown
}

/// Sessions and their refresh tokens (`identity.sessions`, `identity.refresh_tokens`).
public protocol SessionStore: Sendable {
    /// A new session for the user with its first refresh token (given as its hash); audited.
    func start(
        user: User, device: String, address: String, refreshTokenHash: String, lifetime: TimeInterval, audit: AuditEntry
    ) async throws -> UUID
    /// Rotates a refresh token (given as its hash) to a new one.
    func rotate(refreshTokenHash: String, to newHash: String, lifetime: TimeInterval) async throws -> RefreshOutcome
    /// The session a refresh token belongs to, with its user.
    func session(ofRefreshTokenHash hash: String) async throws -> (session: UUID, user: UUID)?
    /// The user's sessions still open, newest first.
    func openSessions(of user: UUID, tenant: UUID) async throws -> [SessionRecord]
    /// Revokes one of the user's sessions; false when it is not theirs or already ended.
    func revoke(session: UUID, of user: UUID, tenant: UUID, reason: String) async throws -> Bool
    /// Revokes every open session of the user but `keeping`; returns those revoked.
    func revokeAll(of user: UUID, tenant: UUID, keeping: UUID?, reason: String) async throws -> [UUID]
    /// Sessions revoked at or after `since`, with when: what every ingress copy must refuse.
    func revoked(since: Date) async throws -> [(session: UUID, at: Date)]
    /// Records when sessions were last used (flushed in batches, off the request path).
    func touch(_ lastUsed: [UUID: Date]) async throws
}

public struct PostgresSessionStore: SessionStore {
    let pool: PostgresPool

    public init(pool: PostgresPool) {
        self.pool = pool
    }

    public func start(
        user: User, device: String, address: String, refreshTokenHash: String, lifetime: TimeInterval, audit: AuditEntry
    ) async throws -> UUID {
        let session = UUID()
        try await pool.transaction { connection in
            try await connection.query(
                "INSERT INTO identity.sessions (id, tenant_id, user_id, device, address) VALUES ($1, $2, $3, $4, $5)",
                [session, user.tenantId, user.id, device, address])
            try await Self.insertRefreshToken(
                hash: refreshTokenHash, session: session, user: user.id, tenant: user.tenantId, lifetime: lifetime, on: connection)
            try await PostgresIdentityStore.insert(audit, on: connection)
        }
        return session
    }

    static func insertRefreshToken(
        hash: String, session: UUID, user: UUID, tenant: UUID, lifetime: TimeInterval, on connection: PostgresConnection
    ) async throws {
        try await connection.query(
            """
            INSERT INTO identity.refresh_tokens (id, tenant_id, user_id, family_id, token_hash, expires_at)
            VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6))
            """, [UUID(), tenant, user, session, hash, lifetime])
    }

    public func rotate(refreshTokenHash: String, to newHash: String, lifetime: TimeInterval) async throws -> RefreshOutcome {
        try await pool.transaction { connection -> RefreshOutcome in
            let rows = try await connection.query(
                """
                SELECT t.id AS token_id, t.family_id, t.revoked_at IS NOT NULL AS spent, t.expires_at < now() AS expired,
                       s.revoked_at IS NOT NULL AS ended, \(PostgresIdentityStore.userColumns)
                FROM identity.refresh_tokens t
                JOIN identity.sessions s ON s.id = t.family_id
                JOIN identity.users u ON u.id = t.user_id
                WHERE t.token_hash = $1 FOR UPDATE OF t, s
                """, [refreshTokenHash])
            guard let row = rows.first else { return .unknown }
            let session = try row.decode(UUID.self, "family_id")
            let user = try PostgresIdentityStore.credentials(from: row).user
            if try row.decode(Bool.self, "ended") { return .revoked }
            if try row.decode(Bool.self, "spent") {
                // A rotated token came back: whoever holds the family now may be a thief. End it.
                try await Self.end(session: session, reason: "refresh_token_reused", on: connection)
                try await PostgresIdentityStore.insert(
                    AuditEntry("refresh_token_reused", tenant: user.tenantId, user: user.id, details: ["session": "\(session)"]),
                    on: connection)
                return .reused(session: session)
            }
            if try row.decode(Bool.self, "expired") { return .expired }
            try await connection.query(
                "UPDATE identity.refresh_tokens SET revoked_at = now() WHERE id = $1", [try row.decode(UUID.self, "token_id")])
            try await Self.insertRefreshToken(
                hash: newHash, session: session, user: user.id, tenant: user.tenantId, lifetime: lifetime, on: connection)
            try await connection.query("UPDATE identity.sessions SET last_used_at = now() WHERE id = $1", [session])
            return .rotated(session: session, user: user)
        }
    }

    static func end(session: UUID, reason: String, on connection: PostgresConnection) async throws {
        try await connection.query(
            "UPDATE identity.sessions SET revoked_at = now(), revoked_reason = $2 WHERE id = $1 AND revoked_at IS NULL",
            [session, reason])
        try await connection.query(
            "UPDATE identity.refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL", [session])
    }

    public func session(ofRefreshTokenHash hash: String) async throws -> (session: UUID, user: UUID)? {
        try await pool.query("SELECT family_id, user_id FROM identity.refresh_tokens WHERE token_hash = $1", [hash]).first.map {
            (try $0.decode(UUID.self, "family_id"), try $0.decode(UUID.self, "user_id"))
        }
    }

    public func openSessions(of user: UUID, tenant: UUID) async throws -> [SessionRecord] {
        try await pool.query(
            """
            SELECT id, user_id, tenant_id, device, address, created_at, last_used_at, revoked_at FROM identity.sessions
            WHERE user_id = $1 AND tenant_id = $2 AND revoked_at IS NULL ORDER BY created_at DESC, id
            """, [user, tenant]
        ).map { row in
            SessionRecord(
                id: try row.decode(UUID.self, "id"), userId: try row.decode(UUID.self, "user_id"),
                tenantId: try row.decode(UUID.self, "tenant_id"), device: try row.decode(String.self, "device"),
                address: try row.decode(String.self, "address"), createdAt: try row.decode(Date.self, "created_at"),
                lastUsedAt: try row.decode(Date.self, "last_used_at"), revokedAt: try row.decode(Date?.self, "revoked_at"))
        }
    }

    public func revoke(session: UUID, of user: UUID, tenant: UUID, reason: String) async throws -> Bool {
        try await pool.transaction { connection -> Bool in
            let owned = try await connection.query(
                "SELECT 1 FROM identity.sessions WHERE id = $1 AND user_id = $2 AND tenant_id = $3 AND revoked_at IS NULL FOR UPDATE",
                [session, user, tenant])
            guard !owned.isEmpty else { return false }
            try await Self.end(session: session, reason: reason, on: connection)
            try await PostgresIdentityStore.insert(
                AuditEntry("session_revoked", tenant: tenant, user: user, details: ["session": "\(session)", "reason": reason]),
                on: connection)
            return true
        }
    }

    public func revokeAll(of user: UUID, tenant: UUID, keeping: UUID?, reason: String) async throws -> [UUID] {
        try await pool.transaction { connection -> [UUID] in
            let rows = try await connection.query(
                """
                UPDATE identity.sessions SET revoked_at = now(), revoked_reason = $4
                WHERE user_id = $1 AND tenant_id = $2 AND revoked_at IS NULL AND id IS DISTINCT FROM $3 RETURNING id
                """, [user, tenant, keeping, reason])
            let ended = try rows.map { try $0.decode(UUID.self, "id") }
            try await connection.query(
                "UPDATE identity.refresh_tokens SET revoked_at = now() WHERE family_id = ANY($1::uuid[]) AND revoked_at IS NULL",
                [ended])
            return ended
        }
    }

    public func revoked(since: Date) async throws -> [(session: UUID, at: Date)] {
        try await pool.query(
            "SELECT id, revoked_at FROM identity.sessions WHERE revoked_at >= $1 ORDER BY revoked_at", [since]
        ).map { (try $0.decode(UUID.self, "id"), try $0.decode(Date.self, "revoked_at")) }
    }

    public func touch(_ lastUsed: [UUID: Date]) async throws {
        guard !lastUsed.isEmpty else { return }
        let sessions = Array(lastUsed.keys)
        try await pool.query(
            """
            UPDATE identity.sessions s SET last_used_at = greatest(s.last_used_at, u.at)
            FROM unnest($1::uuid[], $2::timestamptz[]) AS u(id, at) WHERE s.id = u.id
            """, [sessions, sessions.map { lastUsed[$0] ?? Date() }])
    }
}
