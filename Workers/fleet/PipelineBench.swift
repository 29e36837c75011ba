import ArgumentParser
import Contracts
import FleetConfiguration
import Foundation
import Kafka
import Synchronization

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Request to inbox: bookings sent through the ingress at a steady rate, each followed to its
/// decision (`appointments.events`), its in-app notification (`notifications.inapp`, published
/// once the notification is stored) and its email (the file the SMTP sink writes to its
/// Maildir); then higher rates, to find the highest the fleet sustains; then a burst straight
/// into `appointments.commands`, to see how fast the backlog drains. A decision and an in-app
/// notification count from their records' timestamps (set when the worker produced them, after
/// its commit); an email from the moment its file appears.
struct PipelineBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pipeline",
        abstract: "Latency from HTTP 202 to decision, in-app notification and email, at a steady rate; the highest steady rate; a burst's drain.",
        discussion: """
            Sets up a tenant of its own (doctors working around the clock, --patients patients, \
            who take turns), sends POST /v1/appointments at --rate per second for --seconds, and \
            follows every booking to its decision, the patient's in-app notification and the \
            patient's email in the SMTP \
            sink's Maildir (the first two timed by their records' timestamps, the email by inotify) (--maildir; scripts/local's sink writes to .local/mail). Then it tries \
            each of --step-rates for --step-seconds (a rate is sustained when every email of it \
            arrived within 5 s of its last request and the p95 to email stayed under 1 s), and \
            publishes --burst commands straight to the broker and measures the drain. Start the \
            fleet first (scripts/local up; a release build for figures that mean something).
            """)

    @OptionGroup var global: GlobalOptions
    @Option(help: "The ingress.") var url = "http://127.0.0.1:8080"
    @Option(help: "The SMTP sink's Maildir (its new/ is watched).") var maildir = ".local/mail"
    @Option(help: "Bookings per second in the steady phase.") var rate = 200
    @Option(help: "Seconds of the steady phase.") var seconds = 60
    @Option(help: "Rates tried after the steady phase, comma-separated (none: skip).") var stepRates = "400,800,1200"
    @Option(help: "Seconds of each step.") var stepSeconds = 10
    @Option(help: "Bookings published at once after the steps (0: skip).") var burst = 20_000
    @Option(help: "Doctors (bookings are spread over them, and so over partitions).") var doctors = 12
    @Option(
        help: """
            Patients, who take turns booking (emails are keyed by recipient: with one patient every \
            patient email is on one partition, sent in order by one lane).
            """)
    var patients = 24
    @Option(help: "Where to keep the figures as JSON.") var json: String?

    func validate() throws {
        try OptionCheck.atLeast(1, rate, "--rate")
        try OptionCheck.atLeast(1, seconds, "--seconds")
        _ = try OptionCheck.list(stepRates, atLeast: 1, "--step-rates")
        try OptionCheck.atLeast(1, stepSeconds, "--step-seconds")
        try OptionCheck.atLeast(0, burst, "--burst")
        try OptionCheck.atLeast(1, doctors, "--doctors")
        try OptionCheck.atLeast(1, patients, "--patients")
    }

    /// Nil percentiles when nothing arrived (JSON has no infinity).
    struct Latencies: Codable {
        var samples: Int
        var p50Milliseconds: Double?
        var p95Milliseconds: Double?
        var p99Milliseconds: Double?
    }

    struct Phase: Codable {
        var rate: Int
        var seconds: Int
        var sent: Int
        var accepted: Int
        /// Requests that got no 202, by reason as `BookingRefusal.reason` names it (`HTTP 503 …`,
        /// `client: URLError -1001`, …).
        var refused: [String: Int]
        var completed: Int
        var toDecided: Latencies
        var toInApp: Latencies
        var toEmail: Latencies
        var sustained: Bool
    }

    struct Burst: Codable {
        var bookings: Int
        var publishSeconds: Double
        /// From the last command published until the last of them is decided, notified and emailed.
        var drainAfterBurstSeconds: Double
        /// Bookings per second from the first command published to the last email.
        var drainRate: Double
        var completed: Int
    }

    struct Result: Codable {
        var benchmark = "pipeline"
        var patients: Int
        var steady: Phase
        var steps: [Phase]
        var highestSustainedRate: Int?
        var burst: Burst?
        var measuredAt: String
    }

    func run() async throws {
        let config = try global.load()
        let newMail = URL(fileURLWithPath: maildir).appendingPathComponent("new").path
        guard FileManager.default.fileExists(atPath: newMail) else { throw failure("no Maildir at \(newMail): --maildir") }
        let clinic = try await BenchClinic.make(config: config, ingress: url, doctors: doctors, patients: patients)
        let tracker = PipelineTracker(patients: Set(clinic.patients.map(\.id)))
        let namespace = try config.namespace()
        let kafka = KafkaConfig(properties: config.subtree("kafka"))
        let observer = try await PipelineObserver.start(
            kafka: kafka, events: namespace.topicName(Contracts.Topics.appointmentEvents.name),
            inApp: namespace.topicName(Contracts.Topics.inAppNotifications.name), tracker: tracker)
        let mail = try MaildirWatcher(directory: newMail) { name, at in tracker.mailArrived(path: newMail + "/" + name, at: at) }
        defer {
            observer.stop()
            mail.stop()
        }
        let slots = SlotSequence(doctors: clinic.doctors)
        let http = try BenchHTTPConnections(base: url)
        let sender = BookingSender(http: http, tokens: clinic.patients.map(\.token), tracker: tracker)

        log("steady: \(rate)/s for \(seconds) s")
        let steady = try await sender.phase(rate: rate, seconds: seconds, slots: slots)
        var steps: [Phase] = []
        for stepRate in try OptionCheck.list(stepRates, atLeast: 1, "--step-rates") {
            log("step: \(stepRate)/s for \(stepSeconds) s")
            let phase = try await sender.phase(rate: stepRate, seconds: stepSeconds, slots: slots)
            steps.append(phase)
            if !phase.sustained { break }
        }
        let sustained = ([steady] + steps).filter(\.sustained).map(\.rate).max()
        await http.shutdown()
        var burstResult: Burst?
        if burst > 0 {
            log("burst: \(burst) bookings straight into appointments.commands")
            burstResult = try await self.burst(clinic: clinic, slots: slots, kafka: kafka, namespace: namespace, tracker: tracker)
        }
        let result = Result(
            patients: patients, steady: steady, steps: steps, highestSustainedRate: sustained, burst: burstResult,
            measuredAt: WireCoding.formatTimestamp(Date()))
        print(Self.table(result))
        try BenchFigures.keep(result, bench: "pipeline", measuredAt: result.measuredAt, at: json)
    }

    private func burst(
        clinic: BenchClinic, slots: SlotSequence, kafka: KafkaConfig, namespace: FleetNamespace, tracker: PipelineTracker
    ) async throws -> Burst {
        let producer = try KafkaProducer(config: kafka)
        let topic = namespace.topicName(Contracts.Topics.appointmentCommands.name)
        let started = ContinuousClock.now
        var commands: [UUID] = []
        var sent = 0
        while sent < burst {
            let count = min(2000, burst - sent)
            var records: [(UUID, ProducerRecord)] = []
            for index in 0..<count {
                let (doctor, start) = slots.next()
                let patient = clinic.patients[(sent + index) % clinic.patients.count].id
                let envelope = Envelope(
                    correlationId: "bench-pipeline", tenantId: clinic.tenant, actor: Principal(role: .patient, userId: patient),
                    payload: RequestAppointment(
                        appointmentId: .timeOrdered(), doctorId: doctor, patientId: patient, startsAt: start,
                        endsAt: start.addingTimeInterval(clinic.slotSeconds), reason: nil))
                records.append((envelope.metadata.id, ProducerRecord(topic: topic, key: doctor.canonical, value: try envelope.encoded())))
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (_, record) in records { group.addTask { _ = try await producer.send(record) } }
                try await group.waitForAll()
            }
            let now = ContinuousClock.now
            for (command, _) in records { tracker.accepted(command, at: now) }
            commands += records.map(\.0)
            sent += count
        }
        await producer.close()
        let published = ContinuousClock.now
        let completed = await tracker.waitForCompletion(of: commands, within: .seconds(300))
        let last = tracker.lastArrival(of: commands) ?? ContinuousClock.now
        return Burst(
            bookings: burst, publishSeconds: (published - started).seconds, drainAfterBurstSeconds: max(0, (last - published).seconds),
            drainRate: Double(completed) / max(0.001, (last - started).seconds), completed: completed)
    }

    static func table(_ result: Result) -> String {
        func ms(_ value: Double?) -> String { value.map { String(format: "%.0f", $0) } ?? "–" }
        var rows = [
            [
                "PHASE", "RATE/S", "SENT", "ACCEPTED", "COMPLETE", "DECIDED P50/P95/P99 MS", "IN-APP P50/P95/P99 MS",
                "EMAIL P50/P95/P99 MS", "SUSTAINED",
            ]
        ]
        for (name, phase) in [("steady", result.steady)] + result.steps.map({ ("step", $0) }) {
            rows.append([
                name, String(phase.rate), String(phase.sent), String(phase.accepted), String(phase.completed),
                "\(ms(phase.toDecided.p50Milliseconds))/\(ms(phase.toDecided.p95Milliseconds))/\(ms(phase.toDecided.p99Milliseconds))",
                "\(ms(phase.toInApp.p50Milliseconds))/\(ms(phase.toInApp.p95Milliseconds))/\(ms(phase.toInApp.p99Milliseconds))",
                "\(ms(phase.toEmail.p50Milliseconds))/\(ms(phase.toEmail.p95Milliseconds))/\(ms(phase.toEmail.p99Milliseconds))",
                phase.sustained ? "yes" : "no",
            ])
        }
        var text = Table.render(rows) + "\n"
        for (name, phase) in [("steady", result.steady)] + result.steps.map({ ("step", $0) }) where !phase.refused.isEmpty {
            let reasons = phase.refused.sorted { $0.value > $1.value }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
            text += "\(name) at \(phase.rate)/s: no 202 for \(phase.sent - phase.accepted): \(reasons)\n"
        }
        let steady = result.steady
        text += "targets at \(steady.rate)/s: request → in-app p95 < 100 ms: "
            + ((steady.toInApp.p95Milliseconds ?? .infinity) < 100 && steady.completed == steady.sent ? "met" : "NOT met")
            + "; request → email p95 < 250 ms: "
            + ((steady.toEmail.p95Milliseconds ?? .infinity) < 250 && steady.completed == steady.sent ? "met" : "NOT met") + "\n"
        text += "highest sustained rate: \(result.highestSustainedRate.map { "\($0)/s" } ?? "none of those tried")\n"
        if let burst = result.burst {
            text += String(
                format: "burst of %d: published in %.1f s; everything decided, notified and emailed %.1f s after the last command"
                    + " (%d of %d); drain rate %.0f bookings/s; target (lag 0 within 10 s): %@\n",
                burst.bookings, burst.publishSeconds, burst.drainAfterBurstSeconds, burst.completed, burst.bookings, burst.drainRate,
                burst.drainAfterBurstSeconds <= 10 && burst.completed == burst.bookings ? "met" : "NOT met")
        }
        return text
    }

    private func log(_ line: String) {
        FileHandle.standardError.write(Data("bench: \(line)\n".utf8))
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
    var milliseconds: Double { seconds * 1000 }
}

