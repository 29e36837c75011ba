import Contracts
import FleetConfiguration
import Foundation

/// How a worker consumes: its group, what it decodes, and its limits.
public struct WorkerSettings: Sendable {
    public var group: ConsumerGroupSpec
    /// The decoder of each source topic (retry topics use their source's).
    public var catalogs: [String: MessageCatalog]
    /// Partitions handled at the same time (each partition stays in order).
    public var concurrency: Int
    /// Messages fetched per poll.
    public var pollBatchSize: Int
    /// A partition with more messages waiting than this is paused until it catches up.
    public var partitionQueueLimit: Int
    /// How often handled offsets are committed.
    public var commitInterval: Duration
    /// On SIGTERM: how long in-flight messages may take before the worker gives up on them
    /// (they are then not committed and will be redelivered).
    public var shutdownDeadline: Duration
    /// On a rebalance: how long in-flight messages of revoked partitions may take.
    public var revokeDeadline: Duration

    public init(
        group: ConsumerGroupSpec, catalogs: [String: MessageCatalog], concurrency: Int = 8, pollBatchSize: Int = 1000,
        partitionQueueLimit: Int = 2000, commitInterval: Duration = .milliseconds(200),
        shutdownDeadline: Duration = .seconds(10), revokeDeadline: Duration = .seconds(10)
    ) {
        self.group = group
        self.catalogs = catalogs
        self.concurrency = max(1, concurrency)
        self.pollBatchSize = max(1, pollBatchSize)
        self.partitionQueueLimit = max(1, partitionQueueLimit)
        self.commitInterval = commitInterval
        self.shutdownDeadline = shutdownDeadline
        self.revokeDeadline = revokeDeadline
    }

    /// Reads `worker.*` keys: concurrency, poll.batch, partition.queue.limit, commit.interval,
    /// shutdown.deadline, and the ladder (`worker.retry.attempts`, `worker.retry.backoff.initial`,
    /// `worker.retry.backoff.max`, `worker.retry.stages` as e.g. `5s,30s,5m`; the number of
    /// stages must match Contracts, since the retry topics exist per stage).
    public static func from(
        _ config: FleetConfig, group: ConsumerGroupSpec, catalogs: [String: MessageCatalog]
    ) throws -> WorkerSettings {
        var group = group
        group.ladder = try ladder(from: config, default: group.ladder)
        return WorkerSettings(
            group: group, catalogs: catalogs,
            concurrency: try config.int("worker.concurrency", default: 8),
            pollBatchSize: try config.int("worker.poll.batch", default: 1000),
            partitionQueueLimit: try config.int("worker.partition.queue.limit", default: 2000),
            commitInterval: try config.duration("worker.commit.interval", default: .milliseconds(200)),
            shutdownDeadline: try config.duration("worker.shutdown.deadline", default: .seconds(10)),
            revokeDeadline: try config.duration("worker.revoke.deadline", default: .seconds(10)))
    }

    static func ladder(from config: FleetConfig, default ladder: RetryLadder) throws -> RetryLadder {
        var ladder = ladder
        ladder.attemptsPerStage = max(1, try config.int("worker.retry.attempts", default: ladder.attemptsPerStage))
        ladder.initialBackoff = try config.duration("worker.retry.backoff.initial", default: ladder.initialBackoff)
        ladder.maxBackoff = try config.duration("worker.retry.backoff.max", default: ladder.maxBackoff)
        if let text = config.string("worker.retry.stages") {
            let stages = text.split(separator: ",").map { FleetConfig.parseDuration(String($0)) }
            guard stages.allSatisfy({ $0 != nil }), stages.count == ladder.stageDelays.count else {
                throw ConfigError(
                    "worker.retry.stages must list \(ladder.stageDelays.count) durations (one per retry topic), not '\(text)'")
            }
            ladder.stageDelays = stages.compactMap { $0 }
        }
        return ladder
    }
}
