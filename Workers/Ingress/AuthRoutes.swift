import Clinic
import Contracts
import Foundation
import Hummingbird

/// Register, verify an address, login, refresh, logout, me, change password, and the caller's
/// sessions.
///
/// Registration tells nobody which addresses have an account: it answers 202 either way and
/// sends an email to the address — a verification link for a new account (which signs in only
/// once verified), a notice for an address that has one. A login of an unverified account fails
/// exactly like a wrong password.
struct AuthRoutes {
    let services: IngressServices

    struct Registration: Decodable, Documented {
        var email: String
        var password: String
        var displayName: String
        static let schema = Schema.object(
            [("email", .email), ("password", .text(Passwords.maximumBytes, minLength: 10)), ("displayName", .text(200, minLength: 1))],
            required: ["email", "password", "displayName"])
    }

    struct RegistrationAccepted: Encodable, Documented {
        var status = "check_your_email"
        var message = "If the address can be registered, a link to verify it is on its way; if it has an account, a notice is."
        static let schema = Schema.object(
            [("status", .string(values: ["check_your_email"])), ("message", .string())], required: ["status", "message"])
    }

    struct Credentials: Decodable, Documented {
        var email: String
        var password: String
        static let schema = Schema.object([("email", .email), ("password", .text(1_024))], required: ["email", "password"])
    }

    struct TokenBody: Decodable, Documented {
        var token: String
        static let schema = Schema.object([("token", .text(100, minLength: 1))], required: ["token"])
    }

    struct SetPassword: Decodable, Documented {
        var token: String
        var password: String
        static let schema = Schema.object(
            [("token", .text(100, minLength: 1)), ("password", .text(Passwords.maximumBytes, minLength: 10))], required: ["token", "password"])
    }

    struct RefreshRequest: Decodable, Documented {
        var refreshToken: String
        static let schema = Schema.object([("refreshToken", .text(100, minLength: 1))], required: ["refreshToken"])
    }

    struct LogoutRequest: Decodable, Documented {
        var refreshToken: String?
        static let schema = Schema.object([("refreshToken", .text(100, minLength: 1))])
    }

    struct PasswordChange: Decodable, Documented {
        var currentPassword: String
        var newPassword: String
        static let schema = Schema.object(
            [("currentPassword", .text(1_024)), ("newPassword", .text(Passwords.maximumBytes, minLength: 10))],
            required: ["currentPassword", "newPassword"])
    }

    struct Session: Encodable, Sendable, Documented {
        var accessToken: String
        var refreshToken: String
        var tokenType = "Bearer"
        var expiresIn: Int
        var sessionId: UUID
        var user: User
        static let schema = Schema.object(
            [
                ("accessToken", .string()), ("refreshToken", .string()), ("tokenType", .string(values: ["Bearer"])),
                ("expiresIn", .integer(minimum: 1)), ("sessionId", .uuid), ("user", .ref(User.self)),
            ], required: ["accessToken", "refreshToken", "tokenType", "expiresIn", "sessionId", "user"])
    }

    struct SessionView: Encodable, Documented {
        var id: UUID
        var device: String
        var address: String
        var createdAt: Date
        var lastUsedAt: Date
        var current: Bool
        static let schema = Schema.object(
            [
                ("id", .uuid), ("device", .string(maxLength: 200)), ("address", .string(maxLength: 100)), ("createdAt", .dateTime),
                ("lastUsedAt", .dateTime), ("current", .boolean),
            ], required: ["id", "device", "address", "createdAt", "lastUsedAt", "current"])
    }

    struct SessionList: Encodable, Documented {
        var items: [SessionView]
        static let schema = Schema.object([("items", .array(.ref(SessionView.self)))], required: ["items"])
    }

