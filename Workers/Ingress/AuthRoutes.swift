import Clinic
import Contracts
import Foundation
import Hummingbird
import Postgres

/// Register, login, refresh, logout, me, change password.
struct AuthRoutes {
    let services: IngressServices

    struct Registration: Decodable {
        var email: String
        var password: String
        var displayName: String
    }

    struct Credentials: Decodable {
        var email: String
        var password: String
    }

    struct RefreshRequest: Decodable {
        var refreshToken: String
    }

    struct PasswordChange: Decodable {
        var currentPassword: String
        var newPassword: String
    }

    struct Session: Encodable, Sendable {
        var accessToken: String
        var refreshToken: String
        var tokenType = "Bearer"
        var expiresIn: Int
        var user: User
    }

    func add(to router: RouterGroup<IngressContext>) {
        router.post("auth/register") { request, context in try await register(request, context) }
        router.post("auth/login") { request, context in try await login(request, context) }
        router.post("auth/refresh") { request, context in try await refresh(request, context) }
        router.post("auth/logout") { request, context in try await logout(request, context) }
        router.get("auth/me") { _, context in try await me(context) }
        router.post("auth/change-password") { request, context in try await changePassword(request, context) }
    }

    func register(_ request: Request, _ context: IngressContext) async throws -> Response {
        let body = try await JSONBody.decode(Registration.self, from: request, context: context)
        let tenant = try TenantHeader.tenant(of: request)
        let email = try Check.email(body.email)
        if let problem = Passwords.problem(with: body.password) { throw APIError.invalid(field: "password", problem) }
        let displayName = try Check.text(body.displayName, field: "displayName")
        let hash = await services.passwords.hash(body.password)
        let user: User
        do {
            user = try await services.database.transaction { connection in
                guard try await ClinicStore.tenantExists(tenant, on: connection) else { throw APIError.notFound("tenant") }
                let user = try await ClinicStore.createUser(
                    tenantId: tenant, email: email, passwordHash: hash, role: .patient, displayName: displayName, on: connection)
                try await ClinicStore.createPatient(user, on: connection)
                try await Audit.record("register", tenant: tenant, user: user.id, on: connection)
                return user
            }
        } catch let error as PostgresError where error.isUniqueViolation {
            throw APIError.conflict("email_taken", "an account with this email exists")
        }
        return JSONBody.response(status: .created, try await startSession(for: user))
    }

    func login(_ request: Request, _ context: IngressContext) async throws -> Response {
        let body = try await JSONBody.decode(Credentials.self, from: request, context: context)
        let tenant = try TenantHeader.tenant(of: request)
        let email = body.email.trimmingCharacters(in: .whitespaces).lowercased()
        let account = "account:\(email)"
        let address = "address:\(context.remoteAddress)"
        let limits = services.loginLimits
        let counts = try await services.database.query(
            """
            SELECT count(*) FILTER (WHERE subject = $2), count(*) FILTER (WHERE subject = $3)
            FROM identity.login_failures
            WHERE tenant_id = $1 AND subject IN ($2, $3) AND failed_at > now() - make_interval(secs => $4)
            """, [tenant, account, address, limits.window])
        if try counts[0].decode(Int.self, 0) >= limits.perAccount || counts[0].decode(Int.self, 1) >= limits.perAddress {
            throw APIError.tooManyRequests(retryAfterSeconds: Int(limits.window))
        }
        let rows = try await services.database.query(
            """
            SELECT id, tenant_id, email, role, display_name, password_hash FROM identity.users
            WHERE tenant_id = $1 AND email = $2
            """, [tenant, email])
        let storedHash = try rows.first?.decode(String.self, 5)
        // A missing account costs a bcrypt check too, so timing does not tell which emails exist.
        let valid = await services.passwords.verify(body.password, hash: storedHash ?? services.decoyHash)
        guard valid, let row = rows.first else {
            try await services.database.transaction { connection in
                try await connection.query(
                    "INSERT INTO identity.login_failures (tenant_id, subject) VALUES ($1, $2), ($1, $3)", [tenant, account, address])
                try await Audit.record("login_failed", tenant: tenant, user: nil, details: ["email": email], on: connection)
            }
            throw APIError.unauthorized("the email or the password is wrong")
        }
        let user = try Self.user(from: row)
        try await services.database.query(
            "DELETE FROM identity.login_failures WHERE tenant_id = $1 AND subject = $2", [tenant, account])
        return JSONBody.response(try await startSession(for: user))
    }