/// Free slots handed out in order: each doctor's 30-minute grid from two days ahead, round robin.
final class SlotSequence: Sendable {
    private let doctors: [UUID]
    private let base: Double
    private let next_ = Mutex(0)

    init(doctors: [UUID]) {
        self.doctors = doctors
        // Midnight UTC two days ahead: on every doctor's grid (they work around the clock in UTC).
        base = ((Date().timeIntervalSince1970 / 86400).rounded(.down) + 2) * 86400
    }

    func next() -> (doctor: UUID, startsAt: Date) {
        let n = next_.withLock { value in
            defer { value += 1 }
            return value
        }
        return (doctors[n % doctors.count], Date(timeIntervalSince1970: base + Double(n / doctors.count) * 1800))
    }
}

/// Sends bookings at a steady rate and waits for each phase's bookings to come through.
struct BookingSender: Sendable {
    let http: BenchHTTPConnections
    /// One per patient; the patients take turns.
    let tokens: [String]
    let tracker: PipelineTracker

    func phase(rate: Int, seconds: Int, slots: SlotSequence) async throws -> PipelineBench.Phase {
        let total = rate * seconds
        let interval = Duration.seconds(1) / rate
        let clock = ContinuousClock()
        let start = clock.now
        let accepted = Shared<[UUID]>([])
        let refused = Shared<[String: Int]>([:])
        let sent = Shared(0)
        await withTaskGroup(of: Void.self) { group in
            for n in 0..<total {
                try? await clock.sleep(until: start + interval * n)
                let (doctor, startsAt) = slots.next()
                sent.state.withLock { $0 += 1 }
                let token = tokens[n % tokens.count]
                group.addTask {
                    do {
                        let command = try await http.book(doctor: doctor, startsAt: startsAt, token: token)
                        tracker.accepted(command, at: clock.now)
                        accepted.state.withLock { $0.append(command) }
                    } catch {
                        let reason = BookingRefusal.reason(error)
                        refused.state.withLock { $0[reason, default: 0] += 1 }
                    }
                }
            }
        }
        let commands = accepted.state.withLock { $0 }
        let completed = await tracker.waitForCompletion(of: commands, within: .seconds(5))
        let figures = tracker.latencies(of: commands)
        return PipelineBench.Phase(
            rate: rate, seconds: seconds, sent: sent.state.withLock { $0 }, accepted: commands.count,
            refused: refused.state.withLock { $0 }, completed: completed,
            toDecided: figures.decided, toInApp: figures.inApp, toEmail: figures.email,
            sustained: completed == total && (figures.email.p95Milliseconds ?? .infinity) < 1000)
    }
}

