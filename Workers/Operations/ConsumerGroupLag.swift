import Contracts
import Kafka

/// A consumer group and the topics whose lag is read for it.
public struct LagTarget: Sendable, Hashable {
    public var group: String
    public var topics: [String]

    public init(group: String, topics: [String]) {
        self.group = group
        self.topics = topics
    }

    /// Every group of Contracts in `namespace`, each with the topics it subscribes to (sources
    /// and retry topics).
    public static func contractGroups(in namespace: FleetNamespace) -> [LagTarget] {
        ConsumerGroups.all.map { namespace.group($0) }.map { LagTarget(group: $0.name, topics: $0.subscribedTopics) }
    }

    /// `group` with `topics`, or with the topics Contracts says it subscribes to when none are
    /// given; nil for a group Contracts does not know and no topics.
    public static func named(_ group: String, topics: [String], in namespace: FleetNamespace) -> LagTarget? {
        let known = contractGroups(in: namespace).first { $0.group == group }
        let chosen = topics.isEmpty ? known?.topics ?? [] : topics
        return chosen.isEmpty ? nil : LagTarget(group: group, topics: chosen)
    }
}

/// One group's lag on every partition of its topics.
public struct ConsumerGroupLag: Sendable, Hashable {
    public var group: String
    /// Sorted by topic, then partition.
    public var partitions: [PartitionLag]

    public var total: Int64 { partitions.reduce(0) { $0 + $1.lag } }
    /// Offsets the group committed, summed: its progress (its change over time is its throughput).
    public var committedTotal: Int64 { partitions.reduce(0) { $0 + ($1.committed ?? $1.lowWatermark) } }

    /// Reads the lag of each target (committed offsets and watermarks, without joining any
    /// group), the targets at the same time: each is a round trip per partition, and the
    /// console reads them every second.
    public static func read(_ targets: [LagTarget], admin: KafkaAdmin) async throws -> [ConsumerGroupLag] {
        try await withThrowingTaskGroup(of: (Int, ConsumerGroupLag).self) { group in
            for (index, target) in targets.enumerated() {
                group.addTask {
                    let lags = try await admin.lag(group: target.group, topics: target.topics)
                    return (index, ConsumerGroupLag(group: target.group, partitions: lags.sorted { $0.topicPartition < $1.topicPartition }))
                }
            }
            var result: [(Int, ConsumerGroupLag)] = []
            for try await lag in group { result.append(lag) }
            return result.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }
}
