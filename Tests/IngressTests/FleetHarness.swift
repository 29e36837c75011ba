import Analytics
import Audit
import FleetConfiguration
import Booking
import Email
import Mail
import Notifications
import Clinic
import Contracts
import Foundation
import Hummingbird
import Ingress
import Kafka
import Logging
import Postgres
import Prometheus
import Runtime
import ServiceLifecycle
import TestSupport
import Waitlist
import Webhooks
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A fleet of its own for one test: a namespace (its own topics and groups), a migrated
/// database, the ingress on a free port and (optionally) workers, all in this process. The
/// ingress and the workers are built by the same code their executables' `main` runs
/// (`IngressProgram.build`, `WorkerProgram.build`), from `config/test.conf` plus overrides.
struct TestFleet: Sendable {
    let namespace: FleetNamespace
    let databaseURL: String
    let baseURL: String
    let database: PostgresPool
    let kafka: KafkaConfig
    /// Revocations, caches and stores of the running ingress (for tests of its internals).
    let ingress: IngressServices

    static let secret = "test-secret-0123456789-0123456789-0123456789"

    /// Which workers run beside the ingress.
    struct Workers: Sendable {
        var booking = true
        var notifications = false
        /// Reminder offsets of the notification worker.
        var reminderOffsets: [Duration] = [.seconds(86400)]
        /// The email worker's SMTP server (nil: no email worker).
        var smtpURL: String?
        var emailLadder = RetryLadder(
            attemptsPerStage: 2, initialBackoff: .milliseconds(200), maxBackoff: .seconds(1), jitter: 0.1,
            stageDelays: [.seconds(5), .seconds(10), .seconds(15)])
        var emailRate: Double = 0
        var analytics = false
        var audit = false
        /// The webhook worker with these configuration keys (nil: no webhook worker).
        var webhooks: [String: String]?
        var waitlist = false
        /// Extra configuration keys for the ingress (e.g. `auth.revocation.refresh`).
        var ingressConfig: [String: String] = [:]

        static let bookingOnly = Workers()
        static let none = Workers(booking: false)
    }

    /// Runs `body` with a fleet; everything is shut down afterwards.
    static func with<R: Sendable>(
        bookingWorker: Bool = true, _ body: @Sendable (TestFleet) async throws -> R
    ) async throws -> R {
        try await with(workers: Workers(booking: bookingWorker), body)
    }

    /// The configuration every program of a test fleet reads: `config/test.conf` with the test
    /// services' addresses, the fleet's namespace and `extra` keys.
    static func config(namespace: FleetNamespace, databaseURL: String, kafka: KafkaConfig, extra: [String: String]) throws -> FleetConfig {
        var environment: [String: String] = [
            "CAREFLEET_DATABASE_URL": databaseURL, "CAREFLEET_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrapServers ?? "",
            "CAREFLEET_FLEET_NAMESPACE": namespace.prefix, "CAREFLEET_AUTH_JWT_SECRET": secret,
            "CAREFLEET_WORKER_COMMIT_INTERVAL": "100ms", "CAREFLEET_WORKER_SHUTDOWN_DEADLINE": "5s",
            "CAREFLEET_LOG_LEVEL": "error", "CAREFLEET_HTTP_ACCESS_LOG": "false",
        ]
        for (key, value) in extra { environment[FleetConfig.variable(forKey: key)] = value }
        return try FleetConfig.load(
            environment: "test", directory: ServicesProcess.projectRoot.appendingPathComponent("config").path,
            processEnvironment: environment)
    }

