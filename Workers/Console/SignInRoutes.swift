import Clinic
import Contracts
import Foundation
import HTTPTypes
import Hummingbird

/// `/login` and `/logout`: platform operators sign in with their email and password; the
/// session lives in an HttpOnly, SameSite=Strict cookie.
struct SignInRoutes {
    let services: ConsoleServices

    struct SignInPage {
        var csrf: String
        var email: String
        var problem: String?
    }

    func add(to router: Router<ConsoleContext>) {
        router.get("") { _, context -> Response in
            ConsoleGuard.redirect(to: context.session == nil ? "/login" : "/groups")
        }
        router.get("login") { request, context -> Response in
            if context.session != nil { return ConsoleGuard.redirect(to: "/groups") }
            return try signInPage(email: "", problem: nil, token: request.cookies[ConsoleGuard.signInCookie]?.value)
        }
        router.post("login") { request, context -> Response in
            // Before a session exists, the form's token must match the cookie set with the form.
            guard let expected = request.cookies[ConsoleGuard.signInCookie]?.value, let sent = context.form["csrf"],
                ConsoleSessions.same(expected, sent)
            else {
                return try signInPage(email: "", problem: "The sign-in form expired. Please try again.", status: .forbidden)
            }
            let email = (context.form["email"] ?? "").trimmingCharacters(in: .whitespaces).lowercased()
            let password = context.form["password"] ?? ""
            let tenant = Tenants.platformTenant
            let account = "account:\(email)"
            let failures = try await services.identity.recentLoginFailures(
                tenant: tenant, account: account, address: context.remoteAddress, window: services.signInWindow)
            guard failures.account < services.signInLimit, failures.address < services.signInLimit else {
                return try signInPage(email: email, problem: "Too many failed sign-ins. Wait a few minutes.", status: .tooManyRequests)
            }
            let credentials = email.isEmpty ? nil : try await services.identity.credentials(email: email, tenant: tenant)
            // A missing account costs one bcrypt too, so timing does not tell which addresses exist.
            let hash = credentials?.passwordHash ?? services.unusableHash
            let matches = try await services.passwords.verify(password, hash: hash)
            guard let credentials, matches, credentials.user.role == .platform else {
                try await services.identity.recordLoginFailure(
                    tenant: tenant, account: account, address: context.remoteAddress,
                    audit: AuditEntry("console_sign_in_failed", tenant: tenant, user: credentials?.user.id, details: ["address": context.remoteAddress]))
                return try signInPage(email: email, problem: "Wrong email or password, or not a platform operator.", status: .unauthorized)
            }
            try await services.identity.clearLoginFailures(tenant: tenant, account: account)
            try await services.identity.audit(
                AuditEntry("console_signed_in", tenant: tenant, user: credentials.user.id, details: ["address": context.remoteAddress]))
            let session = services.sessions.start(operatorId: credentials.user.id, email: credentials.user.email, name: credentials.user.displayName)
            return ConsoleGuard.redirect(
                to: "/groups",
                cookies: [
                    ConsoleGuard.cookie(ConsoleGuard.sessionCookie, session.id, secure: services.secureCookies),
                    ConsoleGuard.cookie(ConsoleGuard.signInCookie, "", secure: services.secureCookies, maxAge: 0),
                ])
        }
        router.post("logout") { _, context -> Response in
            if let session = context.session { services.sessions.end(session.id) }
            return ConsoleGuard.redirect(
                to: "/login", cookies: [ConsoleGuard.cookie(ConsoleGuard.sessionCookie, "", secure: services.secureCookies, maxAge: 0)])
        }
    }

    /// The form, with the token of the browser's sign-in cookie when it has a well-formed one: a
    /// second load of the page (another tab, a prefetch) must not invalidate the first.
    func signInPage(email: String, problem: String?, status: HTTPResponse.Status = .ok, token existing: String? = nil) throws -> Response {
        let token = existing.flatMap { ConsoleSessions.isToken($0) ? $0 : nil } ?? ConsoleSessions.randomToken()
        var response = try services.pages.page(
            "signin", SignInPage(csrf: token, email: email, problem: problem), title: "Sign in", section: .none, session: nil,
            status: status)
        response.headers.append(
            HTTPField(name: .setCookie, value: ConsoleGuard.cookie(ConsoleGuard.signInCookie, token, secure: services.secureCookies)))
        return response
    }
}
