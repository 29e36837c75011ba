import Analytics
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
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A fleet of its own for one test: a namespace (its own topics and groups), a migrated
/// database, the ingress on a free port and (optionally) a booking worker, all in this process.
struct TestFleet: Sendable {
    let namespace: FleetNamespace
    let databaseURL: String
    let baseURL: String
    let database: PostgresPool

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

        static let bookingOnly = Workers()
        static let none = Workers(booking: false)
    }

    /// Runs `body` with a fleet; everything is shut down afterwards.
    static func with<R: Sendable>(
        bookingWorker: Bool = true, _ body: @Sendable (TestFleet) async throws -> R
    ) async throws -> R {
        try await with(workers: Workers(booking: bookingWorker), body)
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
            let services = IngressServices(
                database: pool, producer: try KafkaProducer(config: kafka), admin: admin,
                tokens: AccessTokens(secret: secret, lifetime: 900), passwords: Passwords(cost: 4), namespace: namespace,
                refreshLifetime: 86400, loginLimits: LoginLimits(perAccount: 5, perAddress: 50, window: 900),
                metrics: PrometheusCollectorRegistry(), logger: logger)
            let port = try freeLoopbackPort()
            let app = Application(
                router: IngressApplication.router(services),
                configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: port)), logger: logger)
            var serviceList: [any Service] = [app]
            if workers.booking {
                serviceList.append(try Self.bookingWorker(namespace: namespace, pool: pool, kafka: kafka, logger: logger))
            }
            if workers.notifications {
                serviceList += try Self.notificationWorker(
                    namespace: namespace, pool: pool, kafka: kafka, offsets: workers.reminderOffsets, logger: logger)
            }
            if workers.analytics {
                let group = namespace.group(ConsumerGroups.analytics)
                serviceList.append(
                    try ConsumerWorker(
                        settings: WorkerSettings(
                            group: group, catalogs: namespace.catalogs(for: group), commitInterval: .milliseconds(100),
                            shutdownDeadline: .seconds(5)),
                        kafka: kafka, handler: AnalyticsHandler(pool: pool), logger: logger))
            }
            if let smtpURL = workers.smtpURL {
                serviceList.append(
                    try Self.emailWorker(
                        namespace: namespace, pool: pool, kafka: kafka, smtpURL: smtpURL, ladder: workers.emailLadder,
                        rate: workers.emailRate, logger: logger))
            }
            let group = ServiceGroup(services: serviceList, logger: logger)
            let fleet = TestFleet(namespace: namespace, databaseURL: url, baseURL: "http://127.0.0.1:\(port)", database: pool)
            return try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                do {
                    try await eventually(timeout: .seconds(10), "the ingress listens") {
                        (try? await fleet.api.get("/health/live").status) == 200
                    }
                    let value = try await body(fleet)
                    await group.triggerGracefulShutdown()
                    try await tasks.waitForAll()
                    await services.producer.close()
                    return value
                } catch {
                    await group.triggerGracefulShutdown()
                    try? await tasks.waitForAll()
                    throw error
                }
            }
        }
    }

    static func bookingWorker(namespace: FleetNamespace, pool: PostgresPool, kafka: KafkaConfig, logger: Logger) throws
        -> ConsumerWorker
    {
        let group = namespace.group(ConsumerGroups.booking)
        let settings = WorkerSettings(
            group: group, catalogs: namespace.catalogs(for: group), commitInterval: .milliseconds(100),
            shutdownDeadline: .seconds(5))
        let handler = BookingHandler(
            pool: pool, producer: try KafkaProducer(config: kafka),
            eventsTopic: namespace.topicName(Topics.appointmentEvents.name), logger: logger)
        return try ConsumerWorker(settings: settings, kafka: kafka, batchHandler: handler, logger: logger)
    }

    static func notificationWorker(
        namespace: FleetNamespace, pool: PostgresPool, kafka: KafkaConfig, offsets: [Duration], logger: Logger
    ) throws -> [any Service] {
        let group = namespace.group(ConsumerGroups.notification)
        let producer = try KafkaProducer(config: kafka)
        let emailTopic = namespace.topicName(Topics.notificationEmail.name)
        let handler = NotificationHandler(
            pool: pool, producer: producer, emailTopic: emailTopic, reminders: ReminderSchedule(offsets: offsets), logger: logger)
        let worker = try ConsumerWorker(
            settings: WorkerSettings(
                group: group, catalogs: namespace.catalogs(for: group), commitInterval: .milliseconds(100),
                shutdownDeadline: .seconds(5)),
            kafka: kafka, handler: handler, logger: logger)
        let sender = ReminderSender(pool: pool, producer: producer, emailTopic: emailTopic, interval: .milliseconds(300), logger: logger)
        return [worker, sender]
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
            kafka: kafka, handler: handler, logger: logger)
    }

    var api: APIClient { APIClient(baseURL: baseURL) }

    var eventsTopic: String { namespace.topicName(Topics.appointmentEvents.name) }
    var commandsTopic: String { namespace.topicName(Topics.appointmentCommands.name) }

    // MARK: - People

    /// An admin of `tenant`, made directly in the database (the first admin of a clinic has to
    /// come from somewhere: in production `fleet seed` or an operator's SQL).
    func admin(tenant: UUID = Tenants.defaultTenant) async throws -> Session {
        let email = "admin-\(UUID().uuidString.prefix(8).lowercased())@clinic.test"
        let hash = await Passwords(cost: 4).hash(TestFleet.password)
        try await database.withConnection { connection in
            _ = try await ClinicStore.createTenant(name: "Clinic \(tenant)", id: tenant, on: connection)
            _ = try await ClinicStore.createUser(
                tenantId: tenant, email: email, passwordHash: hash, role: .admin, displayName: "Admin", on: connection)
        }
        return try await login(email, tenant: tenant)
    }

    static let password = "a long enough password"

    func register(_ name: String = "Patient", tenant: UUID? = nil) async throws -> Session {
        let email = "\(name.lowercased().replacingOccurrences(of: " ", with: "-"))-\(UUID().uuidString.prefix(8).lowercased())@mail.test"
        let response = try await api.post(
            "/v1/auth/register", ["email": email, "password": TestFleet.password, "displayName": name],
            headers: tenant.map { ["X-Tenant-Id": $0.uuidString] } ?? [:])
        try #require(response.status == 201, "\(response.text)")
        return try Session(response.json)
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

    init(_ json: [String: Any]) throws {
        accessToken = try #require(json["accessToken"] as? String)
        refreshToken = try #require(json["refreshToken"] as? String)
        let user = try #require(json["user"] as? [String: Any])
        userId = try #require(UUID(uuidString: user["id"] as? String ?? ""))
        tenantId = try #require(UUID(uuidString: user["tenantId"] as? String ?? ""))
        role = try #require(user["role"] as? String)
        email = try #require(user["email"] as? String)
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