    func refresh(_ request: Request, _ context: IngressContext) async throws -> Response {
        let body = try await JSONBody.decode(RefreshRequest.self, from: request, context: context)
        let hash = RefreshTokens.hash(body.refreshToken)
        enum Outcome: Sendable {
            case rotated(Session)
            case reused
            case expired
            case unknown
        }
        // A rejection that changed something (a reused token revokes its family) must commit
        // before the error answer, so the outcome comes out of the transaction first.
        let outcome: Outcome = try await services.database.transaction { connection in
            let rows = try await connection.query(
                """
                SELECT t.id, t.family_id, t.revoked_at IS NOT NULL, t.expires_at < now(),
                       u.id, u.tenant_id, u.email, u.role, u.display_name
                FROM identity.refresh_tokens t JOIN identity.users u ON u.id = t.user_id
                WHERE t.token_hash = $1 FOR UPDATE OF t
                """, [hash])
            guard let row = rows.first else { return .unknown }
            let family = try row.decode(UUID.self, 1)
            if try row.decode(Bool.self, 2) {
                // A rotated token came back: it was stolen or replayed. End the whole session.
                try await connection.query(
                    "UPDATE identity.refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL", [family])
                try await Audit.record("refresh_token_reused", tenant: try row.decode(UUID.self, 5), user: try row.decode(UUID.self, 4), on: connection)
                return .reused
            }
            if try row.decode(Bool.self, 3) { return .expired }
            try await connection.query("UPDATE identity.refresh_tokens SET revoked_at = now() WHERE id = $1", [try row.decode(UUID.self, 0)])
            let user = User(
                id: try row.decode(UUID.self, 4), tenantId: try row.decode(UUID.self, 5), email: try row.decode(String.self, 6),
                role: Role(rawValue: try row.decode(String.self, 7)) ?? .patient, displayName: try row.decode(String.self, 8))
            return .rotated(try await issue(for: user, family: family, on: connection))
        }
        let session: Session
        switch outcome {
        case .rotated(let rotated): session = rotated
        case .reused: throw APIError.unauthorized("the refresh token was already used; sign in again")
        case .expired: throw APIError.unauthorized("the refresh token has expired")
        case .unknown: throw APIError.unauthorized("the refresh token is not valid")
        }
        return JSONBody.response(session)
    }

    func logout(_ request: Request, _ context: IngressContext) async throws -> Response {
        let body = try await JSONBody.decode(RefreshRequest.self, from: request, context: context)
        try await services.database.query(
            """
            UPDATE identity.refresh_tokens SET revoked_at = now()
            WHERE family_id = (SELECT family_id FROM identity.refresh_tokens WHERE token_hash = $1) AND revoked_at IS NULL
            """, [RefreshTokens.hash(body.refreshToken)])
        return JSONBody.noContent()
    }

    func me(_ context: IngressContext) async throws -> Response {
        let caller = try context.requireUser()
        let rows = try await services.database.query(
            "SELECT id, tenant_id, email, role, display_name FROM identity.users WHERE id = $1 AND tenant_id = $2",
            [caller.id, caller.tenantId])
        guard let row = rows.first else { throw APIError.unauthorized("the account no longer exists") }
        return JSONBody.response(try Self.user(from: row))
    }

    func changePassword(_ request: Request, _ context: IngressContext) async throws -> Response {
        let caller = try context.requireUser()
        let body = try await JSONBody.decode(PasswordChange.self, from: request, context: context)
        if let problem = Passwords.problem(with: body.newPassword) { throw APIError.invalid(field: "newPassword", problem) }
        let rows = try await services.database.query(
            "SELECT password_hash FROM identity.users WHERE id = $1 AND tenant_id = $2", [caller.id, caller.tenantId])
        guard let current = try rows.first?.decode(String.self, 0) else { throw APIError.unauthorized("the account no longer exists") }
        guard await services.passwords.verify(body.currentPassword, hash: current) else {
            throw APIError.invalid(field: "currentPassword", "is not the current password")
        }
        let hash = await services.passwords.hash(body.newPassword)
        try await services.database.transaction { connection in
            try await connection.query(
                "UPDATE identity.users SET password_hash = $2, password_changed_at = now() WHERE id = $1", [caller.id, hash])
            // Every other session ends: their refresh tokens are revoked.
            try await connection.query(
                "UPDATE identity.refresh_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL", [caller.id])
            try await Audit.record("password_changed", tenant: caller.tenantId, user: caller.id, on: connection)
        }
        return JSONBody.noContent()
    }

    // MARK: - Sessions

    private func startSession(for user: User) async throws -> Session {
        try await services.database.transaction { connection in
            try await Audit.record("login", tenant: user.tenantId, user: user.id, on: connection)
            return try await issue(for: user, family: UUID(), on: connection)
        }
    }

    private func issue(for user: User, family: UUID, on connection: PostgresConnection) async throws -> Session {
        let refreshToken = RefreshTokens.generate()
        try await connection.query(
            """
            INSERT INTO identity.refresh_tokens (id, tenant_id, user_id, family_id, token_hash, expires_at)
            VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6))
            """, [UUID(), user.tenantId, user.id, family, RefreshTokens.hash(refreshToken), services.refreshLifetime])
        let caller = AuthenticatedUser(id: user.id, tenantId: user.tenantId, role: user.role)
        return Session(
            accessToken: services.tokens.issue(for: caller), refreshToken: refreshToken,
            expiresIn: Int(services.tokens.lifetime), user: user)
    }

    static func user(from row: PostgresRow) throws -> User {
        User(
            id: try row.decode(UUID.self, 0), tenantId: try row.decode(UUID.self, 1), email: try row.decode(String.self, 2),
            role: Role(rawValue: try row.decode(String.self, 3)) ?? .patient, displayName: try row.decode(String.self, 4))
    }
}

enum Audit {
    static func record(
        _ action: String, tenant: UUID, user: UUID?, details: [String: String] = [:], on connection: PostgresConnection
    ) async throws {
        try await connection.query(
            "INSERT INTO identity.audit_log (tenant_id, user_id, action, details) VALUES ($1, $2, $3, $4::jsonb)",
            [tenant, user, action, PostgresJSON(details)])
    }
}
