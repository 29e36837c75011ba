import Booking
import Clinic
import Contracts
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Ingress
import Testing

/// Routes on Hummingbird's in-process client over in-memory stores: what each answers to
/// hostile input, who may do what, and the shape of its answers. What touches data is tested
/// end to end too (HostileInputTests, SessionTests, RegistrationTests).
@Suite("Routes (in process)")
struct RouteTests {
    /// The router of the ingress over an in-memory world, and a client for it.
    struct Harness {
        let world = InMemoryWorld()

        func run<R: Sendable>(accessLifetime: TimeInterval = 900, _ body: @Sendable (Client) async throws -> R) async throws -> R {
            let services = try await world.services(accessLifetime: accessLifetime)
            let app = Application(router: try IngressApplication.router(services))
            return try await app.test(.router) { client in try await body(Client(client: client, services: services)) }
        }
    }

    struct Client: Sendable {
        let client: any TestClientProtocol
        let services: IngressServices

        struct Answer {
            let status: Int
            let headers: HTTPFields
            let text: String
            var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]) ?? [:] }
            var field: String? { ((json["error"] as? [String: Any])?["details"] as? [String: Any])?["field"] as? String }
            var code: String? { (json["error"] as? [String: Any])?["code"] as? String }
        }

        func send(_ method: HTTPRequest.Method, _ uri: String, json: String? = nil, token: String? = nil, headers: [String: String] = [:])
            async throws -> Answer
        {
            var fields: HTTPFields = [:]
            if let token { fields[.authorization] = "Bearer \(token)" }
            for (name, value) in headers { if let name = HTTPField.Name(name) { fields[name] = value } }
            let response = try await client.execute(uri: uri, method: method, headers: fields, body: json.map { ByteBuffer(string: $0) })
            return Answer(status: Int(response.status.code), headers: response.headers, text: String(buffer: response.body))
        }

        /// Signs in (the account must exist in the world) and returns the access token.
        func token(_ email: String, tenant: UUID = Tenants.defaultTenant, password: String = TestFleet.password) async throws
            -> (access: String, refresh: String, session: String)
        {
            let answer = try await send(
                .post, "/v1/auth/login", json: #"{"email":"\#(email)","password":"\#(password)"}"#,
                headers: ["X-Tenant-Id": tenant.uuidString])
            try #require(answer.status == 200, "\(answer.text)")
            return (
                try #require(answer.json["accessToken"] as? String), try #require(answer.json["refreshToken"] as? String),
                try #require(answer.json["sessionId"] as? String)
            )
        }
    }

    // MARK: - 11.1 NUL bytes and control characters

    @Test func nulBytesAreRefusedAtTheEdgeNamingTheField() async throws {
        let harness = Harness()
        try await harness.world.account("pat@mail.test", role: .patient)
        try await harness.run { client in
            // Login with a NUL in the email: 422 naming it, and no 500 that tells guesses apart.
            let login = try await client.send(.post, "/v1/auth/login", json: #"{"email":"pat@mail.test\u0000x","password":"whatever at all"}"#)
            #expect(login.status == 422 && login.field == "email", "\(login.text)")
            // A password with a NUL is never registered, so the empty password cannot match it later.
            let register = try await client.send(
                .post, "/v1/auth/register", json: #"{"email":"new@mail.test","password":"\u0000123456789","displayName":"N"}"#)
            #expect(register.status == 422 && register.field == "password", "\(register.text)")
            #expect(harness.world.with { $0.accounts.values.contains { $0.credentials.user.email == "new@mail.test" } } == false)
            // Control characters in a name; a NUL in free text.
            let token = try await client.token("pat@mail.test").access
            let patient = try #require(harness.world.with { $0.accounts.values.first { $0.credentials.user.role == .patient }?.credentials.user.id })
            let name = try await client.send(.patch, "/v1/patients/\(patient)", json: #"{"displayName":"Bob\u0007"}"#, token: token)
            #expect(name.status == 422 && name.field == "displayName", "\(name.text)")
            // Passwords longer than bcrypt's 72 bytes would collide: refused.
            let long = String(repeating: "é", count: 40)  // 80 bytes
            let tooLong = try await client.send(
                .post, "/v1/auth/register", json: #"{"email":"long@mail.test","password":"\#(long)","displayName":"L"}"#)
            #expect(tooLong.status == 422 && tooLong.field == "password", "\(tooLong.text)")
        }
    }

    // MARK: - 11.2 sizes and ranges

    @Test func oversizeAndOutOfRangeInputIsAFourHundredNamingTheField() async throws {
        let harness = Harness()
        try await harness.world.account("pat@mail.test", role: .patient)
        try await harness.run { client in
            let megabyte = String(repeating: "a", count: 1_000_000)
            let huge = try await client.send(.post, "/v1/auth/login", json: #"{"email":"\#(megabyte)@x.test","password":"p"}"#)
            #expect(huge.status == 413, "a 1 MB body is refused before anything reads it: \(huge.status)")
            let long = String(repeating: "a", count: 300)
            let longEmail = try await client.send(.post, "/v1/auth/login", json: #"{"email":"\#(long)@x.test","password":"p"}"#)
            #expect(longEmail.status == 422 && longEmail.field == "email")
            let token = try await client.token("pat@mail.test").access
            for (query, field) in [("from=0001-01-01T00:00:00Z", "from"), ("to=0000-12-31T00:00:00Z", "to"), ("from=99999-01-01T00:00:00Z", "from")] {
                let answer = try await client.send(.get, "/v1/appointments?\(query)", token: token)
                #expect(answer.status == 400 && answer.field == field, "\(query): \(answer.text)")
            }
            let slots = try await client.send(.get, "/v1/doctors/\(UUID())/slots?from=0001-01-01&to=0001-01-02", token: token)
            #expect(slots.status == 400 && slots.field == "from", "\(slots.text)")
        }
    }

    @Test func aFieldTheRequestDoesNotKnowOrThatIsSentTwiceIsRefusedByName() async throws {
        let harness = Harness()
        try await harness.world.account("admin@clinic.test", role: .admin)
        let doctor = try await harness.world.account("doc@clinic.test", role: .doctor)
        try await harness.run { client in
            let token = try await client.token("admin@clinic.test").access
            let start = WireCoding.formatTimestamp(Date().addingTimeInterval(3 * 86400))
            let typo = try await client.send(
                .post, "/v1/appointments", json: #"{"doctorId":"\#(doctor.id)","startsAt":"\#(start)","endAt":"\#(start)"}"#, token: token)
            #expect(typo.status == 400 && typo.field == "endAt", "\(typo.text)")
            let nested = try await client.send(
                .put, "/v1/doctors/\(doctor.id)/hours", json: #"{"hours":[{"weekday":1,"start":"09:00","end":"10:00","lunch":true}]}"#,
                token: token)
            #expect(nested.status == 400 && nested.field == "hours[0].lunch", "\(nested.text)")
            let end = WireCoding.formatTimestamp(Date().addingTimeInterval(3 * 86400 + 1800))
            // Sent twice: a decoder that kept one copy of doctorId would disagree with whatever read the other.
            let twice = try await client.send(
                .post, "/v1/appointments",
                json: #"{"doctorId":"\#(doctor.id)","startsAt":"\#(start)","endsAt":"\#(end)","doctorId":"\#(UUID())"}"#,
                token: token)
            #expect(twice.status == 400 && twice.field == "doctorId", "\(twice.text)")
            #expect(twice.text.contains("appears twice"), "\(twice.text)")
            // The same name written with an escape is the same name.
            let escaped = try await client.send(
                .post, "/v1/appointments",
                json: #"{"doctorId":"\#(doctor.id)","startsAt":"\#(start)","endsAt":"\#(end)","doctor\u0049d":"\#(doctor.id)"}"#,
                token: token)
            #expect(escaped.status == 400 && escaped.field == "doctorId", "\(escaped.text)")
            let nestedTwice = try await client.send(
                .put, "/v1/doctors/\(doctor.id)/hours",
                json: #"{"hours":[{"weekday":1,"start":"09:00","end":"10:00","start":"11:00"}]}"#, token: token)
            #expect(nestedTwice.status == 400 && nestedTwice.field == "hours[0].start", "\(nestedTwice.text)")
            let login = try await client.send(
                .post, "/v1/auth/login", json: #"{"email":"admin@clinic.test","password":"p","email":"other@clinic.test"}"#)
            #expect(login.status == 400 && login.field == "email", "\(login.text)")
            // The same name in two different objects is fine.
            let hours = try await client.send(
                .put, "/v1/doctors/\(doctor.id)/hours",
                json: #"{"hours":[{"weekday":1,"start":"09:00","end":"10:00"},{"weekday":2,"start":"09:00","end":"10:00"}]}"#,
                token: token)
            #expect(hours.status < 300, "\(hours.text)")
            #expect(harness.world.with { $0.commands.isEmpty })
        }
    }

    // MARK: - 11.3 strict query parameters

    @Test func queryParametersAreNeverCoerced() async throws {
        let harness = Harness()
        try await harness.world.account("pat@mail.test", role: .patient)
        try await harness.run { client in
            let token = try await client.token("pat@mail.test").access
            for path in ["/v1/appointments", "/v1/notifications"] {
                for (query, field) in [("limit=-1", "limit"), ("offset=-5", "offset"), ("limit=abc", "limit"), ("limit=201", "limit"), ("offset=1e3", "offset")] {
                    let answer = try await client.send(.get, "\(path)?\(query)", token: token)
                    #expect(answer.status == 400 && answer.field == field, "\(path)?\(query): \(answer.status) \(answer.text)")
                }
                #expect(try await client.send(.get, "\(path)?limit=200&offset=0", token: token).status == 200)
            }
            let unread = try await client.send(.get, "/v1/notifications?unread=yes", token: token)
            #expect(unread.status == 400 && unread.field == "unread")
        }
    }

    // MARK: - 11.4 off-grid: only an admin may ask

    @Test func onlyAnAdminMayAskToBookOffTheGrid() async throws {
        let harness = Harness()
        let patient = try await harness.world.account("pat@mail.test", role: .patient)
        try await harness.world.account("admin@clinic.test", role: .admin)
        let doctor = try await harness.world.account("doc@clinic.test", role: .doctor)
        let start = WireCoding.formatTimestamp(Date().addingTimeInterval(3 * 86400))
        try await harness.run { client in
            let body = #"{"doctorId":"\#(doctor.id)","startsAt":"\#(start)","allowOffGrid":true,"patientId":"\#(patient.id)"}"#
            let asPatient = try await client.send(.post, "/v1/appointments", json: body, token: try await client.token("pat@mail.test").access)
            #expect(asPatient.status == 403, "\(asPatient.text)")
            let asAdmin = try await client.send(.post, "/v1/appointments", json: body, token: try await client.token("admin@clinic.test").access)
            #expect(asAdmin.status == 202, "\(asAdmin.text)")
            let published = try #require(harness.world.with { $0.commands.last })
            let command = try AppointmentCommand(try Catalogs.appointmentCommands.decode(published.envelope))
            guard case .request(let request) = command else { Issue.record("not a request: \(command)"); return }
            #expect(request.allowOffGrid == true)
        }
    }

    // MARK: - 11.5 sessions

    @Test func aRevokedSessionsAccessTokensAreRefusedAtOnce() async throws {
        let harness = Harness()
        let patient = try await harness.world.account("pat@mail.test", role: .patient)
        try await harness.world.account("eve@mail.test", role: .patient)
        try await harness.run { client in
            // Logout: the logged-out access token is refused at once.
            let first = try await client.token("pat@mail.test")
            #expect(try await client.send(.get, "/v1/auth/me", token: first.access).status == 200)
            #expect(try await client.send(.post, "/v1/auth/logout", token: first.access).status == 204)
            #expect(try await client.send(.get, "/v1/auth/me", token: first.access).status == 401)

            // Change password: every other session's access token is refused at once; this one goes on.
            let laptop = try await client.token("pat@mail.test")
            let phone = try await client.token("pat@mail.test")
            let change = try await client.send(
                .post, "/v1/auth/change-password",
                json: #"{"currentPassword":"\#(TestFleet.password)","newPassword":"a brand new password"}"#, token: phone.access)
            #expect(change.status == 204, "\(change.text)")
            #expect(try await client.send(.get, "/v1/auth/me", token: laptop.access).status == 401)
            #expect(try await client.send(.get, "/v1/auth/me", token: phone.access).status == 200)

            // One user cannot log out another user's session with its refresh token.
            let eve = try await client.token("eve@mail.test")
            let victim = try await client.send(
                .post, "/v1/auth/refresh", json: #"{"refreshToken":"\#(phone.refresh)"}"#)
            #expect(victim.status == 200)
            let victimSession = try #require(victim.json["refreshToken"] as? String)
            let attack = try await client.send(.post, "/v1/auth/logout", json: #"{"refreshToken":"\#(victimSession)"}"#, token: eve.access)
            #expect(attack.status == 403, "\(attack.text)")
            #expect(try await client.send(.post, "/v1/auth/refresh", json: #"{"refreshToken":"\#(victimSession)"}"#).status == 200)
            // Without an access token, logout is 401 whatever the body says.
            #expect(try await client.send(.post, "/v1/auth/logout", json: #"{"refreshToken":"x"}"#).status == 401)

            // The sessions list, and ending one from another device.
            let tablet = try await client.token("pat@mail.test", password: "a brand new password")
            let list = try await client.send(.get, "/v1/auth/sessions", token: tablet.access)
            let items = try #require(list.json["items"] as? [[String: Any]])
            #expect(items.contains { $0["id"] as? String == tablet.session && $0["current"] as? Bool == true })
            #expect(items.allSatisfy { ($0["id"] as? String).map { $0 == $0.lowercased() } == true })
            let phoneSession = try #require(items.first { $0["current"] as? Bool == false }?["id"] as? String)
            #expect(try await client.send(.delete, "/v1/auth/sessions/\(phoneSession)", token: tablet.access).status == 204)
            #expect(try await client.send(.get, "/v1/auth/me", token: phone.access).status == 401)
            #expect(try await client.send(.delete, "/v1/auth/sessions/\(phoneSession)", token: tablet.access).status == 404)
            // Another user's session id is not found, not ended.
            #expect(try await client.send(.delete, "/v1/auth/sessions/\(eve.session)", token: tablet.access).status == 404)
            #expect(try await client.send(.get, "/v1/auth/me", token: eve.access).status == 200)
            _ = patient
        }
    }

    // MARK: - 11.6 no secrets at rest; idempotency after authentication

    @Test func tokenAnswersAreNeverStoredAndAUsedKeyWithoutATokenIs401() async throws {
        let harness = Harness()
        let patient = try await harness.world.account("pat@mail.test", role: .patient)
        let doctor = try await harness.world.account("doc@clinic.test", role: .doctor)
        try await harness.run { client in
            let login = try await client.send(
                .post, "/v1/auth/login", json: #"{"email":"pat@mail.test","password":"\#(TestFleet.password)"}"#,
                headers: ["Idempotency-Key": "login-1"])
            #expect(login.status == 200)
            #expect(harness.world.with { $0.idempotency.isEmpty }, "a login's answer (with its tokens) is not stored")
            let again = try await client.send(
                .post, "/v1/auth/login", json: #"{"email":"pat@mail.test","password":"\#(TestFleet.password)"}"#,
                headers: ["Idempotency-Key": "login-1"])
            #expect(again.status == 200 && again.json["refreshToken"] as? String != login.json["refreshToken"] as? String)

            let token = try #require(login.json["accessToken"] as? String)
            let start = WireCoding.formatTimestamp(Date().addingTimeInterval(3 * 86400))
            let body = #"{"doctorId":"\#(doctor.id)","startsAt":"\#(start)"}"#
            let first = try await client.send(.post, "/v1/appointments", json: body, token: token, headers: ["Idempotency-Key": "k-1"])
            #expect(first.status == 202)
            let replay = try await client.send(.post, "/v1/appointments", json: body, token: token, headers: ["Idempotency-Key": "k-1"])
            #expect(replay.status == 202 && replay.headers[HTTPField.Name("Idempotent-Replayed")!] == "true")
            #expect(harness.world.with { $0.commands.count } == 1)
            // The same key without a token: 401, like any anonymous request (not 422, not the replay).
            let anonymous = try await client.send(.post, "/v1/appointments", json: body, headers: ["Idempotency-Key": "k-1"])
            #expect(anonymous.status == 401, "\(anonymous.text)")
            _ = patient
        }
    }

    // MARK: - 11.7 registration tells nobody which addresses exist

    @Test func registrationAnswersTheSameForANewAndAnExistingAddress() async throws {
        let harness = Harness()
        try await harness.world.account("taken@mail.test", role: .patient)
        try await harness.run { client in
            let new = try await client.send(
                .post, "/v1/auth/register", json: #"{"email":"fresh@mail.test","password":"an attacker password","displayName":"F"}"#)
            let existing = try await client.send(
                .post, "/v1/auth/register", json: #"{"email":"taken@mail.test","password":"an attacker password","displayName":"T"}"#)
            #expect(new.status == 202 && existing.status == 202)
            #expect(new.text == existing.text, "the same body either way")
            let emails = harness.world.with { $0.accountEmails }
            #expect(emails.map(\.kind) == [.verifyEmail, .alreadyRegistered])
            #expect(emails[0].link?.contains("/verify-email?token=") == true && emails[1].link == nil)
            // The new account cannot sign in before it verifies: the same 401 as a wrong password.
            let early = try await client.send(.post, "/v1/auth/login", json: #"{"email":"fresh@mail.test","password":"an attacker password"}"#)
            let wrong = try await client.send(.post, "/v1/auth/login", json: #"{"email":"taken@mail.test","password":"an attacker password"}"#)
            #expect(early.status == 401 && wrong.status == 401 && early.text == wrong.text, "\(early.text) \(wrong.text)")
            // The emailed token verifies and signs in, once.
            let token = try #require(emails[0].link?.components(separatedBy: "token=").last)
            let verified = try await client.send(.post, "/v1/auth/verify-email", json: #"{"token":"\#(token)"}"#)
            #expect(verified.status == 200 && verified.json["accessToken"] != nil, "\(verified.text)")
            #expect(try await client.send(.post, "/v1/auth/verify-email", json: #"{"token":"\#(token)"}"#).status == 422)
            let login = try await client.send(.post, "/v1/auth/login", json: #"{"email":"fresh@mail.test","password":"an attacker password"}"#)
            #expect(login.status == 200)
        }
    }

    // MARK: - 11.8 405 with Allow

    @Test func anUnsupportedMethodOnAKnownPathIs405WithAllow() async throws {
        try await Harness().run { client in
            let delete = try await client.send(.delete, "/v1/appointments")
            #expect(delete.status == 405)
            let allow = delete.headers[.allow].map { Set($0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }) }
            #expect(allow == ["GET", "POST"])
            #expect(try await client.send(.put, "/v1/appointments/\(UUID())/cancel").headers[.allow] == "POST")
            #expect(try await client.send(.get, "/v1/nothing-here").status == 404)
        }
    }

    // MARK: - 11.11 lower-case ids

    @Test func idsComeBackInCanonicalLowerCase() async throws {
        let harness = Harness()
        let user = try await harness.world.account("pat@mail.test", role: .patient)
        try await harness.run { client in
            let me = try await client.send(.get, "/v1/auth/me", token: try await client.token("pat@mail.test").access)
            #expect(me.json["id"] as? String == user.id.uuidString.lowercased())
            #expect(me.json["tenantId"] as? String == user.tenantId.uuidString.lowercased())
            #expect(!me.text.contains(user.id.uuidString), "no upper-case form anywhere")
        }
    }

    // MARK: - 12: a command the broker did not take is a 503 and nothing says pending

    @Test func aCommandTheBrokerDidNotTakeIs503AndLeavesNothingPending() async throws {
        let harness = Harness()
        try await harness.world.account("pat@mail.test", role: .patient)
        let doctor = try await harness.world.account("doc@clinic.test", role: .doctor)
        try await harness.run { client in
            let token = try await client.token("pat@mail.test").access
            harness.world.with { $0.brokerDown = true }
            let start = WireCoding.formatTimestamp(Date().addingTimeInterval(3 * 86400))
            let answer = try await client.send(.post, "/v1/appointments", json: #"{"doctorId":"\#(doctor.id)","startsAt":"\#(start)"}"#, token: token)
            #expect(answer.status == 503 && answer.headers[.retryAfter] != nil, "\(answer.text)")
            #expect(harness.world.with { $0.issued.isEmpty && $0.commands.isEmpty })
        }
    }
}