extension BenchHTTPConnections {
    /// POST /v1/appointments; the command id of its 202.
    func book(doctor: UUID, startsAt: Date, token: String) async throws -> UUID {
        let body = try JSONSerialization.data(withJSONObject: [
            "doctorId": doctor.canonical, "startsAt": WireCoding.formatTimestamp(startsAt),
        ])
        let (status, answer) = try await post("/v1/appointments", json: body, headers: [("Authorization", "Bearer \(token)")])
        let reply = try? JSONDecoder().decode(BookingReply.self, from: Data(answer.readableBytesView))
        guard status == 202, let command = reply?.commandId.flatMap(UUID.init(uuidString:)) else {
            throw BookingRefusal.answered(status: status, code: reply?.code)
        }
        return command
    }

    /// The members of a 202 (commandId) or an error answer (code) the bench reads.
    private struct BookingReply: Decodable {
        var commandId: String?
        var code: String?
    }
}

/// Why a booking request got no 202: the bench counts them by reason, so a rate that fails says
/// whether the ingress refused (and how) or the bench's own HTTP client gave up.
enum BookingRefusal: Error {
    case answered(status: Int, code: String?)

    static func reason(_ error: any Error) -> String {
        switch error {
        case BookingRefusal.answered(let status, let code): return "HTTP \(status)" + (code.map { " \($0)" } ?? "")
        case let error as URLError: return "client: URLError \(error.code.rawValue)"
        default: return "client: \(error)"
        }
    }
}

