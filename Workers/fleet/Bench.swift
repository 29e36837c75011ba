import ArgumentParser
import Contracts
import Foundation
import Kafka
import Operations
import Postgres

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure the running fleet and print a table (and keep the figures as JSON).",
        subcommands: [BookingBench.self, IngressBench.self, PipelineBench.self, StreamsBench.self, EmailBench.self])
}

/// End to end through the running booking worker(s): commands published to
/// appointments.commands → decided under row locks → events published → offsets committed.
struct BookingBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "booking",
        abstract: "Decided booking commands per second, through the running booking worker(s).",
        discussion: """
            First measures PostgreSQL's own limit for the booking transaction on the fleet's server \
            (pgbench, 50 bookings per server-side call, --ceiling-clients connections; the probe of \
            bench/pg_limits.sh). Then seeds a fresh tenant (doctors working around the clock, \
            patients), publishes request commands (a share of them for slots already asked for, so \
            declines happen too) and waits until every command is decided. Prints decided/s beside \
            that ceiling, and the ratio. Start the fleet first (scripts/local up; a release build \
            for figures that mean something).
            """)

    @OptionGroup var global: GlobalOptions
    @Option(help: "Request commands to publish.") var commands = 20_000
    @Option(help: "Doctors (commands are keyed, and so spread, by doctor).") var doctors = 120
    @Option(help: "Share of requests for a slot asked for before (they are declined).") var conflictShare = 0.1
    @Option(help: "Seconds of the PostgreSQL ceiling probe (0: skip it).") var ceilingSeconds = 10
    @Option(help: "pgbench connections of the ceiling probe.") var ceilingClients = 2
    @Option(help: "Where to keep the figures as JSON.") var json: String?
    @Option(
        help: """
            Consumer groups of appointments.events to follow (repeatable; none: --follow none): how soon each has \
            handled every event of the burst, as events per second beside the decided per second.
            """)
    var follow: [String] = [ConsumerGroups.notification.name, ConsumerGroups.analytics.name]
    @Option(help: "Seconds to wait for a followed group after the last command was decided.") var followTimeout = 300

    func validate() throws {
        try OptionCheck.atLeast(1, commands, "--commands")
        try OptionCheck.atLeast(1, doctors, "--doctors")
        try OptionCheck.within(0...1, conflictShare, "--conflict-share")
        try OptionCheck.atLeast(0, ceilingSeconds, "--ceiling-seconds")
        try OptionCheck.atLeast(1, ceilingClients, "--ceiling-clients")
        try OptionCheck.atLeast(0, followTimeout, "--follow-timeout")
    }

    /// The issue's target: the worker decides as fast as PostgreSQL books in batches of 50.
    static let targetRatio = 1.0
    /// Issue 13: the notification and analytics workers keep up with the booking worker.
    static let downstreamTargetRatio = 1.0

    struct Result: Codable {
        var benchmark = "booking"
        var commands: Int
        var doctors: Int
        var publishSeconds: Double
        var totalSeconds: Double
        var decidedPerSecond: Double
        var booked: Int
        var declined: Int
        var ceiling: BookingCeiling.Figures?
        var ratioToCeiling: Double?
        var target: String
        var met: Bool?
        var downstream: [Downstream]
        var measuredAt: String
    }

    /// A followed group: when it had handled every event of the burst (counted from the first
    /// command published, as decided/s is), or that it had not after --follow-timeout.
    struct Downstream: Codable {
        var group: String
        var seconds: Double?
        var eventsPerSecond: Double?
        var ratioToDecided: Double?
        var met: Bool
    }

    /// The followed groups' progress on appointments.events: each is done once its committed
    /// offsets have moved past every event there was before the burst plus one per command.
    struct Follower {
        let targets: [LagTarget]
        let admin: KafkaAdmin
        var before: [String: Int64] = [:]
        var doneAt: [String: Duration] = [:]

        init(groups: [String], namespace: FleetNamespace, kafka: KafkaConfig) throws {
            let topic = namespace.topicName(Contracts.Topics.appointmentEvents.name)
            targets = groups.filter { $0 != "none" }.map { LagTarget(group: namespace.groupName($0), topics: [topic]) }
            admin = try KafkaAdmin(config: kafka)
        }

        /// Where each group stands before the burst: the events topic's end, or the group's
        /// committed offset where that is further (a group is caught up before a bench, and the
        /// local broker, Tansu, reports the end after a batch of many records as if it held one).
        mutating func start() async throws {
            for lag in try await ConsumerGroupLag.read(targets, admin: admin) {
                before[lag.group] = lag.partitions.reduce(0) { $0 + max($1.highWatermark, $1.committed ?? $1.lowWatermark) }
            }
        }

        var pending: [String] { targets.map(\.group).filter { doneAt[$0] == nil } }

        mutating func poll(commands: Int, elapsed: Duration) async throws {
            let waiting = targets.filter { doneAt[$0.group] == nil }
            guard !waiting.isEmpty else { return }
            for lag in try await ConsumerGroupLag.read(waiting, admin: admin)
            where lag.committedTotal >= (before[lag.group] ?? 0) + Int64(commands) {
                doneAt[lag.group] = elapsed
            }
        }
    }

    func run() async throws {
        let config = try global.load()
        let databaseURL = try config.require("database.url")
        var ceiling: BookingCeiling.Figures?
        if ceilingSeconds > 0 {
            FileHandle.standardError.write(
                Data("bench: PostgreSQL ceiling, pgbench batch-50 with \(ceilingClients) clients, \(ceilingSeconds) s\n".utf8))
            ceiling = try await BookingCeiling.measure(databaseURL: databaseURL, clients: ceilingClients, seconds: ceilingSeconds)
        }
        let pool = PostgresPool(url: databaseURL, maximumConnections: 2, applicationName: "fleet-bench")
        defer { pool.close() }
        let tenant = UUID()
        let doctorIds = (0..<doctors).map { _ in UUID() }
        let patientIds = (0..<doctors).map { _ in UUID() }
        try await seed(pool, tenant: tenant, doctors: doctorIds, patients: patientIds)

        let namespace = try config.namespace()
        let topic = namespace.topicName(Contracts.Topics.appointmentCommands.name)
        let kafka = KafkaConfig(properties: config.subtree("kafka"))
        var follower = try Follower(groups: follow, namespace: namespace, kafka: kafka)
        try await follower.start()
        let producer = try KafkaProducer(config: kafka)
        // Tomorrow, on the doctors' grid (UTC, 5-minute slots from midnight): an off-grid start is declined.
        let base = ((Date().timeIntervalSince1970 + 86400) / 300).rounded(.down) * 300
        let conflictEvery = conflictShare > 0 ? max(2, Int(1 / conflictShare)) : Int.max
        let started = ContinuousClock.now
        var sent = 0
        while sent < commands {
            let batch = min(2000, commands - sent)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for n in sent..<(sent + batch) {
                    let doctor = n % doctors
                    // Each doctor's k-th request asks for slot k, except that every conflictEvery-th
                    // asks again for the slot of that doctor's request before it (and is declined).
                    let k = n / doctors
                    let slot = k % conflictEvery == conflictEvery - 1 ? k - 1 : k
                    let start = Date(timeIntervalSince1970: base + Double(max(0, slot)) * 300)
                    let envelope = Envelope(
                        correlationId: "bench", tenantId: tenant, actor: .system,
                        payload: RequestAppointment(
                            appointmentId: .timeOrdered(), doctorId: doctorIds[doctor], patientId: patientIds[n % patientIds.count],
                            startsAt: start, endsAt: start.addingTimeInterval(300), reason: nil))
                    let value = try envelope.encoded()
                    let key = doctorIds[doctor].uuidString.lowercased()
                    group.addTask { try await producer.send(ProducerRecord(topic: topic, key: key, value: value)) }
                }
                try await group.waitForAll()
            }
            sent += batch
        }
        let published = ContinuousClock.now - started
        await producer.close()

        var decided = 0
        let progress = ProgressBar(total: commands)
        var lastFollowed = ContinuousClock.now
        while decided < commands {
            try await Task.sleep(for: .milliseconds(100))
            decided = try await pool.query(
                "SELECT count(*) FROM booking.processed_commands WHERE tenant_id = $1", [tenant])[0].decode(Int.self, 0)
            progress.set(decided)
            if ContinuousClock.now - started > .seconds(600) { throw failure("only \(decided) of \(commands) decided in 10 minutes") }
            if ContinuousClock.now - lastFollowed >= .milliseconds(500) {
                lastFollowed = ContinuousClock.now
                try await follower.poll(commands: commands, elapsed: lastFollowed - started)
            }
        }
        progress.finish()
        let total = ContinuousClock.now - started
        if !follower.pending.isEmpty {
            FileHandle.standardError.write(Data("bench: waiting for \(follower.pending.joined(separator: ", ")) to handle the burst's events\n".utf8))
        }
        while !follower.pending.isEmpty, ContinuousClock.now - started < total + .seconds(followTimeout) {
            try await follower.poll(commands: commands, elapsed: ContinuousClock.now - started)
            try await Task.sleep(for: .milliseconds(250))
        }
        let booked = try await pool.query("SELECT count(*) FROM booking.appointments WHERE tenant_id = $1", [tenant])[0].decode(Int.self, 0)
        let seconds = Double(total.components.seconds) + Double(total.components.attoseconds) / 1e18
        let decidedPerSecond = Double(commands) / seconds
        let ratio = ceiling.map { decidedPerSecond / max(1, $0.bookingsPerSecond) }
        let downstream = follower.targets.map { target -> Downstream in
            guard let done = follower.doneAt[target.group] else { return Downstream(group: target.group, met: false) }
            let rate = Double(commands) / done.seconds
            return Downstream(
                group: target.group, seconds: done.seconds, eventsPerSecond: rate, ratioToDecided: rate / decidedPerSecond,
                met: rate / decidedPerSecond >= Self.downstreamTargetRatio)
        }
        let result = Result(
            commands: commands, doctors: doctors,
            publishSeconds: Double(published.components.seconds) + Double(published.components.attoseconds) / 1e18,
            totalSeconds: seconds, decidedPerSecond: decidedPerSecond, booked: booked, declined: commands - booked,
            ceiling: ceiling, ratioToCeiling: ratio, target: "≥ \(Self.targetRatio) of ceiling",
            met: ratio.map { $0 >= Self.targetRatio }, downstream: downstream, measuredAt: WireCoding.formatTimestamp(Date()))
        var rows = [["STAGE", "COMMANDS", "DOCTORS", "PUBLISH S", "TOTAL S", "PER SECOND", "BOOKED", "DECLINED", "RATIO", "TARGET", "MET"]]
        if let ceiling {
            rows.append([
                "PostgreSQL ceiling (pgbench batch-50, \(ceiling.clients) clients)", "—", "—", "—", String(ceiling.seconds),
                String(format: "%.0f", ceiling.bookingsPerSecond), "—", "—", "1.00", "—", "—",
            ])
        }
        rows.append([
            "booking worker (decided)", String(commands), String(doctors), String(format: "%.2f", result.publishSeconds),
            String(format: "%.2f", seconds), String(format: "%.0f", decidedPerSecond), String(booked), String(commands - booked),
            ratio.map { String(format: "%.2f", $0) } ?? "—", result.target, result.met.map { $0 ? "yes" : "NO" } ?? "—",
        ])
        for group in downstream {
            rows.append([
                "\(group.group) (every event handled)", String(commands), "—", "—",
                group.seconds.map { String(format: "%.2f", $0) } ?? "> \(String(format: "%.0f", seconds + Double(followTimeout)))",
                group.eventsPerSecond.map { String(format: "%.0f", $0) } ?? "—", "—", "—",
                group.ratioToDecided.map { String(format: "%.2f", $0) } ?? "—", "≥ \(Self.downstreamTargetRatio) of decided/s",
                group.met ? "yes" : "NO",
            ])
        }
        print(Table.render(rows))
        try BenchFigures.keep(result, bench: "booking", measuredAt: result.measuredAt, at: json)
    }

    /// Doctors working around the clock (UTC, 5-minute slots, a year ahead) and patients, inserted directly.
    func seed(_ pool: PostgresPool, tenant: UUID, doctors: [UUID], patients: [UUID]) async throws {
        try await pool.transaction { connection in
            try await connection.query("INSERT INTO identity.tenants (id, name) VALUES ($1, 'Benchmark clinic')", [tenant])
            let people = doctors + patients
            let roles = doctors.map { _ in "doctor" } + patients.map { _ in "patient" }
            try await connection.query(
                """
                INSERT INTO identity.users (id, tenant_id, email, password_hash, role, display_name)
                SELECT u.id, $1, 'bench-' || u.id || '@bench.invalid', 'no login', u.role, 'Bench ' || u.role
                FROM unnest($2::uuid[], $3::text[]) AS u(id, role)
                """, [tenant, people, roles])
            try await connection.query(
                """
                INSERT INTO directory.doctors (id, tenant_id, display_name, time_zone, slot_minutes, horizon_days)
                SELECT id, $1, 'Bench doctor', 'UTC', 5, 400 FROM unnest($2::uuid[]) AS id
                """, [tenant, doctors])
            try await connection.query(
                """
                INSERT INTO directory.weekly_hours (doctor_id, tenant_id, weekday, starts, ends)
                SELECT id, $1, day, '00:00', '24:00' FROM unnest($2::uuid[]) AS id CROSS JOIN generate_series(1, 7) AS day
                """, [tenant, doctors])
            try await connection.query(
                "INSERT INTO directory.patients (id, tenant_id, display_name) SELECT id, $1, 'Bench patient' FROM unnest($2::uuid[]) AS id",
                [tenant, patients])
        }
    }
}

/// Where every bench keeps its figures: `--json`, or `bench-<name>-<time>.json` here.
enum BenchFigures {
    static func keep<Figures: Encodable>(_ figures: Figures, bench: String, measuredAt: String, at path: String?) throws {
        let path = path ?? "bench-\(bench)-\(measuredAt.prefix(19).replacingOccurrences(of: ":", with: "")).json"
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(figures).write(to: URL(fileURLWithPath: path))
        print("figures kept in \(path)")
    }
}
