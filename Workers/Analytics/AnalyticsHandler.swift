import Contracts
import FleetConfiguration
import Postgres
import Runtime

/// Consumes `appointments.events` into the live rollups, one transaction per event.
public struct AnalyticsHandler: MessageHandler {
    public let pool: PostgresPool
    public let ledger = RollupLedger()

    public init(pool: PostgresPool) {
        self.pool = pool
    }

    public func handle(_ message: IncomingMessage) async throws {
        let ledger = self.ledger
        let event = message.decoded
        try await pool.transaction { connection in
            try await ledger.apply(event, on: connection)
        }
    }
}

/// The analytics worker as its executable and the tests build it.
public enum AnalyticsWorker {
    public static func setup(_ environment: WorkerEnvironment) throws -> WorkerSetup {
        guard let pool = environment.database else { throw ConfigError("database.url is required") }
        return WorkerSetup(handler: OneAtATime(AnalyticsHandler(pool: pool)))
    }
}
