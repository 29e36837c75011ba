import ArgumentParser
import Contracts
import Kafka
import Operations

/// `fleet lag`: each group's lag per partition, and `--members` who holds which partition; the
/// console's groups page reads the same through `Operations`.
struct Lag: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show each consumer group's committed offset, high watermark and lag per partition (and its members).")

    @OptionGroup var global: GlobalOptions
    @Option(help: "Only this group (a group of Contracts, or any group with --topic).") var group: String?
    @Option(help: "Topics of the group (default: the topics the Contracts group subscribes to).") var topic: [String] = []
    @Flag(help: "Also show each group's state and members, and which member holds each partition.") var members = false

    func run() async throws {
        let config = try global.load()
        let settings = try OperationsSettings(config: config)
        var targets: [LagTarget]
        if let name = group {
            guard let target = LagTarget.named(name, topics: topic, in: settings.namespace) else {
                throw failure("group \(name) is not in Contracts: name its topics with --topic")
            }
            targets = [target]
        } else {
            targets = LagTarget.contractGroups(in: settings.namespace)
            if !topic.isEmpty { targets = targets.map { LagTarget(group: $0.group, topics: topic) } }
        }
        let admin = try KafkaAdmin(config: settings.kafka)
        let overviews: [GroupOverview]
        if members {
            overviews = try await GroupOverview.read(targets, admin: admin)
        } else {
            overviews = try await ConsumerGroupLag.read(targets, admin: admin).map { GroupOverview(lag: $0) }
        }
        var rows: [[String]] = [["GROUP", "TOPIC", "PARTITION", "COMMITTED", "HIGH", "LAG"] + (members ? ["MEMBER"] : [])]
        for overview in overviews {
            for lag in overview.lag.partitions {
                let committed = lag.committed.map { "\($0)" } ?? "-"
                var row = [
                    overview.group, lag.topicPartition.topic, "\(lag.topicPartition.partition)", committed, "\(lag.highWatermark)", "\(lag.lag)",
                ]
                if members { row.append(overview.member(holding: lag.topicPartition).map(\.clientId) ?? "-") }
                rows.append(row)
            }
            rows.append([overview.group, "(total)", "", "", "", "\(overview.lag.total)"] + (members ? [""] : []))
        }
        print(Table.render(rows))
        guard members else { return }
        for overview in overviews {
            print("\n\(overview.group): \(overview.state), \(overview.members.count) members\(overview.membersError.map { " (\($0))" } ?? "")")
            for member in overview.members {
                print("  \(member.clientId)  \(member.host)  \(member.memberId)  \(member.assignment.map(\.description).joined(separator: " "))")
            }
        }
    }
}

/// Left-aligned text columns, two spaces apart.
enum Table {
    static func render(_ rows: [[String]]) -> String {
        let widths = (0..<(rows.map(\.count).max() ?? 0)).map { column in
            rows.map { column < $0.count ? $0[column].count : 0 }.max() ?? 0
        }
        return rows.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}
