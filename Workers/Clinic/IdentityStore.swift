import Contracts
import Crypto
import Foundation
import Postgres

/// Tenants, accounts, one-time email links, failed sign-ins and the audit log: the `identity`
/// schema, owned by the ingress (and `fleet`, which makes tenants and their first admin).
public protocol IdentityStore: Sendable {
    /// Creates the tenant unless one with this id exists; returns it as stored.
    func createTenant(_ tenant: Tenant) async throws -> Tenant
    func tenant(_ id: UUID) async throws -> Tenant?
    func user(_ id: UUID, tenant: UUID) async throws -> User?
    func credentials(email: String, tenant: UUID) async throws -> Credentials?
    func credentials(user: UUID, tenant: UUID) async throws -> Credentials?
    /// Creates the account (and a patient's directory record) and audits it. Throws
    /// `ClinicStoreError.emailTaken` or `.unknownTenant`.
    func createAccount(_ account: NewAccount, audit: AuditEntry) async throws -> User
    /// Replaces the password hash and audits it.
    func setPassword(user: UUID, tenant: UUID, hash: String, audit: AuditEntry) async throws
    /// A new one-time link token for the user (only its hash is kept).
    func issueEmailToken(user: UUID, tenant: UUID, purpose: EmailTokenPurpose, lifetime: TimeInterval) async throws -> String
    /// Uses a token once: the user it was for, its address now verified; nil for an unknown,
    /// used or expired token.
    func redeemEmailToken(_ token: String, purpose: EmailTokenPurpose) async throws -> User?
    func audit(_ entry: AuditEntry) async throws
    /// Failed sign-ins within `window` seconds for the account (`account:<email>`) and the address.
    func recentLoginFailures(tenant: UUID, account: String, address: String, window: TimeInterval) async throws
        -> (account: Int, address: Int)
    func recordLoginFailure(tenant: UUID, account: String, address: String, audit: AuditEntry) async throws
    func clearLoginFailures(tenant: UUID, account: String) async throws
}

/// The `identity` schema in PostgreSQL.
public struct PostgresIdentityStore: IdentityStore {
    let pool: PostgresPool

    public init(pool: PostgresPool) {
        self.pool = pool
    }

    public func createTenant(_ tenant: Tenant) async throws -> Tenant {
        try await pool.query(
            "INSERT INTO identity.tenants (id, name, time_zone) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
            [tenant.id, tenant.name, tenant.timeZone])
        guard let stored = try await self.tenant(tenant.id) else { throw ClinicStoreError.unknownTenant }
        return stored
    }

    static let tenantColumns = "t.id, t.name, t.time_zone, t.disabled_at, t.created_at"

    static func tenant(from row: PostgresRow) throws -> Tenant {
        Tenant(
            id: try row.decode(UUID.self, "id"), name: try row.decode(String.self, "name"), timeZone: try row.decode(String.self, "time_zone"),
            disabledAt: try row.decode(Date?.self, "disabled_at"), createdAt: try row.decode(Date?.self, "created_at"))
    }

    public func tenant(_ id: UUID) async throws -> Tenant? {
        try await pool.query("SELECT \(Self.tenantColumns) FROM identity.tenants t WHERE t.id = $1", [id]).first.map(Self.tenant(from:))
    }

    static let userColumns = "u.id, u.tenant_id, u.email, u.role, u.display_name, u.password_hash, u.email_verified_at IS NOT NULL AS verified"

    static func credentials(from row: PostgresRow) throws -> Credentials {
        let roleText = try row.decode(String.self, "role")
        guard let role = Role(rawValue: roleText), role != .system else {
            // `system` is a program, never an account: a row saying otherwise is corrupt.
            throw PostgresError(kind: .decoding, message: "identity.users.role holds an unknown role '\(roleText.prefix(20))'")
        }
        return Credentials(
            user: User(
                id: try row.decode(UUID.self, "id"), tenantId: try row.decode(UUID.self, "tenant_id"),
                email: try row.decode(String.self, "email"), role: role, displayName: try row.decode(String.self, "display_name")),
            passwordHash: try row.decode(String.self, "password_hash"), emailVerified: try row.decode(Bool.self, "verified"))
    }

    public func user(_ id: UUID, tenant: UUID) async throws -> User? {
        try await credentials(user: id, tenant: tenant)?.user
    }

    public func credentials(email: String, tenant: UUID) async throws -> Credentials? {
        try await pool.query(
            "SELECT \(Self.userColumns) FROM identity.users u WHERE u.tenant_id = $1 AND u.email = $2", [tenant, email]
        ).first.map(Self.credentials(from:))
    }

    public func credentials(user: UUID, tenant: UUID) async throws -> Credentials? {
        try await pool.query(
            "SELECT \(Self.userColumns) FROM identity.users u WHERE u.id = $1 AND u.tenant_id = $2", [user, tenant]
        ).first.map(Self.credentials(from:))
    }