/// When each booking reached each stage. Arrivals are kept by their own key (command, event)
/// and joined at the end, because the observers may see a stage before the 202 is read.
final class PipelineTracker: Sendable {
    /// The bench's patients: only their notifications and emails are followed.
    let patients: Set<UUID>
    private let state = Mutex(State())

    private struct State {
        var accepted: [UUID: ContinuousClock.Instant] = [:]
        var decided: [UUID: (event: UUID, at: ContinuousClock.Instant)] = [:]
        var inApp: [UUID: ContinuousClock.Instant] = [:]
        var emailed: [UUID: ContinuousClock.Instant] = [:]
    }

    init(patients: Set<UUID>) {
        self.patients = patients
    }

    func accepted(_ command: UUID, at time: ContinuousClock.Instant) { state.withLock { $0.accepted[command] = time } }

    func decided(command: UUID, event: UUID, at time: ContinuousClock.Instant) {
        state.withLock { $0.decided[command] = (event, time) }
    }

    func notified(event: UUID, recipient: UUID, at time: ContinuousClock.Instant) {
        guard patients.contains(recipient) else { return }
        state.withLock { $0.inApp[event] = time }
    }

    /// A new file in the sink's Maildir: its `X-CareFleet-Key` is `<event id>:<recipient id>`.
    func mailArrived(path: String, at time: ContinuousClock.Instant) {
        guard let handle = FileHandle(forReadingAtPath: path) else { return }
        defer { try? handle.close() }
        guard let head = try? handle.read(upToCount: 16_384),
            let value = Self.headerValue("x-carefleet-key", in: head)
        else { return }
        let parts = value.split(separator: ":")
        guard parts.count == 2, let event = UUID(uuidString: String(parts[0])), let recipient = UUID(uuidString: String(parts[1])),
            patients.contains(recipient)
        else { return }
        state.withLock { $0.emailed[event] = time }
    }

