import Kafka

/// What an operator sees of one consumer group: its members (with their partitions) and its lag
/// per partition.
public struct GroupOverview: Sendable, Hashable {
    public var lag: ConsumerGroupLag
    /// Nil when the broker could not describe the group (the reason is in `membersError`).
    public var description: ConsumerGroupDescription?
    public var membersError: String?

    public init(lag: ConsumerGroupLag, description: ConsumerGroupDescription? = nil, membersError: String? = nil) {
        self.lag = lag
        self.description = description
        self.membersError = membersError
    }

    public var group: String { lag.group }
    public var members: [GroupMember] { description?.members ?? [] }
    public var state: String { description?.state ?? "Unknown" }

    /// The member that holds `partition`, if any.
    public func member(holding partition: TopicPartition) -> GroupMember? {
        members.first { $0.assignment.contains(partition) }
    }

    /// Lag and members of every target. A broker that cannot describe groups still gives the lag.
    public static func read(_ targets: [LagTarget], admin: KafkaAdmin) async throws -> [GroupOverview] {
        let lags = try await ConsumerGroupLag.read(targets, admin: admin)
        var descriptions: [String: ConsumerGroupDescription] = [:]
        var failure: String?
        do {
            for description in try await admin.describeGroups(targets.map(\.group)) { descriptions[description.group] = description }
        } catch {
            failure = "\(error)"
        }
        return lags.map { lag in
            let description = descriptions[lag.group]
            return GroupOverview(lag: lag, description: description, membersError: failure ?? description?.error)
        }
    }
}
