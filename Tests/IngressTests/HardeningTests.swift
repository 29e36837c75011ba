import Analytics
import Contracts
import FleetConfiguration
import Foundation
import Ingress
import Kafka
import Logging
import Postgres
import Prometheus
import Runtime
import ServiceLifecycle
import TestSupport
import Testing

/// What a black-box attack found, against the real PostgreSQL and broker (issue "Hostile input
/// and sessions"); the in-process `RouteTests` cover the same routes' answers in detail.
@Suite("Hostile input and sessions, end to end", .timeLimit(.minutes(3)))
struct HardeningTests {
    @Test func hostileInputNeverReachesTheDatabaseAndIsNeverA500() async throws {
        try await TestFleet.with(bookingWorker: false) { fleet in
            let patient = try await fleet.register("Nul")
            let nulEmail = try await fleet.api.send(
                "POST", "/v1/auth/login", body: Data(#"{"email":"\#(patient.email)\u0000x","password":"wrong password!"}"#.utf8), token: nil,
                headers: [:])
            #expect(nulEmail.status == 422 && nulEmail.errorField == "email", "\(nulEmail.text)")
            let megabyte = String(repeating: "m", count: 1_000_000)
            let huge = try await fleet.api.send(
                "POST", "/v1/auth/login", body: Data(#"{"email":"\#(megabyte)@x.test","password":"p"}"#.utf8), token: nil, headers: [:])
            #expect(huge.status == 413, "\(huge.status)")
            let long = try await fleet.api.post("/v1/auth/login", ["email": String(repeating: "l", count: 5000) + "@x.test", "password": "p"])
            #expect(long.status == 422 && long.errorField == "email")
            for query in ["from=0001-01-01T00:00:00Z", "to=0000-01-01T00:00:00Z", "limit=-1", "offset=-5", "limit=abc"] {
                let answer = try await fleet.api.get("/v1/appointments?\(query)", token: patient.accessToken)
                #expect(answer.status == 400, "\(query): \(answer.text)")
            }
            let nulPassword = try await fleet.api.send(
                "POST", "/v1/auth/register", body: Data(#"{"email":"nulpw-\#(UUID())@mail.test","password":"\u0000123456789","displayName":"N"}"#.utf8),
                token: nil, headers: [:])
            #expect(nulPassword.status == 422 && nulPassword.errorField == "password")
            // Nothing truncated made it into the database.
            let truncated = try await fleet.database.query("SELECT count(*) AS n FROM identity.users WHERE email LIKE 'nulpw-%' OR email = ''")
            #expect(try truncated.first?.decode(Int.self, "n") == 0)
        }
    }

    @Test func aSessionEndedOnOneIngressCopyIsRefusedByAnother() async throws {
        try await TestFleet.with(workers: .init(booking: false, ingressConfig: ["auth.revocation.refresh": "200ms"])) { fleet in
            let patient = try await fleet.register("Two Copies")
            // A second copy of the ingress on the same database and broker, as a load balancer would have.
            var logger = Logger(label: "test.second")
            logger.logLevel = .critical
            let port = try freeLoopbackPort()
            let config = try TestFleet.config(
                namespace: fleet.namespace, databaseURL: fleet.databaseURL, kafka: fleet.kafka,
                extra: ["http.port": String(port), "auth.bcrypt.cost": "4", "auth.revocation.refresh": "200ms"])
            let second = try await IngressProgram.build(config, metrics: PrometheusCollectorRegistry(), logger: logger)
            let group = ServiceGroup(services: [second.application(logger: logger)] + second.backgroundTasks, logger: logger)
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                let other = APIClient(baseURL: "http://127.0.0.1:\(port)")
                try await eventually("the second copy listens") { (try? await other.get("/health/live").status) == 200 }
                #expect(try await other.get("/v1/auth/me", token: patient.accessToken).status == 200)
                // Logout on the first copy; the second refuses the token within its refresh interval.
                #expect(try await fleet.api.post("/v1/auth/logout", token: patient.accessToken).status == 204)
                #expect(try await fleet.api.get("/v1/auth/me", token: patient.accessToken).status == 401, "at once on the same copy")
                let started = ContinuousClock.now
                try await eventually(timeout: .seconds(5), "the other copy refuses the token") {
                    try await other.get("/v1/auth/me", token: patient.accessToken).status == 401
                }
                #expect(ContinuousClock.now - started < .seconds(2))
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
        }
    }

    @Test func sessionsAreListedWithDeviceAndAddressAndEndedOneByOne() async throws {
        try await TestFleet.with(bookingWorker: false) { fleet in
            let patient = try await fleet.register("Many Devices")
            let phone = try await fleet.api.post(
                "/v1/auth/login", ["email": patient.email, "password": TestFleet.password],
                headers: ["X-Tenant-Id": patient.tenantId.uuidString, "User-Agent": "CareFleet-iOS/2.1"])
            let phoneSession = try Session(phone.json)
            let listed = try await fleet.api.get("/v1/auth/sessions", token: patient.accessToken)
            let items = try #require(listed.json["items"] as? [[String: Any]])
            #expect(items.count == 2)
            let phoneItem = try #require(items.first { $0["id"] as? String == phoneSession.sessionId.uuidString.lowercased() })
            #expect(phoneItem["device"] as? String == "CareFleet-iOS/2.1")
            #expect(phoneItem["address"] as? String == "127.0.0.1")
            #expect(phoneItem["current"] as? Bool == false && phoneItem["lastUsedAt"] is String && phoneItem["createdAt"] is String)
            #expect(
                try await fleet.api.send("DELETE", "/v1/auth/sessions/\(phoneSession.sessionId)", body: nil, token: patient.accessToken, headers: [:])
                    .status == 204)
            #expect(try await fleet.api.get("/v1/auth/me", token: phoneSession.accessToken).status == 401)
            #expect(try await fleet.api.post("/v1/auth/refresh", ["refreshToken": phoneSession.refreshToken]).status == 401)
            #expect((try await fleet.api.get("/v1/auth/sessions", token: patient.accessToken).json["items"] as? [Any])?.count == 1)
        }
    }

    @Test func aRegistrationEmailsAVerificationLinkAndNoTokenIsEverStored() async throws {
        try await TestFleet.with(bookingWorker: false) { fleet in
            let email = "reg-\(UUID().uuidString.prefix(8).lowercased())@mail.test"
            let registered = try await fleet.api.post(
                "/v1/auth/register", ["email": email, "password": "a long enough password", "displayName": "Reggie"],
                headers: ["Idempotency-Key": "register-1"])
            #expect(registered.status == 202, "\(registered.text)")
            let again = try await fleet.api.post(
                "/v1/auth/register", ["email": email, "password": "another password", "displayName": "Reggie"])
            #expect(again.status == 202 && again.text == registered.text, "an existing address gets the same answer")
            let topic = fleet.namespace.topicName(Topics.notificationEmail.name)
            let messages = try await TestKafka.consume([topic], count: 2)
            let emails = try messages.compactMap { message -> AccountEmailRequested? in
                guard case .account(let request) = try NotificationEmail(try Catalogs.notificationEmail.decode(message.value ?? Data())) else {
                    return nil
                }
                return request
            }
            #expect(emails.map(\.kind).sorted { $0.rawValue < $1.rawValue } == [.alreadyRegistered, .verifyEmail])
            let link = try #require(emails.first { $0.kind == .verifyEmail }?.link)
            let token = try #require(URLComponents(string: link)?.queryItems?.first { $0.name == "token" }?.value)
            // The page behind the link shows a button; only pressing it verifies.
            let page = try await fleet.api.get("/verify-email?token=\(token)")
            #expect(page.status == 200 && page.text.contains("<form method=\"post\" action=\"/verify-email\">"))
            #expect(try await fleet.api.post("/v1/auth/login", ["email": email, "password": "a long enough password"]).status == 401)
            let verified = try await fleet.api.post("/v1/auth/verify-email", ["token": token])
            #expect(verified.status == 200, "\(verified.text)")
            let session = try Session(verified.json)
            #expect(session.email == email)
            // A login with an Idempotency-Key stores nothing (its answer holds tokens).
            let login = try await fleet.api.post(
                "/v1/auth/login", ["email": email, "password": "a long enough password"], headers: ["Idempotency-Key": "login-1"])
            #expect(login.status == 200)
            let stored = try await fleet.database.query("SELECT count(*) AS n FROM identity.idempotency_keys")
            #expect(try stored.first?.decode(Int.self, "n") == 0)
            let tokens = try await fleet.database.query(
                "SELECT count(*) AS n FROM identity.email_tokens WHERE token_hash = $1 AND used_at IS NOT NULL", [token])
            #expect(try tokens.first?.decode(Int.self, "n") == 0, "only the token's hash is kept")
        }
    }

    /// The operations port of a worker and the ingress bind to loopback unless `http.host` says
    /// otherwise: 127.0.0.2 is loopback too, and answers only when asked to listen there.
    @Test func programsListenOnLoopbackUnlessHttpHostSaysOtherwise() async throws {
        try await TestDatabase.with { url in
            let kafka = try await TestKafka.config()
            let namespace = try #require(FleetNamespace("h\(UUID().uuidString.prefix(8).lowercased())"))
            var logger = Logger(label: "test.host")
            logger.logLevel = .critical
            for host in [nil, "127.0.0.2"] {
                let port = try freeLoopbackPort()
                var extra = ["http.port": String(port)]
                if let host { extra["http.host"] = host }
                let config = try TestFleet.config(namespace: namespace, databaseURL: url, kafka: kafka, extra: extra)
                let program = try await WorkerProgram.build(
                    group: ConsumerGroups.analytics, config: config, registry: PrometheusCollectorRegistry(), logger: logger,
                    makeWorker: AnalyticsWorker.setup)
                let group = ServiceGroup(services: [program.operations], logger: logger)
                try await withThrowingTaskGroup(of: Void.self) { tasks in
                    tasks.addTask { try await group.run() }
                    let bound = host ?? "127.0.0.1"
                    let other = host == nil ? "127.0.0.2" : "127.0.0.1"
                    try await eventually("\(bound) answers") {
                        (try? await APIClient(baseURL: "http://\(bound):\(port)").get("/metrics").status) == 200
                    }
                    let elsewhere = try? await APIClient(baseURL: "http://\(other):\(port)").get("/metrics")
                    #expect(elsewhere == nil, "nothing listens on \(other):\(port)")
                    await group.triggerGracefulShutdown()
                    try await tasks.waitForAll()
                }
            }
        }
    }
}
