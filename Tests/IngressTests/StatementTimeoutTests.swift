import Contracts
import Foundation
import Logging
import Postgres
import Prometheus
import Runtime
import TestSupport
import Testing

/// `database.statement.timeout` reaches the pools the programs' builders make.
@Suite("Statement timeout from the configuration", .timeLimit(.minutes(2)))
struct StatementTimeoutTests {
    @Test func aWorkersPoolCancelsAStatementThatRunsTooLong() async throws {
        try await TestFleet.with(workers: .none) { fleet in
            let config = try TestFleet.config(
                namespace: fleet.namespace, databaseURL: fleet.databaseURL, kafka: fleet.kafka,
                extra: ["database.statement.timeout": "300ms", "http.port": String(try freeLoopbackPort())])
            let seen = Locked<PostgresPool?>(nil)
            _ = try await WorkerProgram.build(
                group: ConsumerGroups.analytics, config: config, registry: PrometheusCollectorRegistry(), logger: Logger(label: "test")
            ) { environment in
                seen.set(environment.database)
                return WorkerSetup(handler: OneAtATime(NothingHandler()))
            }
            let pool = try #require(seen.value)
            let started = ContinuousClock.now
            await #expect(throws: PostgresError.self) { try await pool.query("SELECT pg_sleep(5)") }
            #expect(ContinuousClock.now - started < .seconds(3), "cancelled at the timeout, not after the sleep")
            pool.close()
        }
    }
}

private struct NothingHandler: MessageHandler {
    func handle(_ message: IncomingMessage) async throws {}
}
