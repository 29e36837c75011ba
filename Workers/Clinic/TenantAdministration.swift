import Contracts
import Foundation
import Postgres

/// A clinic as an operator sees it.
public struct TenantSummary: Codable, Sendable, Equatable {
    public var tenant: Tenant
    public var users: Int
    public var doctors: Int

    public init(tenant: Tenant, users: Int, doctors: Int) {
        self.tenant = tenant
        self.users = users
        self.doctors = doctors
    }
}

/// A new account whose owner sets the password through a one-time link.
public struct InvitedAccount: Sendable, Equatable {
    public var user: User
    /// Use once, before `expiresAt`: the set-password link's token.
    public var setPasswordToken: String
    public var expiresAt: Date

    public init(user: User, setPasswordToken: String, expiresAt: Date) {
        self.user = user
        self.setPasswordToken = setPasswordToken
        self.expiresAt = expiresAt
    }
}

/// Clinics (tenants) and platform operators: what `fleet tenants …` and the platform API do,
/// through this one library.
public protocol TenantAdministration: Sendable {
    func tenants() async throws -> [TenantSummary]
    /// A new clinic and its first admin, who sets a password through a one-time link.
    func createClinic(name: String, timeZone: String, adminEmail: String, adminName: String, linkLifetime: TimeInterval, by actor: UUID?)
        async throws -> (tenant: Tenant, admin: InvitedAccount)
    /// Disables (or enables again) a clinic. Disabling ends every open session of its users and
    /// returns them (the ingress refuses their access tokens at once). The data stays.
    func setDisabled(_ tenant: UUID, _ disabled: Bool, by actor: UUID?) async throws -> [UUID]
    /// A platform operator (in the platform's tenant), who sets a password through a one-time link.
    func createPlatformOperator(email: String, name: String, linkLifetime: TimeInterval) async throws -> InvitedAccount
}

public struct PostgresTenantAdministration: TenantAdministration {
    let pool: PostgresPool

    public init(pool: PostgresPool) {
        self.pool = pool
    }

    /// Stored for accounts whose owner has not set a password yet: no bcrypt hash, so no
    /// password matches it.
    static let noPasswordYet = "!unset"

    public func tenants() async throws -> [TenantSummary] {
        try await pool.query(
            """
            SELECT \(PostgresIdentityStore.tenantColumns),
                   (SELECT count(*) FROM identity.users u WHERE u.tenant_id = t.id) AS users,
                   (SELECT count(*) FROM directory.doctors d WHERE d.tenant_id = t.id) AS doctors
            FROM identity.tenants t WHERE t.id <> $1 ORDER BY t.name, t.id
            """, [Tenants.platformTenant]
        ).map { row in
            TenantSummary(
                tenant: try PostgresIdentityStore.tenant(from: row), users: try row.decode(Int.self, "users"),
                doctors: try row.decode(Int.self, "doctors"))
        }
    }

    public func createClinic(
        name: String, timeZone: String, adminEmail: String, adminName: String, linkLifetime: TimeInterval, by actor: UUID?
    ) async throws -> (tenant: Tenant, admin: InvitedAccount) {
        let tenant = Tenant(id: .random(), name: name, timeZone: timeZone)
        let account = NewAccount(
            tenantId: tenant.id, email: adminEmail, passwordHash: Self.noPasswordYet, role: .admin, displayName: adminName,
            emailVerified: true)
        let token = OpaqueToken.generate()
        let expiresAt = Date().addingTimeInterval(linkLifetime)
        do {
            try await pool.transaction { connection in
                try await connection.query(
                    "INSERT INTO identity.tenants (id, name, time_zone) VALUES ($1, $2, $3)", [tenant.id, tenant.name, tenant.timeZone])
                try await PostgresIdentityStore.insert(account, on: connection)
                try await Self.insertToken(token, for: account, expiresAt: expiresAt, on: connection)
                try await PostgresIdentityStore.insert(
                    AuditEntry("tenant_created", tenant: tenant.id, user: actor, details: ["admin": account.id.canonical]), on: connection)
            }
        } catch let error as PostgresError where error.isUniqueViolation {
            throw ClinicStoreError.emailTaken
        }
        return (tenant, InvitedAccount(user: account.user, setPasswordToken: token, expiresAt: expiresAt))
    }

    static func insertToken(_ token: String, for account: NewAccount, expiresAt: Date, on connection: PostgresConnection) async throws {
        try await connection.query(
            """
            INSERT INTO identity.email_tokens (token_hash, tenant_id, user_id, purpose, expires_at)
            VALUES ($1, $2, $3, 'set_password', $4)
            """, [OpaqueToken.hash(token), account.tenantId, account.id, expiresAt])
    }

    public func setDisabled(_ tenant: UUID, _ disabled: Bool, by actor: UUID?) async throws -> [UUID] {
        guard tenant != Tenants.platformTenant else { throw ClinicStoreError.unknownTenant }
        return try await pool.transaction { connection -> [UUID] in
            let changed = try await connection.query(
                "UPDATE identity.tenants SET disabled_at = CASE WHEN $2 THEN coalesce(disabled_at, now()) END WHERE id = $1 RETURNING id",
                [tenant, disabled])
            guard !changed.isEmpty else { throw ClinicStoreError.unknownTenant }
            try await PostgresIdentityStore.insert(
                AuditEntry(disabled ? "tenant_disabled" : "tenant_enabled", tenant: tenant, user: actor), on: connection)
            guard disabled else { return [] }
            let ended = try await connection.query(
                """
                UPDATE identity.sessions SET revoked_at = now(), revoked_reason = 'tenant_disabled'
                WHERE tenant_id = $1 AND revoked_at IS NULL RETURNING id
                """, [tenant])
            try await connection.query(
                "UPDATE identity.refresh_tokens SET revoked_at = now() WHERE tenant_id = $1 AND revoked_at IS NULL", [tenant])
            return try ended.map { try $0.decode(UUID.self, "id") }
        }
    }

    public func createPlatformOperator(email: String, name: String, linkLifetime: TimeInterval) async throws -> InvitedAccount {
        let account = NewAccount(
            tenantId: Tenants.platformTenant, email: email, passwordHash: Self.noPasswordYet, role: .platform, displayName: name,
            emailVerified: true)
        let token = OpaqueToken.generate()
        let expiresAt = Date().addingTimeInterval(linkLifetime)
        do {
            try await pool.transaction { connection in
                try await PostgresIdentityStore.insert(account, on: connection)
                try await Self.insertToken(token, for: account, expiresAt: expiresAt, on: connection)
                try await PostgresIdentityStore.insert(
                    AuditEntry("platform_operator_created", tenant: Tenants.platformTenant, user: nil, details: ["operator": account.id.canonical]),
                    on: connection)
            }
        } catch let error as PostgresError where error.isUniqueViolation {
            throw ClinicStoreError.emailTaken
        }
        return InvitedAccount(user: account.user, setPasswordToken: token, expiresAt: expiresAt)
    }
}