    func add(to routes: Routes) {
        let tenantHeader = Doc.header("X-Tenant-Id", .uuid, "the clinic (default: the single-clinic install's)")
        routes.post(
            "auth/register",
            Doc(
                "Register a patient account: a link to verify the address is emailed (202 whether or not the address has an account)",
                tag: "auth", access: .open, body: Registration.self, parameters: [tenantHeader],
                answers: [Doc.accepted(RegistrationAccepted.self, "a verification link or a notice is on its way")],
                errors: [403, 404, 429])
        ) { request, context in try await register(request, context) }
        routes.post(
            "auth/verify-email",
            Doc(
                "Verify the address with the emailed token and sign in", tag: "auth", access: .open, body: TokenBody.self,
                answers: [Doc.ok(Session.self, "verified and signed in")], errors: [403])
        ) { request, context in try await verifyEmail(request, context) }
        routes.post(
            "auth/set-password",
            Doc(
                "Set the password of a new account (a clinic's first admin, a platform operator) with the emailed token, and sign in",
                tag: "auth", access: .open, body: SetPassword.self, answers: [Doc.ok(Session.self, "set and signed in")], errors: [403])
        ) { request, context in try await setPassword(request, context) }
        routes.post(
            "auth/login",
            Doc(
                "Sign in with email and password", tag: "auth", access: .open, body: Credentials.self, parameters: [tenantHeader],
                answers: [Doc.ok(Session.self, "signed in")], errors: [403, 429])
        ) { request, context in try await login(request, context) }
        routes.post(
            "auth/refresh",
            Doc(
                "Rotate a refresh token for a new access token", tag: "auth", access: .open, body: RefreshRequest.self,
                answers: [Doc.ok(Session.self, "rotated")])
        ) { request, context in try await refresh(request, context) }
        routes.post(
            "auth/logout",
            Doc(
                "End this session (and, given its refresh token, another of the caller's sessions)", tag: "auth",
                body: LogoutRequest.self, bodyRequired: false, answers: [Doc.noContent], errors: [403])
        ) { request, context in try await logout(request, context) }
        routes.get("auth/me", Doc("The signed-in user", tag: "auth", answers: [Doc.ok(User.self, "the user")])) { _, context in
            try await me(context)
        }
        routes.post(
            "auth/change-password",
            Doc(
                "Change the password; every other session ends at once", tag: "auth", body: PasswordChange.self,
                answers: [Doc.noContent])
        ) { request, context in try await changePassword(request, context) }
        routes.get(
            "auth/sessions",
            Doc("The caller's open sessions (device, address, created, last used)", tag: "auth", answers: [Doc.ok(SessionList.self, "the sessions")])
        ) { _, context in try await sessions(context) }
        routes.delete(
            "auth/sessions/:id",
            Doc("End one of the caller's sessions", tag: "auth", parameters: [Doc.path("id")], answers: [Doc.noContent], errors: [404])
        ) { _, context in try await endSession(context) }
    }

    // MARK: - Registration

    func register(_ request: Request, _ context: IngressContext) async throws -> Response {
        let body = try await JSONBody.decode(Registration.self, from: request, context: context)
        let tenantId = try TenantHeader.tenant(of: request)
        let email = try Check.email(body.email)
        let password = try Check.newPassword(body.password, field: "password")
        let displayName = try Check.line(body.displayName, field: "displayName")
        guard let tenant = try await services.identity.tenant(tenantId) else { throw APIError.notFound("tenant") }
        guard !tenant.isDisabled else { throw APIError.forbidden("this clinic does not take new accounts") }
        // Both outcomes cost a bcrypt hash, a database round trip and an email: timing tells nothing.
        let hash = try await services.passwords.hash(password)
        let account = NewAccount(
            tenantId: tenantId, email: email, passwordHash: hash, role: .patient, displayName: displayName, emailVerified: false)
        let kind: AccountEmailKind
        let recipient: User
        var link: String?
        switch try await createUnverified(account, tenant: tenantId) {
        case .created(let user, let token):
            (kind, recipient) = (.verifyEmail, user)
            link = "\(services.settings.publicURL)/verify-email?token=\(token)"
        case .existing(let user):
            (kind, recipient) = (.alreadyRegistered, user)
        }
        // One notice per hour at most for an existing address, so registering cannot flood its inbox.
        let hour = Int(Date().timeIntervalSince1970 / 3600)
        let key = kind == .verifyEmail ? "verify:\(recipient.id.canonical)" : "registered:\(recipient.id.canonical):\(hour)"
        let payload = AccountEmailRequested(
            idempotencyKey: key, kind: kind,
            recipient: EmailRecipient(userId: recipient.id, email: recipient.email, name: recipient.displayName, role: recipient.role),
            clinicName: tenant.name, link: link,
            linkExpiresAt: link == nil ? nil : Date().addingTimeInterval(services.settings.emailLinkLifetime))
        try await services.outbox.publish(
            accountEmail: Envelope(correlationId: context.requestId, tenantId: tenantId, actor: .system, payload: payload))
        return try JSONBody.response(status: .accepted, RegistrationAccepted())
    }

    enum RegistrationOutcome {
        case created(User, verificationToken: String)
        /// The address has an account already: its owner gets a notice.
        case existing(User)
    }

    func createUnverified(_ account: NewAccount, tenant: UUID) async throws -> RegistrationOutcome {
        do {
            let user = try await services.identity.createAccount(account, audit: AuditEntry("register", tenant: tenant, user: account.id))
            let token = try await services.identity.issueEmailToken(
                user: user.id, tenant: tenant, purpose: .verifyEmail, lifetime: services.settings.emailLinkLifetime)
            return .created(user, verificationToken: token)
        } catch ClinicStoreError.emailTaken {
            guard let existing = try await services.identity.credentials(email: account.email, tenant: tenant) else {
                throw APIError.conflict("try_again", "the account changed meanwhile; try again")
            }
            return .existing(existing.user)
        }
    }