    static func with<R: Sendable>(workers: Workers, _ body: @Sendable (TestFleet) async throws -> R) async throws -> R {
        let namespace = try #require(FleetNamespace("t\(UUID().uuidString.prefix(8).lowercased())"))
        let kafka = try await TestKafka.config()
        let admin = try KafkaAdmin(config: kafka)
        _ = try await admin.createTopics(namespace.allTopics.map { NewTopic(name: $0.name, partitions: $0.partitions, replicationFactor: 1) })
        return try await TestDatabase.with { url in
            var logger = Logger(label: "test.fleet")
            logger.logLevel = .error
            let pool = PostgresPool(url: url, maximumConnections: 10)
            defer { pool.close() }
            let port = try freeLoopbackPort()
            func config(_ extra: [String: String]) throws -> FleetConfig {
                try Self.config(namespace: namespace, databaseURL: url, kafka: kafka, extra: extra)
            }
            let program = try await IngressProgram.build(
                try config(["http.port": String(port), "auth.bcrypt.cost": "4", "auth.login.max.failures.address": "50"]
                    .merging(workers.ingressConfig) { $1 }),
                metrics: PrometheusCollectorRegistry(), logger: logger)
            var serviceList: [any Service] = [program.application(logger: logger)] + program.backgroundTasks
            if workers.booking {
                serviceList += try await Self.program(
                    ConsumerGroups.booking, config: try config([:]), logger: logger, makeWorker: BookingWorker.setup)
            }
            if workers.notifications {
                let offsets = workers.reminderOffsets.map { "\($0.components.seconds)s" }.joined(separator: ",")
                serviceList += try await Self.program(
                    ConsumerGroups.notification, config: try config(["notify.reminder.offsets": offsets, "notify.reminder.interval": "300ms"]),
                    logger: logger, makeWorker: NotificationWorker.setup)
            }
            if workers.analytics {
                serviceList += try await Self.program(
                    ConsumerGroups.analytics, config: try config([:]), logger: logger, makeWorker: AnalyticsWorker.setup)
            }
            if workers.audit {
                serviceList += try await Self.program(ConsumerGroups.audit, config: try config([:]), logger: logger, makeWorker: AuditWorker.setup)
            }
            if workers.waitlist {
                serviceList += try await Self.program(
                    ConsumerGroups.waitlist, config: try config(["ingress.public.url": "http://127.0.0.1:\(port)"]), logger: logger,
                    makeWorker: WaitlistWorker.setup)
            }
            if let webhookConfig = workers.webhooks {
                serviceList += try await Self.program(
                    ConsumerGroups.webhook, config: try config(webhookConfig), logger: logger, makeWorker: WebhookWorker.setup)
            }
            if let smtpURL = workers.smtpURL {
                serviceList.append(
                    try Self.emailWorker(
                        namespace: namespace, pool: pool, kafka: kafka, smtpURL: smtpURL, ladder: workers.emailLadder,
                        rate: workers.emailRate, logger: logger))
            }
            let group = ServiceGroup(services: serviceList, logger: logger)
            let fleet = TestFleet(
                namespace: namespace, databaseURL: url, baseURL: "http://127.0.0.1:\(port)", database: pool, kafka: kafka,
                ingress: program.services)
            return try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                do {
                    try await eventually(timeout: .seconds(10), "the ingress listens") {
                        (try? await fleet.api.get("/health/live").status) == 200
                    }
                    let value = try await body(fleet)
                    await group.triggerGracefulShutdown()
                    try await tasks.waitForAll()
                    return value
                } catch {
                    await group.triggerGracefulShutdown()
                    try? await tasks.waitForAll()
                    throw error
                }
            }
        }
    }

    /// A worker program as its executable builds it (its operations port on a free port).
    static func program(
        _ group: ConsumerGroupSpec, config: FleetConfig, logger: Logger, makeWorker: (WorkerEnvironment) async throws -> WorkerSetup
    ) async throws -> [any Service] {
        var values = config.values
        values["http.port"] = String(try freeLoopbackPort())
        let program = try await WorkerProgram.build(
            group: group, config: FleetConfig(environment: config.environment, values: values), registry: PrometheusCollectorRegistry(),
            logger: logger, makeWorker: makeWorker)
        return [program.worker, program.operations] + program.services
    }

    static func emailWorker(
        namespace: FleetNamespace, pool: PostgresPool, kafka: KafkaConfig, smtpURL: String, ladder: RetryLadder, rate: Double,
        logger: Logger
    ) throws -> ConsumerWorker {
        var group = namespace.group(ConsumerGroups.email)
        group.ladder = ladder
        let handler = EmailHandler(
            pool: pool, smtp: SMTPClient(settings: SMTPSettings(url: smtpURL, timeout: .seconds(5))),
            sender: MailAddress("appointments@carefleet.test", name: "CareFleet Test Clinic"), templates: try EmailTemplates(),
            rateLimiter: RateLimiter(perSecond: rate), logger: logger)
        return try ConsumerWorker(
            settings: WorkerSettings(
                group: group, catalogs: namespace.catalogs(for: group), commitInterval: .milliseconds(100),
                shutdownDeadline: .seconds(5)),
            kafka: kafka, batchHandler: handler, logger: logger)
    }

    var api: APIClient { APIClient(baseURL: baseURL) }

    var eventsTopic: String { namespace.topicName(Topics.appointmentEvents.name) }
    var commandsTopic: String { namespace.topicName(Topics.appointmentCommands.name) }

    /// Waits until every group has committed everything on its source topics (what a fixed sleep
    /// before a "nothing twice" check used to hope for): whatever a repeat would do is done.
    func caughtUp(_ groups: [ConsumerGroupSpec], timeout: Duration = .seconds(60)) async throws {
        let admin = try KafkaAdmin(config: kafka)
        for spec in groups {
            let group = namespace.group(spec)
            let topics = spec.sources.map { namespace.topicName($0.name) }
            try await eventually(timeout: timeout, "\(group.name) caught up") {
                try await admin.lag(group: group.name, topics: topics).allSatisfy { $0.lag == 0 }
            }
        }
    }

    // MARK: - People

    /// An admin of `tenant`, made through the identity store (the first admin of a clinic has to
    /// come from somewhere: in production `fleet tenants create` or `fleet seed`).
    func admin(tenant: UUID = Tenants.defaultTenant) async throws -> Session {
        let email = "admin-\(UUID().uuidString.prefix(8).lowercased())@clinic.test"
        try await account(email: email, role: .admin, name: "Admin", tenant: tenant)
        return try await login(email, tenant: tenant)
    }

    /// A verified account made through the identity store (and its tenant, if new).
    func account(email: String, role: Role, name: String, tenant: UUID) async throws {
        let identity = PostgresIdentityStore(pool: database)
        _ = try await identity.createTenant(Tenant(id: tenant, name: "Clinic \(tenant.uuidString.prefix(8))"))
        _ = try await identity.createAccount(
            NewAccount(
                tenantId: tenant, email: email, passwordHash: try await Passwords(cost: 4).hash(TestFleet.password), role: role,
                displayName: name, emailVerified: true),
            audit: AuditEntry("test_account", tenant: tenant, user: nil))
    }

    static let password = "a long enough password"

    /// A signed-in patient with a verified address. (Registration itself, with its emailed link, is
    /// tested in `RegistrationTests`.)
    func register(_ name: String = "Patient", tenant: UUID? = nil) async throws -> Session {
        let email = "\(name.lowercased().replacingOccurrences(of: " ", with: "-"))-\(UUID().uuidString.prefix(8).lowercased())@mail.test"
        try await account(email: email, role: .patient, name: name, tenant: tenant ?? Tenants.defaultTenant)
        return try await login(email, tenant: tenant ?? Tenants.defaultTenant)
    }

    func login(_ email: String, tenant: UUID = Tenants.defaultTenant, password: String = TestFleet.password) async throws -> Session {
        let response = try await api.post(
            "/v1/auth/login", ["email": email, "password": password], headers: ["X-Tenant-Id": tenant.uuidString])
        try #require(response.status == 200, "\(response.text)")
        return try Session(response.json)
    }

    /// A doctor created by `admin`, working every day `hours` in `timeZone`; signed in.
    func doctor(
        by admin: Session, timeZone: String = "Europe/Berlin", hours: (String, String) = ("08:00", "18:00"),
        slotMinutes: Int = 30, requiresConfirmation: Bool = false, extra: [String: Any] = [:]
    ) async throws -> (id: UUID, session: Session) {
        let email = "doctor-\(UUID().uuidString.prefix(8).lowercased())@clinic.test"
        var body: [String: Any] = [
            "email": email, "password": TestFleet.password, "displayName": "Dr. Test", "timeZone": timeZone,
            "slotMinutes": slotMinutes, "requiresConfirmation": requiresConfirmation,
            "hours": (1...7).map { ["weekday": $0, "start": hours.0, "end": hours.1] },
        ]
        body.merge(extra) { $1 }
        let response = try await api.post("/v1/doctors", body, token: admin.accessToken)
        try #require(response.status == 201, "\(response.text)")
        let id = try #require(UUID(uuidString: response.json["id"] as? String ?? ""))
        return (id, try await login(email, tenant: admin.tenantId))
    }

    // MARK: - Commands

    /// Polls the command until the booking worker decided it.
    func outcome(of commandId: String, token: String, timeout: Duration = .seconds(30)) async throws -> [String: Any] {
        var last: [String: Any] = [:]
        try await eventually(timeout: timeout, "command \(commandId) decided") {
            last = try await api.get("/v1/commands/\(commandId)", token: token).json
            return last["status"] as? String != "pending"
        }
        return last
    }

    /// Requests an appointment and waits until it is decided; the appointment id, or throws
    /// when it was declined.
    func book(_ patient: Session, doctor: UUID, startsAt: String, endsAt: String? = nil) async throws -> String {
        var body: [String: Any] = ["doctorId": doctor.uuidString, "startsAt": startsAt]
        if let endsAt { body["endsAt"] = endsAt }
        let requested = try await api.post("/v1/appointments", body, token: patient.accessToken)
        try #require(requested.status == 202, "\(requested.text)")
        let outcome = try await outcome(of: requested.json["commandId"] as? String ?? "", token: patient.accessToken)
        try #require(outcome["status"] as? String == "done", "\(outcome)")
        return try #require(requested.json["appointmentId"] as? String)
    }

    /// Posts an action on an appointment and waits for its outcome.
    @discardableResult
    func act(_ action: String, on appointment: String, _ body: [String: Any]? = nil, as session: Session) async throws -> [String: Any] {
        let answer = try await api.post("/v1/appointments/\(appointment)/\(action)", body, token: session.accessToken)
        try #require(answer.status == 202, "\(answer.text)")
        return try await outcome(of: answer.json["commandId"] as? String ?? "", token: session.accessToken)
    }

    /// The start of the first free slot of `doctor` in the coming week.
    func firstFreeSlot(_ doctor: UUID, token: String, daysAhead: Int = 2) async throws -> (startsAt: String, endsAt: String) {
        let slots = try await freeSlots(doctor, token: token, daysAhead: daysAhead)
        let slot = try #require(slots.first)
        return slot
    }

    func freeSlots(_ doctor: UUID, token: String, daysAhead: Int = 2, days: Int = 1) async throws -> [(startsAt: String, endsAt: String)] {
        let from = TestFleet.day(daysAhead)
        let to = TestFleet.day(daysAhead + days - 1)
        let response = try await api.get("/v1/doctors/\(doctor)/slots?from=\(from)&to=\(to)", token: token)
        try #require(response.status == 200, "\(response.text)")
        let slots = try #require(response.json["slots"] as? [[String: Any]])
        return slots.compactMap { slot in
            guard let start = slot["startsAt"] as? String, let end = slot["endsAt"] as? String else { return nil }
            return (start, end)
        }
    }

    /// `YYYY-MM-DD`, `days` from today (UTC).
    static func day(_ days: Int) -> String {
        let date = Date().addingTimeInterval(Double(days) * 86400)
        return String(WireCoding.formatTimestamp(date).prefix(10))
    }
}