    public func createAccount(_ account: NewAccount, audit: AuditEntry) async throws -> User {
        do {
            return try await pool.transaction { connection in
                try await Self.insert(account, on: connection)
                try await Self.insert(audit, on: connection)
                return account.user
            }
        } catch let error as PostgresError where error.isUniqueViolation {
            throw ClinicStoreError.emailTaken
        } catch let error as PostgresError where error.isForeignKeyViolation {
            throw ClinicStoreError.unknownTenant
        }
    }

    /// Inserts the account (and a patient's directory record) in the caller's transaction.
    static func insert(_ account: NewAccount, on connection: PostgresConnection) async throws {
        try await connection.query(
            """
            INSERT INTO identity.users (id, tenant_id, email, password_hash, role, display_name, email_verified_at)
            VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $7 THEN now() END)
            """,
            [account.id, account.tenantId, account.email, account.passwordHash, account.role.rawValue, account.displayName,
             account.emailVerified])
        if account.role == .patient {
            try await connection.query(
                "INSERT INTO directory.patients (id, tenant_id, display_name) VALUES ($1, $2, $3)",
                [account.id, account.tenantId, account.displayName])
        }
    }

    public func setPassword(user: UUID, tenant: UUID, hash: String, audit: AuditEntry) async throws {
        try await pool.transaction { connection in
            try await connection.query(
                "UPDATE identity.users SET password_hash = $3, password_changed_at = now() WHERE id = $1 AND tenant_id = $2",
                [user, tenant, hash])
            try await Self.insert(audit, on: connection)
        }
    }

    public func issueEmailToken(user: UUID, tenant: UUID, purpose: EmailTokenPurpose, lifetime: TimeInterval) async throws
        -> String
    {
        let token = OpaqueToken.generate()
        try await pool.query(
            """
            INSERT INTO identity.email_tokens (token_hash, tenant_id, user_id, purpose, expires_at)
            VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))
            """, [OpaqueToken.hash(token), tenant, user, purpose.rawValue, lifetime])
        return token
    }

    public func redeemEmailToken(_ token: String, purpose: EmailTokenPurpose) async throws -> User? {
        try await pool.transaction { connection -> User? in
            let used = try await connection.query(
                """
                UPDATE identity.email_tokens SET used_at = now()
                WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > now()
                RETURNING user_id, tenant_id
                """, [OpaqueToken.hash(token), purpose.rawValue])
            guard let row = used.first else { return nil }
            let rows = try await connection.query(
                """
                UPDATE identity.users u SET email_verified_at = coalesce(u.email_verified_at, now())
                WHERE u.id = $1 AND u.tenant_id = $2 RETURNING \(Self.userColumns)
                """, [try row.decode(UUID.self, "user_id"), try row.decode(UUID.self, "tenant_id")])
            return try rows.first.map(Self.credentials(from:))?.user
        }
    }

    public func audit(_ entry: AuditEntry) async throws {
        try await pool.withConnection { try await Self.insert(entry, on: $0) }
    }

    static func insert(_ entry: AuditEntry, on connection: PostgresConnection) async throws {
        try await connection.query(
            "INSERT INTO identity.audit_log (tenant_id, user_id, action, details) VALUES ($1, $2, $3, $4::jsonb)",
            [entry.tenantId, entry.userId, entry.action, PostgresJSON(entry.details)])
    }

    public func recentLoginFailures(tenant: UUID, account: String, address: String, window: TimeInterval) async throws
        -> (account: Int, address: Int)
    {
        let rows = try await pool.query(
            """
            SELECT count(*) FILTER (WHERE subject = $2) AS account, count(*) FILTER (WHERE subject = $3) AS address
            FROM identity.login_failures
            WHERE tenant_id = $1 AND subject IN ($2, $3) AND failed_at > now() - make_interval(secs => $4)
            """, [tenant, account, address, window])
        guard let row = rows.first else { return (0, 0) }
        return (try row.decode(Int.self, "account"), try row.decode(Int.self, "address"))
    }

    public func recordLoginFailure(tenant: UUID, account: String, address: String, audit: AuditEntry) async throws {
        try await pool.transaction { connection in
            try await connection.query(
                "INSERT INTO identity.login_failures (tenant_id, subject) VALUES ($1, $2), ($1, $3)", [tenant, account, address])
            try await Self.insert(audit, on: connection)
        }
    }

    public func clearLoginFailures(tenant: UUID, account: String) async throws {
        try await pool.query("DELETE FROM identity.login_failures WHERE tenant_id = $1 AND subject = $2", [tenant, account])
    }
}

/// Opaque secrets (refresh tokens, email link tokens): 256 random bits, base64url; only their
/// SHA-256 is ever stored.
public enum OpaqueToken {
    public static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    public static func hash(_ token: String) -> String {
        SHA256.hash(data: Data(token.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}
