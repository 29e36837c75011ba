import Clinic
import Contracts
import Foundation
import Kafka
import Postgres
import TestSupport
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A fleet of real processes for the console's tests: its own namespace and database, a clinic
/// with two doctors, a platform operator, the booking and analytics workers and the console
/// (each started from the build folder, as `scripts/local` starts them).
struct ConsoleFixture: Sendable {
    let namespace: FleetNamespace
    let databaseURL: String
    let kafka: KafkaConfig
    let consoleURL: String
    let pool: PostgresPool
    let clinic: UUID
    let doctors: [UUID]
    let patient: UUID
    /// Worker names and their operations endpoints, as the console is configured with them.
    let workers: [String: String]
    /// The ingress, when the fixture runs the live path too (`live: true`).
    var ingressURL = ""

    static let operatorEmail = "operator@platform.test"
    static let password = "a long enough password"
    static let clinicAdminEmail = "admin@riverside.test"

    var commandsTopic: String { namespace.topicName(Topics.appointmentCommands.name) }
    var eventsTopic: String { namespace.topicName(Topics.appointmentEvents.name) }
    var emailTopic: String { namespace.topicName(Topics.notificationEmail.name) }
    var bookingGroup: ConsumerGroupSpec { namespace.group(ConsumerGroups.booking) }
    var commandsDeadLetterTopic: String { bookingGroup.deadLetterTopic(of: commandsTopic) }
    var emailGroupName: String { namespace.group(ConsumerGroups.email).name }

    /// With `live`, the notification worker and the ingress run too (for what a patient's browser sees).
    static func with<R: Sendable>(live: Bool = false, _ body: (ConsoleFixture) async throws -> R) async throws -> R {
        let namespace = try #require(FleetNamespace("c\(UUID().uuidString.prefix(8).lowercased())"))
        let kafka = try await TestKafka.config()
        _ = try await KafkaAdmin(config: kafka).createTopics(
            namespace.allTopics.map { NewTopic(name: $0.name, partitions: $0.partitions, replicationFactor: 1) })
        return try await TestDatabase.with { url in
            let pool = PostgresPool(url: url, maximumConnections: 4)
            defer { pool.close() }
            let people = try await Self.people(pool)
            let common = [
                "CAREFLEET_DATABASE_URL": url, "CAREFLEET_FLEET_NAMESPACE": namespace.prefix, "CAREFLEET_LOG_LEVEL": "warning",
                "CAREFLEET_WORKER_COMMIT_INTERVAL": "100ms", "CAREFLEET_WORKER_SHUTDOWN_DEADLINE": "3s", "CAREFLEET_HTTP_ACCESS_LOG": "false",
            ]
            var workers: [String: String] = [:]
            var processes: [ProgramProcess] = []
            let ingressPort = try freeLoopbackPort()
            let running = ["booking-worker", "analytics-worker"] + (live ? ["notification-worker", "waitlist-worker"] : [])
            for name in running {
                let port = try freeLoopbackPort()
                workers[name] = "http://127.0.0.1:\(port)"
                processes.append(
                    try await ProgramProcess(
                        name,
                        environment: common.merging([
                            "CAREFLEET_HTTP_PORT": String(port), "CAREFLEET_INGRESS_PUBLIC_URL": "http://127.0.0.1:\(ingressPort)",
                        ]) { $1 }))
            }
            // A worker the configuration names but that does not run: the console must say so.
            workers["email-worker"] = "http://127.0.0.1:\(try freeLoopbackPort())"
            let consolePort = try freeLoopbackPort()
            let listed = workers.keys.sorted().map { "\($0)=\(workers[$0] ?? "")" }.joined(separator: ",")
            let console = try await ProgramProcess(
                "console",
                environment: common.merging([
                    "CAREFLEET_HTTP_PORT": String(consolePort), "CAREFLEET_OPERATIONS_WORKERS": listed, "CAREFLEET_AUTH_BCRYPT_COST": "4",
                ]) { $1 })
            processes.append(console)
            var fixture = ConsoleFixture(
                namespace: namespace, databaseURL: url, kafka: kafka, consoleURL: "http://127.0.0.1:\(consolePort)", pool: pool,
                clinic: people.clinic, doctors: people.doctors, patient: people.patient, workers: workers)
            if live {
                let port = ingressPort
                processes.append(
                    try await ProgramProcess(
                        "ingress",
                        environment: common.merging(["CAREFLEET_HTTP_PORT": String(port), "CAREFLEET_INGRESS_STREAMS_HEARTBEAT": "300ms"]) { $1 }))
                fixture.ingressURL = "http://127.0.0.1:\(port)"
            }
            do {
                try await eventually(timeout: .seconds(30), "the console answers") {
                    guard console.isRunning else { throw FixtureError("the console exited: \(console.log)") }
                    return (try? await fixture.get("/health").status) == 200
                }
                if live {
                    try await eventually(timeout: .seconds(30), "the ingress is ready") {
                        (try? await fixture.get(fixture.ingressURL + "/health/ready", absolute: true).status) == 200
                    }
                }
                for name in running {
                    try await eventually(timeout: .seconds(30), "\(name) consumes") {
                        let health = try? await fixture.get((workers[name] ?? "") + "/health", absolute: true)
                        return health?.text.contains("\"ok\"") == true && health?.text.contains("\"assignedPartitions\":0") == false
                    }
                }
                let value = try await body(fixture)
                for process in processes { process.signal(SIGTERM) }
                for process in processes { _ = await process.waitForExit(timeout: .seconds(10)) }
                return value
            } catch {
                for process in processes where !process.log.isEmpty {
                    FileHandle.standardError.write(Data("--- \(process.process.executableURL?.lastPathComponent ?? "?") log:\n\(process.log.suffix(4000))\n".utf8))
                }
                throw error
            }
        }
    }

