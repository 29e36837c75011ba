import ArgumentParser
import Contracts
import Kafka

struct Lag: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show each consumer group's committed offset, high watermark and lag per partition.")

    @OptionGroup var global: GlobalOptions
    @Option(help: "Only this group (a group of Contracts, or any group with --topic).") var group: String?
    @Option(help: "Topics of the group (default: the topics the Contracts group subscribes to).") var topic: [String] = []

    /// A group and the topics whose lag is shown for it.
    struct Target {
        var group: String
        var topics: [String]
    }

    func run() async throws {
        let config = try global.load()
        let admin = try KafkaAdmin(config: KafkaConfig(properties: config.subtree("kafka")))
        let namespace = try config.namespace()
        let groups = ConsumerGroups.all.map { namespace.group($0) }
        var targets: [Target] = []
        if let name = group {
            let known = groups.first { $0.name == name }
            let topics = topic.isEmpty ? known?.subscribedTopics ?? [] : topic
            guard !topics.isEmpty else { throw failure("group \(name) is not in Contracts: name its topics with --topic") }
            targets = [Target(group: name, topics: topics)]
        } else {
            targets = groups.map { Target(group: $0.name, topics: topic.isEmpty ? $0.subscribedTopics : topic) }
        }
        var rows: [[String]] = [["GROUP", "TOPIC", "PARTITION", "COMMITTED", "HIGH", "LAG"]]
        for target in targets {
            let lags = try await admin.lag(group: target.group, topics: target.topics)
            var total: Int64 = 0
            for lag in lags.sorted(by: { $0.topicPartition < $1.topicPartition }) {
                let committed = lag.committed.map { "\($0)" } ?? "-"
                rows.append([
                    target.group, lag.topicPartition.topic, "\(lag.topicPartition.partition)", committed,
                    "\(lag.highWatermark)", "\(lag.lag)",
                ])
                total += lag.lag
            }
            rows.append([target.group, "(total)", "", "", "", "\(total)"])
        }
        print(Table.render(rows))
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
