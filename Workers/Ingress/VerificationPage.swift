import Foundation
import Hummingbird

/// The page an emailed verification link opens: it shows a button, and only pressing it
/// verifies (mail scanners that follow links must not use the one-time token up).
struct VerificationPage {
    let services: IngressServices

    func add(to routes: Routes) {
        routes.get(
            "verify-email",
            Doc(
                "The page behind the emailed link: a button that verifies the address", tag: "auth", access: .open,
                parameters: [Doc.query("token", .text(100, minLength: 1), required: true)],
                answers: [Doc.text(200, "the page", contentType: "text/html")])
        ) { request, _ in
            guard let token = try QueryParameters(request).string("token", max: 100), !token.isEmpty else {
                throw APIError.malformed(field: "token", "query parameter 'token' is required: open the link from the email")
            }
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
        ) { request, context in
            let form = try await request.body.collect(upTo: 4_096)
            let fields = URLComponents(string: "?" + String(buffer: form))?.queryItems ?? []
            let token = fields.first { $0.name == "token" }?.value ?? ""
            guard !token.isEmpty, token.count <= 100,
                let user = try await services.identity.redeemEmailToken(token, purpose: .verifyEmail)
            else {
                return Self.page(
                    title: "This link does not work any more",
                    body: "<p>It was used already or it has expired. Register again to get a new one.</p>", status: .unprocessableContent)
            }
            services.profileCache.forget(user.id)
            return Self.page(title: "Your address is confirmed", body: "<p>You can sign in now.</p>")
        }
    }

    static func page(title: String, body: String, status: HTTPResponse.Status = .ok) -> Response {
        let html = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(escape(title))</title>
            <style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem}button{font-size:1rem;padding:.6rem 1.2rem}</style>
            </head><body><h1>\(escape(title))</h1>\(body)</body></html>
            """
        return Response(
            status: status, headers: [.contentType: "text/html; charset=utf-8", .contentSecurityPolicy: "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"],
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