    /// A clinic (UTC) with two doctors who work every day from 08:00 to 18:00, a patient, a
    /// clinic admin and a platform operator.
    static func people(_ pool: PostgresPool) async throws -> (clinic: UUID, doctors: [UUID], patient: UUID) {
        let identity = PostgresIdentityStore(pool: pool)
        let directory = PostgresDirectoryStore(pool: pool)
        let hash = try await Passwords(cost: 4).hash(password)
        let clinic = UUID()
        _ = try await identity.createTenant(Tenant(id: clinic, name: "Riverside Clinic", timeZone: "UTC"))
        let audit = AuditEntry("test_account", tenant: clinic, user: nil)
        var doctors: [UUID] = []
        for name in ["Dr. Ada Lovelace", "Dr. Grace Hopper"] {
            let account = NewAccount(
                tenantId: clinic, email: "\(name.split(separator: " ").last?.lowercased() ?? "doctor")@riverside.test", passwordHash: hash,
                role: .doctor, displayName: name, emailVerified: true)
            let hours = (1...7).compactMap { day in
                LocalTime("08:00").flatMap { start in LocalTime("18:00").map { WeeklyInterval(weekday: day, start: start, end: $0) } }
            }
            _ = try await directory.createDoctor(
                account, profile: Doctor(id: account.id, tenantId: clinic, displayName: name, settings: DoctorSettings(timeZone: "UTC")),
                hours: hours, audit: audit)
            doctors.append(account.id)
        }
        let patient = try await identity.createAccount(
            NewAccount(tenantId: clinic, email: "pat@riverside.test", passwordHash: hash, role: .patient, displayName: "Pat Patient", emailVerified: true),
            audit: audit)
        _ = try await identity.createAccount(
            NewAccount(tenantId: clinic, email: clinicAdminEmail, passwordHash: hash, role: .admin, displayName: "Clinic Admin", emailVerified: true),
            audit: audit)
        _ = try await identity.createAccount(
            NewAccount(
                tenantId: Tenants.platformTenant, email: operatorEmail, passwordHash: hash, role: .platform, displayName: "Olga Operator",
                emailVerified: true),
            audit: AuditEntry("test_account", tenant: Tenants.platformTenant, user: nil))
        return (clinic, doctors, patient.id)
    }

    // MARK: - Messages

