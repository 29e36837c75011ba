import Foundation
import HTTPTypes
import Hummingbird

/// Every page but the sign-in page and static files needs a signed-in operator; every POST
/// needs the CSRF token of its session (the sign-in form: of its pre-session cookie). Also sets
/// the headers that keep the pages out of frames, caches and other origins' scripts.
struct ConsoleGuard: RouterMiddleware {
    typealias Context = ConsoleContext
    let sessions: ConsoleSessions

    static let sessionCookie = "console_session"
    static let signInCookie = "console_signin"

    func handle(_ request: Request, context: ConsoleContext, next: (Request, ConsoleContext) async throws -> Response) async throws
        -> Response
    {
        var context = context
        let path = request.uri.path
        let open = path == "/login" || path.hasPrefix("/static/") || path == "/health" || path == "/favicon.ico"
        if request.method == .post {
            let body = try await request.body.collect(upTo: context.maxUploadSize)
            context.form = HTMLForm(urlEncoded: String(buffer: body))
        }
        if let id = request.cookies[Self.sessionCookie]?.value, let session = sessions.session(id) {
            context.session = session
        }
        if !open {
            guard let session = context.session else {
                if request.method == .get || request.method == .head { return Self.secured(Self.redirect(to: "/login")) }
                return Self.secured(ConsolePages.plain(.forbidden, "Sign in first."))
            }
            if request.method == .post {
                guard let token = context.form["csrf"], ConsoleSessions.same(token, session.csrfToken) else {
                    return Self.secured(ConsolePages.plain(.forbidden, "This form has expired or did not come from the console: reload the page and try again."))
                }
            }
        }
        return Self.secured(try await next(request, context))
    }

    static func redirect(to location: String, cookies: [String] = []) -> Response {
        var headers: HTTPFields = [.location: location]
        for cookie in cookies { headers.append(HTTPField(name: .setCookie, value: cookie)) }
        return Response(status: .seeOther, headers: headers)
    }

    /// A cookie only this site's own requests carry and no script reads. `Secure` when the
    /// console is served over HTTPS (`console.cookie.secure`).
    static func cookie(_ name: String, _ value: String, secure: Bool, maxAge: Int? = nil) -> String {
        var parts = ["\(name)=\(value)", "Path=/", "HttpOnly", "SameSite=Strict"]
        if let maxAge { parts.append("Max-Age=\(maxAge)") }
        if secure { parts.append("Secure") }
        return parts.joined(separator: "; ")
    }

    static func secured(_ response: Response) -> Response {
        var response = response
        response.headers[.contentSecurityPolicy] =
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'"
        response.headers[.xFrameOptions] = "DENY"
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[.referrerPolicy] = "no-referrer"
        if response.headers[.cacheControl] == nil { response.headers[.cacheControl] = "no-store" }
        return response
    }
}

extension HTTPField.Name {
    static let contentSecurityPolicy = HTTPField.Name("Content-Security-Policy")!
    static let xFrameOptions = HTTPField.Name("X-Frame-Options")!
    static let xContentTypeOptions = HTTPField.Name("X-Content-Type-Options")!
    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!
}