/// A signed-in user.
struct Session: Sendable {
    let accessToken: String
    let refreshToken: String
    let userId: UUID
    let tenantId: UUID
    let role: String
    let email: String
    let sessionId: UUID

    init(_ json: [String: Any]) throws {
        accessToken = try #require(json["accessToken"] as? String)
        refreshToken = try #require(json["refreshToken"] as? String)
        let user = try #require(json["user"] as? [String: Any])
        userId = try #require(UUID(uuidString: user["id"] as? String ?? ""))
        tenantId = try #require(UUID(uuidString: user["tenantId"] as? String ?? ""))
        role = try #require(user["role"] as? String)
        email = try #require(user["email"] as? String)
        sessionId = try #require(UUID(uuidString: json["sessionId"] as? String ?? ""))
    }
}

/// JSON over HTTP to the ingress.
struct APIClient: Sendable {
    let baseURL: String

    struct Answer: @unchecked Sendable {  // JSON values from JSONSerialization, read by one test
        let status: Int
        let text: String
        let headers: [String: String]
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]) ?? [:] }
        var errorField: String? { ((json["error"] as? [String: Any])?["details"] as? [String: Any])?["field"] as? String }
        var errorCode: String? { (json["error"] as? [String: Any])?["code"] as? String }
    }

    func get(_ path: String, token: String? = nil) async throws -> Answer {
        try await send("GET", path, body: nil, token: token, headers: [:])
    }

    func post(_ path: String, _ body: [String: Any]? = nil, token: String? = nil, headers: [String: String] = [:]) async throws -> Answer {
        try await send("POST", path, body: try body.map { try JSONSerialization.data(withJSONObject: $0) }, token: token, headers: headers)
    }

    func send(_ method: String, _ path: String, body: Data?, token: String?, headers: [String: String]) async throws -> Answer {
        var request = URLRequest(url: try #require(URL(string: baseURL + path)))
        request.httpMethod = method
        request.httpBody = body
        request.timeoutInterval = 30
        if body != nil { request.setValue("application/json", forHTTPHeaderField: "Content-Type") }
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = response as? HTTPURLResponse
        var fields: [String: String] = [:]
        for (key, value) in http?.allHeaderFields ?? [:] { fields["\(key)".lowercased()] = "\(value)" }
        return Answer(status: http?.statusCode ?? 0, text: String(decoding: data, as: UTF8.self), headers: fields)
    }
}
