import Contracts
import Foundation
import Postgres
import Runtime
import TestSupport

// A worker for the runtime's process tests (kill -9, SIGTERM, two members). It consumes
// `probe.topic` in group `probe.group` and applies each message once in effect:
//   probe_deliveries   one row per handler call (outside the transaction: counts redeliveries)
//   probe_effects      key → applications, incremented inside the idempotent transaction
struct ProbeHandler: MessageHandler {
    let pool: PostgresPool
    let group: String
    let delay: Duration

    /// Two probes start together: CREATE TABLE IF NOT EXISTS alone races on the catalog.
    static func prepareTables(_ pool: PostgresPool) async throws {
        try await pool.transaction { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(4242)")
            try await connection.query(
                "CREATE TABLE IF NOT EXISTS probe_deliveries (n int NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())")
            try await connection.query("CREATE TABLE IF NOT EXISTS probe_effects (n int PRIMARY KEY, applications int NOT NULL)")
        }
    }

    func handle(_ message: IncomingMessage) async throws {
        guard let work = message.envelope(as: ProbeWork.self)?.payload else {
            throw HandlerError.permanent("not test.work")
        }
        try await pool.query("INSERT INTO probe_deliveries (n) VALUES ($1)", [work.n])
        if delay > .zero { try await Task.sleep(for: delay) }
        try await pool.transaction { connection in
            guard try await ProcessedMessages.claim(message.metadata.id, group: group, on: connection) else { return }
            try await connection.query(
                """
                INSERT INTO probe_effects (n, applications) VALUES ($1, 1)
                ON CONFLICT (n) DO UPDATE SET applications = probe_effects.applications + 1
                """, [work.n])
        }
    }
}

let environment = ProcessInfo.processInfo.environment
let topic = environment["CAREFLEET_PROBE_TOPIC"] ?? "probe"
let groupName = environment["CAREFLEET_PROBE_GROUP"] ?? "probe"
let delayMillis = Int(environment["CAREFLEET_PROBE_DELAY_MS"] ?? "0") ?? 0
let group = ConsumerGroupSpec(name: groupName, sources: [TopicSpec(name: topic, partitions: 6)])

await WorkerProgram.run(group: group, catalogs: [topic: ProbeWork.catalog]) { environment in
    guard let pool = environment.database else { throw HandlerError.permanent("database.url is required") }
    try await ProbeHandler.prepareTables(pool)
    return OneAtATime(ProbeHandler(pool: pool, group: groupName, delay: .milliseconds(delayMillis)))
}
