import Contracts
import Foundation
import Hummingbird
import Kafka
import Operations
import Synchronization

/// `/groups`: every consumer group's members and lag per partition, live over `/groups/stream`.
struct GroupRoutes {
    let services: ConsoleServices

    struct Live {
        var stamp: String
        var groups: [Group]
    }

    struct Group {
        var name: String
        var state: String
        var stateClass: String
        var total: Int64
        var memberCount: Int
        var rate: String
        var membersError: String?
        var hasMembers: Bool
        var members: [Member]
        var partitions: [Partition]
        var hidden: Int?
    }

    struct Member {
        var clientId: String
        var host: String
        var partitions: String
    }

    struct Partition {
        var topic: String
        var partition: Int32
        var member: String
        var committed: String
        var high: Int64
        var lag: Int64
        var scale: Int64
    }

    func add(to router: Router<ConsoleContext>) {
        LivePage.add(
            to: router, "groups", title: "Consumer groups", section: .groups, services: services, state: { GroupRates() },
            render: { state in try await render(rates: state) })
    }

    func render(rates: GroupRates?) async throws -> String {
        let overviews = try await GroupOverview.read(services.lagTargets, admin: services.admin)
        let perSecond = rates?.record(overviews) ?? [:]
        let groups = overviews.map { overview -> Group in
            let retryTopics = Set(overview.lag.partitions.map(\.topicPartition.topic).filter(Self.isRetryTopic))
            // Retry partitions that never held a message say nothing; the source topic's always show.
            let shown = overview.lag.partitions.filter { !retryTopics.contains($0.topicPartition.topic) || $0.highWatermark > 0 }
            let scale = max(10, shown.map(\.lag).max() ?? 0)
            let state = overview.description == nil ? "unknown" : overview.state
            return Group(
                name: overview.group, state: state, stateClass: Self.stateClass(state), total: overview.lag.total,
                memberCount: overview.members.count, rate: perSecond[overview.group].map { String(format: "%.1f", $0) } ?? "–",
                membersError: overview.membersError, hasMembers: !overview.members.isEmpty,
                members: overview.members.map {
                    Member(clientId: $0.clientId, host: $0.host, partitions: Self.describe($0.assignment))
                },
                partitions: shown.map { lag in
                    Partition(
                        topic: lag.topicPartition.topic, partition: lag.topicPartition.partition,
                        member: overview.member(holding: lag.topicPartition)?.clientId ?? "–", committed: lag.committed.map(String.init) ?? "–",
                        high: lag.highWatermark, lag: lag.lag, scale: scale)
                },
                hidden: overview.lag.partitions.count == shown.count ? nil : overview.lag.partitions.count - shown.count)
        }
        return try services.pages.fragment("groups-live", Live(stamp: Self.stamp(Date()), groups: groups))
    }

    static func isRetryTopic(_ name: String) -> Bool {
        if case .retry? = DerivedTopic(parsing: name) { return true }
        return false
    }

    static func stateClass(_ state: String) -> String {
        switch state {
        case "Stable": "good"
        case "Empty", "Dead", "unknown", "Unknown": "bad"
        default: "warn"
        }
    }

    /// `topic[0,1,2] other[3]`: a member's partitions, grouped by topic.
    static func describe(_ assignment: [TopicPartition]) -> String {
        var byTopic: [String: [Int32]] = [:]
        for partition in assignment { byTopic[partition.topic, default: []].append(partition.partition) }
        return byTopic.keys.sorted().map { topic in
            "\(topic)[\((byTopic[topic] ?? []).sorted().map(String.init).joined(separator: ","))]"
        }.joined(separator: " ")
    }

    static func stamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }
}

/// Each group's committed offsets at the previous refresh of one stream: their change per second
/// is what the group consumed.
final class GroupRates: Sendable {
    private let previous = Mutex<[String: (committed: Int64, at: ContinuousClock.Instant)]>([:])

    func record(_ overviews: [GroupOverview]) -> [String: Double] {
        let now = ContinuousClock.now
        return previous.withLock { previous in
            var rates: [String: Double] = [:]
            for overview in overviews {
                let committed = overview.lag.committedTotal
                if let last = previous[overview.group] {
                    let seconds = Double((now - last.at).components.attoseconds) / 1e18 + Double((now - last.at).components.seconds)
                    if seconds > 0 { rates[overview.group] = Double(max(0, committed - last.committed)) / seconds }
                }
                previous[overview.group] = (committed, now)
            }
            return rates
        }
    }
}
