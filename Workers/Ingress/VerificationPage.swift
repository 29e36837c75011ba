import Clinic
import Foundation
import Hummingbird

/// The pages emailed links open: confirming an address, and setting a new account's password.
/// Each shows a form, and only submitting it uses the one-time token (mail scanners that follow
/// links must not use it up).
struct VerificationPage {
    let services: IngressServices

    func add(to routes: Routes) {
        let token = Doc.query("token", .text(100, minLength: 1), required: true)
        routes.get(
            "verify-email",
            Doc(
                "The page behind the emailed link: a button that verifies the address", tag: "auth", access: .open, parameters: [token],
                answers: [Doc.text(200, "the page", contentType: "text/html")])
        ) { request, _ in
            let token = try Self.token(request)
            return Self.page(
                title: "Confirm your email address",
                body: """
                    <p>Press the button to confirm your address and activate your account.</p>
                    <form method="post" action="/verify-email">
                      <input type="hidden" name="token" value="\(Self.escape(token))">
                      <button type="submit">Confirm my address</button>
                    </form>
                    """)
        }
        routes.post(
            "verify-email",
            Doc(
                "The page's button: verifies the address (form field `token`)", tag: "auth", access: .open,
                answers: [
                    Doc.text(200, "the address is verified", contentType: "text/html"),
                    Doc.text(422, "the link was used already or has expired", contentType: "text/html"),
                ])
        ) { request, _ in
            let fields = try await Self.form(request)
            guard let token = fields["token"], !token.isEmpty, token.count <= 100,
                let user = try await services.identity.redeemEmailToken(token, purpose: .verifyEmail)
            else { return Self.expired }
            services.profileCache.forget(user.id)
            return Self.page(title: "Your address is confirmed", body: "<p>You can sign in now.</p>")
        }
        routes.get(
            "set-password",
            Doc(
                "The page behind a new account's emailed link: a form to choose a password", tag: "auth", access: .open, parameters: [token],
                answers: [Doc.text(200, "the page", contentType: "text/html")])
        ) { request, _ in
            let token = try Self.token(request)
            return Self.page(
                title: "Choose your password",
                body: """
                    <p>At least 10 characters. You will sign in with it from now on.</p>
                    <form method="post" action="/set-password">
                      <input type="hidden" name="token" value="\(Self.escape(token))">
                      <label>Password <input type="password" name="password" minlength="10" maxlength="72" required autocomplete="new-password"></label>
                      <button type="submit">Set my password</button>
                    </form>
                    """)
        }
        routes.post(
            "set-password",
            Doc(
                "The page's form: sets the password (form fields `token`, `password`)", tag: "auth", access: .open,
                answers: [
                    Doc.text(200, "the password is set", contentType: "text/html"),
                    Doc.text(422, "the link was used already, has expired, or the password is too weak", contentType: "text/html"),
                ])
        ) { request, _ in
            let fields = try await Self.form(request)
            guard let password = fields["password"], Passwords.problem(with: password) == nil else {
                return Self.page(
                    title: "Choose another password", body: "<p>It needs at least 10 characters and at most 72 bytes. Go back and try again.</p>",
                    status: .unprocessableContent)
            }
            let hash = try await services.passwords.hash(password)
            guard let token = fields["token"], !token.isEmpty, token.count <= 100,
                let user = try await services.identity.redeemEmailToken(token, purpose: .setPassword)
            else { return Self.expired }
            try await services.identity.setPassword(
                user: user.id, tenant: user.tenantId, hash: hash, audit: AuditEntry("password_set", tenant: user.tenantId, user: user.id))
            return Self.page(title: "Your password is set", body: "<p>You can sign in now.</p>")
        }
    }

    static var expired: Response {
        page(
            title: "This link does not work any more",
            body: "<p>It was used already or it has expired. Ask for a new one.</p>", status: .unprocessableContent)
    }

    static func token(_ request: Request) throws -> String {
        guard let token = try QueryParameters(request).string("token", max: 100), !token.isEmpty else {
            throw APIError.malformed(field: "token", "query parameter 'token' is required: open the link from the email")
        }
        return token
    }

    /// The fields of a form post (`application/x-www-form-urlencoded`).
    static func form(_ request: Request) async throws -> [String: String] {
        let body = try await request.body.collect(upTo: 4_096)
        var fields: [String: String] = [:]
        for item in URLComponents(string: "?" + String(buffer: body).replacingOccurrences(of: "+", with: "%20"))?.queryItems ?? [] {
            fields[item.name] = item.value
        }
        return fields
    }

    static func page(title: String, body: String, status: HTTPResponse.Status = .ok) -> Response {
        let html = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(escape(title))</title>
            <style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem}button,input{font-size:1rem;padding:.6rem 1.2rem;margin:.3rem 0}</style>
            </head><body><h1>\(escape(title))</h1>\(body)</body></html>
            """
        return Response(
            status: status,
            headers: [
                .contentType: "text/html; charset=utf-8", .contentSecurityPolicy: "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
            ],
            body: ResponseBody(byteBuffer: ByteBuffer(string: html)))
    }

    static func escape(_ text: String) -> String {
        var escaped = ""
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.append(character)
            }
        }
        return escaped
    }
}
