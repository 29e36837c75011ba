import Contracts
import FleetConfiguration
import Foundation
import Runtime

/// Consumes `audit.events`: appends each access to the trail, a batch per statement. Idempotent:
/// a redelivered event adds no row (the trail is unique per event and subject).
public struct AuditHandler: BatchMessageHandler {
    public let trail: any AuditTrail
    public var maxBatchSize: Int { 500 }

    public init(trail: any AuditTrail) {
        self.trail = trail
    }

    public func handle(batch: [IncomingMessage]) async -> [Result<Void, any Error>] {
        var records: [AuditRecord] = []
        var results: [Result<Void, any Error>] = []
        for message in batch {
            do {
                switch try AuditEvent(message.decoded) {
                case .healthDataAccessed(let access): records += AuditRecord.rows(of: access, message.metadata)
                }
                results.append(.success(()))
            } catch {
                results.append(.failure(HandlerError.permanent("\(error)", class: .validation)))
            }
        }
        do {
            try await trail.append(records)
            return results
        } catch {
            // Nothing of the batch was written (one statement): every message is tried again.
            return batch.map { _ in .failure(error) }
        }
    }
}

/// The audit worker as its executable and the tests build it.
public enum AuditWorker {
    public static func setup(_ environment: WorkerEnvironment) throws -> WorkerSetup {
        guard let pool = environment.database else { throw ConfigError("database.url is required") }
        return WorkerSetup(handler: AuditHandler(trail: PostgresAuditTrail(pool: pool)))
    }
}