    func verifyEmail(_ request: Request, _ context: IngressContext) async throws -> Response {
        let body = try await JSONBody.decode(TokenBody.self, from: request, context: context)
        let token = try Check.line(body.token, field: "token", max: 100)
        guard let user = try await services.identity.redeemEmailToken(token, purpose: .verifyEmail) else {
            throw APIError.invalid(field: "token", "is not valid, was used already or has expired")
        }
        guard try await services.identity.tenant(user.tenantId)?.isDisabled == false else {
            throw APIError.forbidden("this clinic's accounts are disabled")
        }
        services.profileCache.forget(user.id)
        return try JSONBody.response(try await startSession(for: user, request, context, action: "email_verified"))
    }

    func setPassword(_ request: Request, _ context: IngressContext) async throws -> Response {
        let body = try await JSONBody.decode(SetPassword.self, from: request, context: context)
        let token = try Check.line(body.token, field: "token", max: 100)
        let password = try Check.newPassword(body.password, field: "password")
        let hash = try await services.passwords.hash(password)
        guard let user = try await services.identity.redeemEmailToken(token, purpose: .setPassword) else {
            throw APIError.invalid(field: "token", "is not valid, was used already or has expired")
        }
        guard try await services.identity.tenant(user.tenantId)?.isDisabled == false else {
            throw APIError.forbidden("this clinic's accounts are disabled")
        }
        try await services.identity.setPassword(
            user: user.id, tenant: user.tenantId, hash: hash, audit: AuditEntry("password_set", tenant: user.tenantId, user: user.id))
        return try JSONBody.response(try await startSession(for: user, request, context, action: "password_set"))
    }

    // MARK: - Signing in

    func login(_ request: Request, _ context: IngressContext) async throws -> Response {
        let body = try await JSONBody.decode(Credentials.self, from: request, context: context)
        let tenantId = try TenantHeader.tenant(of: request)
        let email = try Check.email(body.email)
        let password = try Check.presentedPassword(body.password)
        let account = "account:\(email)"
        let address = "address:\(context.remoteAddress)"
        let limits = services.settings.loginLimits
        let failures = try await services.identity.recentLoginFailures(
            tenant: tenantId, account: account, address: address, window: limits.window)
        if failures.account >= limits.perAccount || failures.address >= limits.perAddress {
            throw APIError.tooManyRequests(retryAfterSeconds: Int(limits.window))
        }
        let credentials = try await services.identity.credentials(email: email, tenant: tenantId)
        // A missing account costs a bcrypt check too, so timing does not tell which emails exist;
        // an unverified one fails like a wrong password, so a registration tells nothing either.
        let valid = try await services.passwords.verify(password, hash: credentials?.passwordHash ?? services.decoyHash)
        guard valid, let credentials, credentials.emailVerified else {
            try await services.identity.recordLoginFailure(
                tenant: tenantId, account: account, address: address,
                audit: AuditEntry("login_failed", tenant: tenantId, user: nil, details: ["email": email]))
            throw APIError.unauthorized(
                "the email or the password is wrong (a new account signs in once its address is verified)")
        }
        guard try await services.identity.tenant(tenantId)?.isDisabled == false else {
            throw APIError.forbidden("this clinic's accounts are disabled")
        }
        try await services.identity.clearLoginFailures(tenant: tenantId, account: account)
        return try JSONBody.response(try await startSession(for: credentials.user, request, context, action: "login"))
    }

    func refresh(_ request: Request, _ context: IngressContext) async throws -> Response {
        let body = try await JSONBody.decode(RefreshRequest.self, from: request, context: context)
        let presented = try Check.line(body.refreshToken, field: "refreshToken", max: 100)
        let refreshToken = OpaqueToken.generate()
        let outcome = try await services.sessions.rotate(
            refreshTokenHash: OpaqueToken.hash(presented), to: OpaqueToken.hash(refreshToken), lifetime: services.settings.refreshLifetime)
        switch outcome {
        case .rotated(let session, let user):
            guard try await services.identity.tenant(user.tenantId)?.isDisabled == false else {
                throw APIError.forbidden("this clinic's accounts are disabled")
            }
            return try JSONBody.response(try await makeSession(session, user: user, refreshToken: refreshToken))
        case .reused(let session):
            services.revoked.revoke([session])
            throw APIError.unauthorized("the refresh token was already used; the session has ended, sign in again")
        case .revoked: throw APIError.unauthorized("the session has ended; sign in again")
        case .expired: throw APIError.unauthorized("the refresh token has expired")
        case .unknown: throw APIError.unauthorized("the refresh token is not valid")
        }
    }

