import Contracts
import Foundation
import TestSupport
import Testing

/// Who gets in and which requests count, checked over plain HTTP against the running console.
@Suite("Console access", .serialized, .timeLimit(.minutes(3)))
struct ConsoleAccessTests {
    static func csrf(in page: String) throws -> String {
        let pattern = try NSRegularExpression(pattern: #"name="csrf" value="([0-9a-f]{64})""#)
        let match = try #require(pattern.firstMatch(in: page, range: NSRange(page.startIndex..., in: page)))
        return try #require(Range(match.range(at: 1), in: page).map { String(page[$0]) })
    }

    /// `name=value` of the Set-Cookie for `name`.
    static func cookie(_ name: String, in answer: ConsoleFixture.Answer) -> String? {
        answer.cookies.first { $0.hasPrefix(name + "=") }.map { String($0.prefix { $0 != ";" }) }
    }

    @Test func onlyPlatformOperatorsSignInAndEveryPostNeedsItsToken() async throws {
        try await ConsoleFixture.with { fleet in
            let signedOut = try await fleet.get("/groups")
            #expect(signedOut.status == 303 && signedOut.headers["location"] == "/login", "signed out, pages lead to the sign-in form")

            let form = try await fleet.get("/login")
            #expect(form.status == 200)
            #expect(form.headers["content-security-policy"]?.contains("script-src 'self'") == true)
            let signInCookie = try #require(Self.cookie("console_signin", in: form))
            let token = try Self.csrf(in: form.text)
            let fields = { (email: String, csrf: String) in [("csrf", csrf), ("email", email), ("password", ConsoleFixture.password)] }

            let wrongToken = try await fleet.post("/login", form: fields(ConsoleFixture.operatorEmail, String(repeating: "0", count: 64)), cookie: signInCookie)
            #expect(wrongToken.status == 403, "a sign-in without its form's token is refused")
            let clinicAdmin = try await fleet.post("/login", form: fields(ConsoleFixture.clinicAdminEmail, token), cookie: signInCookie)
            #expect(clinicAdmin.status == 401, "a clinic's admin is no platform operator")
            #expect(Self.cookie("console_session", in: clinicAdmin) == nil)

            let signedIn = try await fleet.post("/login", form: fields(ConsoleFixture.operatorEmail, token), cookie: signInCookie)
            #expect(signedIn.status == 303 && signedIn.headers["location"] == "/groups")
            let setCookie = try #require(signedIn.cookies.first { $0.hasPrefix("console_session=") })
            #expect(setCookie.contains("HttpOnly") && setCookie.contains("SameSite=Strict"), "\(setCookie)")
            let session = try #require(Self.cookie("console_session", in: signedIn))

            let groups = try await fleet.get("/groups", cookie: session)
            #expect(groups.status == 200 && groups.text.contains("Consumer groups"))
            let csrf = try Self.csrf(in: groups.text)

            let replayPath = "/dlq/\(fleet.commandsDeadLetterTopic)/replay"
            let position = "\(fleet.commandsDeadLetterTopic)/0/0"
            let noToken = try await fleet.post(replayPath, form: [("position", position)], cookie: session)
            #expect(noToken.status == 403, "a POST without the session's token is refused")
            let otherToken = try await fleet.post(replayPath, form: [("csrf", token), ("position", position)], cookie: session)
            #expect(otherToken.status == 403, "the sign-in form's token is not the session's")
            let noSession = try await fleet.post(replayPath, form: [("csrf", csrf), ("position", position)])
            #expect(noSession.status == 403, "a token without its session is refused")
            let notADeadLetterTopic = try await fleet.get("/dlq/\(fleet.commandsTopic)", cookie: session)
            #expect(notADeadLetterTopic.status == 404)

            let logoutWithoutToken = try await fleet.post("/logout", form: [], cookie: session)
            #expect(logoutWithoutToken.status == 403)
            #expect(try await fleet.get("/groups", cookie: session).status == 200, "the session survived a forged sign-out")
            let logout = try await fleet.post("/logout", form: [("csrf", csrf)], cookie: session)
            #expect(logout.status == 303 && logout.headers["location"] == "/login")
            #expect(try await fleet.get("/groups", cookie: session).status == 303, "signed out, the cookie opens nothing")
        }
    }
}
