import Contracts
import FleetConfiguration
import Postgres
import Runtime

/// Consumes `appointments.events` into the live rollups: a batch of events in one transaction
/// of four statements (see `RollupLedger`), so it never falls behind the booking worker. When a
/// batch fails, its events are counted one by one, so that only the event at fault takes the
/// retry ladder.
public struct AnalyticsHandler: BatchMessageHandler {
    public let pool: PostgresPool
    public let ledger = RollupLedger()
    public let maxBatchSize: Int

    public init(pool: PostgresPool, maxBatchSize: Int = 500) {
        self.pool = pool
        self.maxBatchSize = max(1, maxBatchSize)
    }

    public func handle(batch: [IncomingMessage]) async -> [Result<Void, any Error>] {
        do {
            try await count(batch)
            return batch.map { _ in .success(()) }
        } catch {
            guard batch.count > 1 else { return [.failure(error)] }
            var results: [Result<Void, any Error>] = []
            for message in batch {
                do {
                    try await count([message])
                    results.append(.success(()))
                } catch {
                    results.append(.failure(error))
                }
            }
            return results
        }
    }

    private func count(_ messages: [IncomingMessage]) async throws {
        let ledger = self.ledger
        let events = messages.map(\.decoded)
        try await pool.transaction { connection in
            _ = try await ledger.apply(events, on: connection)
        }
    }
}

/// The analytics worker as its executable and the tests build it.
public enum AnalyticsWorker {
    public static func setup(_ environment: WorkerEnvironment) throws -> WorkerSetup {
        guard let pool = environment.database else { throw ConfigError("database.url is required") }
        return WorkerSetup(
            handler: AnalyticsHandler(pool: pool, maxBatchSize: try environment.config.int("analytics.batch.size", default: 500)))
    }
}