    /// The value of a header (name in lower case) of a stored message, read from its bytes up to
    /// the blank line that ends the headers: the bench reads every email the sink stores while the
    /// fleet runs, and splitting whole files into lines of `String` cost it a fifth of its CPU.
    static func headerValue(_ name: String, in message: Data) -> String? {
        let name = Array(name.utf8)
        return message.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) -> String? in
            var start = 0
            while start < bytes.count {
                var end = start
                while end < bytes.count, bytes[end] != UInt8(ascii: "\n") { end += 1 }
                var lineEnd = end
                if lineEnd > start, bytes[lineEnd - 1] == UInt8(ascii: "\r") { lineEnd -= 1 }
                if lineEnd == start { return nil }  // the blank line: no such header
                if lineEnd - start > name.count, bytes[start + name.count] == UInt8(ascii: ":"),
                    (0..<name.count).allSatisfy({ Self.lowercased(bytes[start + $0]) == name[$0] })
                {
                    let value = String(decoding: bytes[(start + name.count + 1)..<lineEnd], as: UTF8.self)
                    return value.trimmingCharacters(in: .whitespaces)
                }
                start = end + 1
            }
            return nil
        }
    }

    private static func lowercased(_ byte: UInt8) -> UInt8 {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte + 32 : byte
    }

    private func finished(_ command: UUID, in state: State) -> ContinuousClock.Instant? {
        guard let decision = state.decided[command], let inApp = state.inApp[decision.event], let email = state.emailed[decision.event]
        else { return nil }
        return max(decision.at, inApp, email)
    }

    func waitForCompletion(of commands: [UUID], within limit: Duration) async -> Int {
        let deadline = ContinuousClock.now + limit
        while true {
            let done = state.withLock { state in commands.count(where: { finished($0, in: state) != nil }) }
            if done == commands.count || ContinuousClock.now >= deadline { return done }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    func lastArrival(of commands: [UUID]) -> ContinuousClock.Instant? {
        state.withLock { state in commands.compactMap { finished($0, in: state) }.max() }
    }

    func latencies(of commands: [UUID]) -> (decided: PipelineBench.Latencies, inApp: PipelineBench.Latencies, email: PipelineBench.Latencies) {
        var decided: [Double] = [], inApp: [Double] = [], email: [Double] = []
        state.withLock { state in
            for command in commands {
                guard let start = state.accepted[command], let decision = state.decided[command] else { continue }
                decided.append(max(0, (decision.at - start).milliseconds))
                if let time = state.inApp[decision.event] { inApp.append(max(0, (time - start).milliseconds)) }
                if let time = state.emailed[decision.event] { email.append(max(0, (time - start).milliseconds)) }
            }
        }
        return (Self.percentiles(decided), Self.percentiles(inApp), Self.percentiles(email))
    }

    static func percentiles(_ values: [Double]) -> PipelineBench.Latencies {
        let sorted = values.sorted()
        func at(_ share: Double) -> Double? {
            guard !sorted.isEmpty else { return nil }
            return sorted[min(sorted.count - 1, Int((Double(sorted.count) * share).rounded(.up)) - 1)]
        }
        return PipelineBench.Latencies(samples: sorted.count, p50Milliseconds: at(0.5), p95Milliseconds: at(0.95), p99Milliseconds: at(0.99))
    }
}

/// Follows `appointments.events` and `notifications.inapp` from their ends, without a consumer
/// group (so it never moves any worker's offsets).
final class PipelineObserver: Sendable {
    private let stopped = Atomic<Bool>(false)

    static func start(kafka: KafkaConfig, events: String, inApp: String, tracker: PipelineTracker) async throws -> PipelineObserver {
        let admin = try KafkaAdmin(config: kafka)
        var starts: [TopicPartitionOffset] = []
        for topic in [events, inApp] {
            guard let count = try await admin.partitionCount(of: topic, timeout: .seconds(5)) else {
                throw failure("topic \(topic) does not exist: run fleet topics ensure")
            }
            for partition in 0..<Int32(count) {
                let tp = TopicPartition(topic, partition)
                starts.append(TopicPartitionOffset(tp, offset: try await admin.watermarks(tp).high))
            }
        }
        let consumer = try KafkaConsumer(config: kafka, groupId: "carefleet-bench-pipeline-\(UUID.random().canonical)")
        try consumer.assign(starts)
        let observer = PipelineObserver()
        Task { await observer.follow(consumer, events: events, tracker: tracker) }
        return observer
    }

    func stop() { stopped.store(true, ordering: .relaxed) }

    private func follow(_ consumer: KafkaConsumer, events: String, tracker: PipelineTracker) async {
        while !stopped.load(ordering: .relaxed) {
            guard let messages = try? await consumer.poll(maxMessages: 2000, timeout: .milliseconds(50)) else { continue }
            let now = ContinuousClock.now
            let wallNow = Date()
            for message in messages {
                guard let value = message.value else { continue }
                // When the worker produced it (after committing the decision, or storing the
                // notification: visible to a reader from then on), not when this consumer's fetch
                // returned, which adds up to the bench's own fetch.wait.max.ms (100 ms against Tansu).
                let producedAt = message.age(at: wallNow).map { now - $0 } ?? now
                if message.topic == events {
                    guard let event = try? Catalogs.appointmentEvents.decode(value), let command = event.metadata.causationId else { continue }
                    tracker.decided(command: command, event: event.metadata.id, at: producedAt)
                } else if let notification = try? Catalogs.inAppNotifications.decode(value),
                    let created = notification.payload as? InAppNotificationCreated, let event = notification.metadata.causationId
                {
                    tracker.notified(event: event, recipient: created.recipientId, at: producedAt)
                }
            }
        }
        await consumer.close()
    }
}

/// Calls back for every file that appears in a directory (inotify: a Maildir delivery links or
/// renames a finished file into new/, so a file seen is a file complete).
final class MaildirWatcher: Sendable {
    private let descriptor: Int32
    private let stopped = Shared(false)

    init(directory: String, onFile: @escaping @Sendable (String, ContinuousClock.Instant) -> Void) throws {
        descriptor = inotify_init1(Int32(IN_CLOEXEC))
        guard descriptor >= 0 else { throw failure("inotify_init1 failed: errno \(errno)") }
        guard inotify_add_watch(descriptor, directory, UInt32(IN_CREATE | IN_MOVED_TO)) >= 0 else {
            close(descriptor)
            throw failure("cannot watch \(directory): errno \(errno)")
        }
        let descriptor = descriptor
        Thread.detachNewThread { [stopped] in
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while !stopped.state.withLock({ $0 }) {
                let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
                guard count > 0 else { return }
                let now = ContinuousClock.now
                var offset = 0
                let headerSize = MemoryLayout<inotify_event>.size
                while offset + headerSize <= count {
                    let nameLength = buffer.withUnsafeBytes { bytes in
                        Int(bytes.loadUnaligned(fromByteOffset: offset, as: inotify_event.self).len)
                    }
                    let nameStart = offset + headerSize
                    let nameBytes = buffer[nameStart..<min(count, nameStart + nameLength)].prefix { $0 != 0 }
                    if !nameBytes.isEmpty { onFile(String(decoding: nameBytes, as: UTF8.self), now) }
                    offset = nameStart + nameLength
                }
            }
        }
    }

    /// Stops at the next event; the descriptor closes with the process (a read in progress would
    /// otherwise read a closed, possibly reused, descriptor).
    func stop() { stopped.state.withLock { $0 = true } }
}

/// A value behind a lock that closures and threads can share.
final class Shared<Value: Sendable>: Sendable {
    let state: Mutex<Value>

    init(_ value: Value) {
        state = Mutex(value)
    }
}