    /// Ends the caller's session; a refresh token in the body ends that session too, and only
    /// if it is one of the caller's own.
    func logout(_ request: Request, _ context: IngressContext) async throws -> Response {
        let caller = try context.requireUser()
        let body = try await JSONBody.decodeIfPresent(LogoutRequest.self, from: request, context: context)
        var ending = [caller.sessionId]
        if let presented = body?.refreshToken {
            let token = try Check.line(presented, field: "refreshToken", max: 100)
            guard let owner = try await services.sessions.session(ofRefreshTokenHash: OpaqueToken.hash(token)), owner.user == caller.id
            else { throw APIError.forbidden("the refresh token is not one of your sessions") }
            ending.append(owner.session)
        }
        for session in Set(ending) {
            _ = try await services.sessions.revoke(session: session, of: caller.id, tenant: caller.tenantId, reason: "logout")
        }
        services.revoked.revoke(Array(Set(ending)))
        return JSONBody.noContent()
    }

    func me(_ context: IngressContext) async throws -> Response {
        let caller = try context.requireUser()
        guard let user = try await services.profile(caller.id, tenant: caller.tenantId) else {
            throw APIError.unauthorized("the account no longer exists")
        }
        return try JSONBody.response(user)
    }

    func changePassword(_ request: Request, _ context: IngressContext) async throws -> Response {
        let caller = try context.requireUser()
        let body = try await JSONBody.decode(PasswordChange.self, from: request, context: context)
        let current = try Check.presentedPassword(body.currentPassword, field: "currentPassword")
        let new = try Check.newPassword(body.newPassword, field: "newPassword")
        guard let credentials = try await services.identity.credentials(user: caller.id, tenant: caller.tenantId) else {
            throw APIError.unauthorized("the account no longer exists")
        }
        guard try await services.passwords.verify(current, hash: credentials.passwordHash) else {
            throw APIError.invalid(field: "currentPassword", "is not the current password")
        }
        try await services.identity.setPassword(
            user: caller.id, tenant: caller.tenantId, hash: try await services.passwords.hash(new),
            audit: AuditEntry("password_changed", tenant: caller.tenantId, user: caller.id))
        // Every other session ends, its access tokens with it.
        let ended = try await services.sessions.revokeAll(
            of: caller.id, tenant: caller.tenantId, keeping: caller.sessionId, reason: "password_changed")
        services.revoked.revoke(ended)
        return JSONBody.noContent()
    }

    // MARK: - Sessions

    func sessions(_ context: IngressContext) async throws -> Response {
        let caller = try context.requireUser()
        let open = try await services.sessions.openSessions(of: caller.id, tenant: caller.tenantId)
        return try JSONBody.response(
            SessionList(
                items: open.map {
                    SessionView(
                        id: $0.id, device: $0.device, address: $0.address, createdAt: $0.createdAt, lastUsedAt: $0.lastUsedAt,
                        current: $0.id == caller.sessionId)
                }))
    }

    func endSession(_ context: IngressContext) async throws -> Response {
        let caller = try context.requireUser()
        let id = try Path.id(context)
        guard try await services.sessions.revoke(session: id, of: caller.id, tenant: caller.tenantId, reason: "ended_by_user") else {
            throw APIError.notFound("session")
        }
        services.revoked.revoke([id])
        return JSONBody.noContent()
    }

    /// A new session for the user on this device and address, with its tokens.
    func startSession(for user: User, _ request: Request, _ context: IngressContext, action: String) async throws -> Session {
        let refreshToken = OpaqueToken.generate()
        let device = String(
            (request.headers[.userAgent] ?? "").unicodeScalars.filter { !Check.isControl($0) }.map(Character.init).prefix(200))
        let session = try await services.sessions.start(
            user: user, device: device, address: String(context.remoteAddress.prefix(100)),
            refreshTokenHash: OpaqueToken.hash(refreshToken), lifetime: services.settings.refreshLifetime,
            audit: AuditEntry(action, tenant: user.tenantId, user: user.id))
        return try await makeSession(session, user: user, refreshToken: refreshToken)
    }

    func makeSession(_ session: UUID, user: User, refreshToken: String) async throws -> Session {
        let caller = AuthenticatedUser(id: user.id, tenantId: user.tenantId, role: user.role, sessionId: session)
        return Session(
            accessToken: try await services.tokens.issue(for: caller), refreshToken: refreshToken,
            expiresIn: Int(services.tokens.lifetime), sessionId: session, user: user)
    }
}

extension User: Documented {
    static var schema: Schema {
        .object(
            [
                ("id", .uuid), ("tenantId", .uuid), ("email", .email), ("role", .string(values: ["patient", "doctor", "admin"])),
                ("displayName", .string(maxLength: 200)),
            ], required: ["id", "tenantId", "email", "role", "displayName"])
    }
}