    /// Appointment requests through the booking worker: a few booked, some declined (a slot taken
    /// twice, a time outside the doctor's hours), over the next days.
    func bookAppointments() async throws -> Int {
        let producer = try KafkaProducer(config: kafka)
        let today = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 / 86400).rounded(.down) * 86400)  // midnight UTC
        var requests: [(UUID, Date)] = []
        for (index, doctor) in doctors.enumerated() {
            for day in 1...3 {
                for hour in [9, 10, 11, 14].prefix(2 + (day + index) % 3) {
                    requests.append((doctor, today.addingTimeInterval(Double(day * 86400 + hour * 3600))))
                }
            }
            requests.append((doctor, today.addingTimeInterval(Double(86400 + 9 * 3600))))  // taken already
            requests.append((doctor, today.addingTimeInterval(Double(2 * 86400 + 3 * 3600))))  // outside hours
        }
        for (doctor, start) in requests {
            let envelope = Envelope(
                correlationId: "console-test", tenantId: clinic, actor: Principal(role: .patient, userId: patient),
                payload: RequestAppointment(
                    appointmentId: UUID(), doctorId: doctor, patientId: patient, startsAt: start, endsAt: start.addingTimeInterval(1800), reason: nil))
            _ = try await producer.send(ProducerRecord(topic: commandsTopic, key: doctor.canonical, value: try envelope.encoded()))
        }
        await producer.close()
        return requests.count
    }

    /// A message no worker can read, with markup and bytes that are not UTF-8 in it: the
    /// booking worker dead-letters it at once.
    func publishPoison() async throws -> DeliveryReport {
        let producer = try KafkaProducer(config: kafka)
        var payload = Data(#"{"type":"<script>alert('dead letter')</script>","bytes":""#.utf8)
        payload.append(contentsOf: [0xff, 0xfe, 0x00, 0x1b])
        payload.append(Data(#""}"#.utf8))
        let report = try await producer.send(ProducerRecord(topic: commandsTopic, key: "poison-<b>key</b>", value: payload))
        await producer.close()
        return report
    }

    /// `count` messages on notifications.email, which no running worker consumes here.
    func publishEmails(_ count: Int) async throws {
        let producer = try KafkaProducer(config: kafka)
        for index in 0..<count {
            _ = try await producer.send(ProducerRecord(topic: emailTopic, key: "k\(index)", value: Data("{}".utf8)))
        }
        await producer.close()
    }

    /// Messages in the topic (over all partitions).
    func depth(_ topic: String) async throws -> Int64 {
        let admin = try KafkaAdmin(config: kafka)
        var total: Int64 = 0
        for partition in 0..<Int32(try await admin.partitionCount(of: topic) ?? 0) {
            let (low, high) = try await admin.watermarks(TopicPartition(topic, partition))
            total += high - low
        }
        return total
    }

    // MARK: - HTTP without a browser

    struct Answer: Sendable {
        let status: Int
        let text: String
        let headers: [String: String]
        let cookies: [String]
    }

    func get(_ path: String, absolute: Bool = false, cookie: String? = nil) async throws -> Answer {
        try await send("GET", path, absolute: absolute, form: nil, cookie: cookie)
    }

    func post(_ path: String, form: [(String, String)], cookie: String? = nil) async throws -> Answer {
        try await send("POST", path, absolute: false, form: form, cookie: cookie)
    }

    func send(_ method: String, _ path: String, absolute: Bool, form: [(String, String)]?, cookie: String?) async throws -> Answer {
        var request = URLRequest(url: try #require(URL(string: absolute ? path : consoleURL + path)))
        request.httpMethod = method
        request.timeoutInterval = 30
        request.httpShouldHandleCookies = false
        if let cookie { request.setValue(cookie, forHTTPHeaderField: "Cookie") }
        if let form {
            var allowed = CharacterSet.alphanumerics
            allowed.insert(charactersIn: "-._~")
            request.httpBody = Data(
                form.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")" }.joined(separator: "&").utf8)
            request.setValue("application/x-www-form-urlencoded", forHTTPHeaderField: "Content-Type")
        }
        let (data, response) = try await URLSession(configuration: .ephemeral, delegate: NoRedirects(), delegateQueue: nil).data(for: request)
        let http = response as? HTTPURLResponse
        var headers: [String: String] = [:]
        for (key, value) in http?.allHeaderFields ?? [:] { headers["\(key)".lowercased()] = "\(value)" }
        // Several Set-Cookie fields may be folded into one by Foundation; split them again.
        let cookies = (headers["set-cookie"] ?? "").components(separatedBy: ", console_").enumerated().map { $0.offset == 0 ? $0.element : "console_" + $0.element }
        return Answer(status: http?.statusCode ?? 0, text: String(decoding: data, as: UTF8.self), headers: headers, cookies: cookies.filter { !$0.isEmpty })
    }
}

/// Lets a test see a 303 and its cookies instead of following it.
final class NoRedirects: NSObject, URLSessionTaskDelegate, Sendable {
    func urlSession(
        _ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse, newRequest request: URLRequest,
        completionHandler: @escaping (URLRequest?) -> Void
    ) {
        completionHandler(nil)
    }
}
