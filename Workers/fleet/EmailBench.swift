import ArgumentParser
import Contracts
import Foundation
import Kafka
import Postgres

/// Emails per second through the running email worker(s), against the SMTP server's own ceiling
/// measured in the same run.
struct EmailBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "email",
        abstract: "Emails delivered per second through the running email worker(s), against the SMTP server's ceiling.",
        discussion: """
            Measures the SMTP server's ceiling with the probe (messages/s over one reused \
            connection, and with a new connection each), publishes email requests to \
            notifications.email for a fresh tenant, waits until the worker(s) recorded every one \
            as delivered (the server said 250), and measures the ceiling again. The ratio is \
            delivered/s over the higher one-connection ceiling. With --maildir it also counts the \
            copies the server stored per key (each must be 1). Start the fleet first (scripts/local up).
            """)

    @OptionGroup var global: GlobalOptions
    @Option(help: "Email requests to publish.") var emails = 5000
    @Option(help: "Messages the ceiling probe sends over one connection (a quarter of them with a connection each).")
    var probeMessages = 1000
    @Option(help: "The ceiling probe (python3 script: host port count).") var probe = "/work/shared/bench/smtp_ceiling.py"
    @Option(help: "The SMTP server's Maildir, to count stored copies per key (default $CAREFLEET_MAILDIR).") var maildir: String?
    @Option(help: "Where to keep the figures as JSON.") var json: String?

    func validate() throws {
        try OptionCheck.atLeast(1, emails, "--emails")
        try OptionCheck.atLeast(4, probeMessages, "--probe-messages")
    }

    struct Ceiling: Codable {
        var oneConnection: Double
        var newConnectionEach: Double
    }

    struct Result: Codable {
        var benchmark = "email"
        var emails: Int
        var publishSeconds: Double
        var totalSeconds: Double
        var deliveredPerSecond: Double
        var ceilingBefore: Ceiling
        var ceilingAfter: Ceiling
        /// deliveredPerSecond / the higher one-connection ceiling.
        var ratio: Double
        /// Keys with more than one stored copy (nil when the Maildir was not read).
        var duplicates: Int?
        var measuredAt: String
    }

    func run() async throws {
        let config = try global.load()
        guard let smtpURL = URLComponents(string: try config.require("smtp.url")), let host = smtpURL.host, let port = smtpURL.port
        else { throw failure("smtp.url must look like smtp://host:port") }
        guard FileManager.default.fileExists(atPath: probe) else { throw failure("no ceiling probe at \(probe) (--probe)") }
        let pool = PostgresPool(url: try config.require("database.url"), maximumConnections: 2, applicationName: "fleet-bench")
        defer { pool.close() }

        let before = try Self.ceiling(probe: probe, host: host, port: port, messages: probeMessages)
        let run = UUID().uuidString.prefix(8).lowercased()
        let tenant = UUID()
        let topic = try config.namespace().topicName(Contracts.Topics.notificationEmail.name)
        let producer = try KafkaProducer(config: KafkaConfig(properties: config.subtree("kafka")))
        let started = ContinuousClock.now
        var sent = 0
        while sent < emails {
            let batch = min(2000, emails - sent)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for n in sent..<(sent + batch) {
                    let request = Self.request(run: run, n, tenant: tenant)
                    let value = try request.encoded()
                    let key = request.payload.recipient.userId.uuidString.lowercased()
                    group.addTask { try await producer.send(ProducerRecord(topic: topic, key: key, value: value)) }
                }
                try await group.waitForAll()
            }
            sent += batch
        }
        let published = ContinuousClock.now - started
        await producer.close()

        var delivered = 0
        let progress = ProgressBar(total: emails)
        while delivered < emails {
            try await Task.sleep(for: .milliseconds(50))
            delivered = try await pool.query(
                "SELECT count(*) FROM mail.deliveries WHERE tenant_id = $1 AND status = 'delivered'", [tenant]
            )[0].decode(Int.self, 0)
            progress.set(delivered)
            if ContinuousClock.now - started > .seconds(900) { throw failure("only \(delivered) of \(emails) delivered in 15 minutes") }
        }
        progress.finish()
        let total = ContinuousClock.now - started
        let after = try Self.ceiling(probe: probe, host: host, port: port, messages: probeMessages)
        let duplicates = try (maildir ?? ProcessInfo.processInfo.environment["CAREFLEET_MAILDIR"]).map {
            try Self.duplicateKeys(in: $0, prefix: "bench-\(run)-")
        }

        let seconds = total.seconds
        let rate = Double(emails) / seconds
        let result = Result(
            emails: emails, publishSeconds: published.seconds, totalSeconds: seconds, deliveredPerSecond: rate,
            ceilingBefore: before, ceilingAfter: after, ratio: rate / max(before.oneConnection, after.oneConnection),
            duplicates: duplicates, measuredAt: WireCoding.formatTimestamp(Date()))
        print(
            Table.render([
                ["BENCHMARK", "EMAILS", "PUBLISH S", "TOTAL S", "DELIVERED/S", "CEILING 1 CONN", "CEILING NEW CONN", "RATIO", "DUPLICATES"],
                [
                    "email", String(emails), String(format: "%.2f", result.publishSeconds), String(format: "%.2f", seconds),
                    String(format: "%.0f", rate),
                    String(format: "%.0f / %.0f", before.oneConnection, after.oneConnection),
                    String(format: "%.0f / %.0f", before.newConnectionEach, after.newConnectionEach),
                    String(format: "%.2f", result.ratio), duplicates.map(String.init) ?? "-",
                ],
            ]))
        print("(ceilings before / after the run; the ratio is against the higher one-connection ceiling)")
        try BenchFigures.keep(result, bench: "email", measuredAt: result.measuredAt, at: json)
    }

    /// A booking confirmation for a recipient of its own (so requests spread over every partition).
    static func request(run: String, _ n: Int, tenant: UUID) -> Envelope<EmailRequested> {
        let start = Date().addingTimeInterval(86400)
        let patient = UUID()
        return Envelope(
            correlationId: "bench-email", tenantId: tenant, actor: .system,
            payload: EmailRequested(
                idempotencyKey: "bench-\(run)-\(n)", kind: .booked,
                recipient: EmailRecipient(userId: patient, email: "bench-\(run)-\(n)@example.test", name: "Bench Patient", role: .patient),
                appointment: AppointmentSummary(
                    appointmentId: UUID(), doctorId: UUID(), doctorName: "Dr. Bench", patientId: patient, patientName: "Bench Patient",
                    startsAt: start, endsAt: start.addingTimeInterval(900), timeZone: "UTC", status: .confirmed, sequence: 0)))
    }

    /// Runs the probe, which prints `one connection: 575 msg/s; new connection each: 360 msg/s`.
    static func ceiling(probe: String, host: String, port: Int, messages: Int) throws -> Ceiling {
        let text = try IngressBench.output(of: "/usr/bin/env", ["python3", probe, host, String(port), String(messages)], environment: [:])
        func figure(after label: String) throws -> Double {
            guard let range = text.range(of: label) else { throw failure("the probe printed no '\(label)': \(text)") }
            let number = text[range.upperBound...].drop { $0 == " " }.prefix { $0.isNumber || $0 == "." }
            guard let value = Double(number) else { throw failure("the probe's '\(label)' is not a number: \(text)") }
            return value
        }
        return Ceiling(oneConnection: try figure(after: "one connection:"), newConnectionEach: try figure(after: "new connection each:"))
    }

    /// How many of this run's keys the server stored more than once.
    static func duplicateKeys(in maildir: String, prefix: String) throws -> Int {
        let folder = URL(fileURLWithPath: maildir).appendingPathComponent("new")
        var copies: [String: Int] = [:]
        for file in try FileManager.default.contentsOfDirectory(atPath: folder.path) {
            let data = try Data(contentsOf: folder.appendingPathComponent(file))
            let text = String(decoding: data.prefix(4096), as: UTF8.self)
            guard let range = text.range(of: "X-CareFleet-Key: \(prefix)") else { continue }
            let key = text[range.lowerBound...].prefix { $0 != "\r" && $0 != "\n" }
            copies[String(key), default: 0] += 1
        }
        return copies.values.filter { $0 > 1 }.count
    }
}

