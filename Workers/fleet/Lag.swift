import ArgumentParser
import Contracts
import Kafka

struct Lag: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show each consumer group's committed offset, high watermark and lag per partition.")

    @OptionGroup var global: GlobalOptions
    @Option(help: "Only this group (a group of Contracts, or any group with --topic).") var group: String?
    @Option(help: "Topics of the group (default: the topics the Contracts group subscribes to).") var topic: [String] = []

    func run() async throws {
        let config = try global.load()
        let admin = try KafkaAdmin(config: KafkaConfig(properties: config.subtree("kafka")))
        let groups = try ConsumerGroups.all.map(config.namespace().group)
        var plan: [(group: String, topics: [String])] = []
        if let group {
            let known = groups.first { $0.name == group }
            let topics = topic.isEmpty ? known?.subscribedTopics ?? [] : topic
            guard !topics.isEmpty else { throw failure("group \(group) is not in Contracts: name its topics with --topic") }
            plan = [(group, topics)]
        } else {
            plan = groups.map { ($0.name, topic.isEmpty ? $0.subscribedTopics : topic) }
        }
        var rows: [[String]] = [["GROUP", "TOPIC", "PARTITION", "COMMITTED", "HIGH", "LAG"]]
        for (group, topics) in plan {
            let lags = try await admin.lag(group: group, topics: topics)
            for lag in lags.sorted(by: { $0.topicPartition < $1.topicPartition }) {
                rows.append([
                    group, lag.topicPartition.topic, String(lag.topicPartition.partition), lag.committed.map(String.init) ?? "-",
                    String(lag.highWatermark), String(lag.lag),
                ])
            }
            let total = lags.reduce(Int64(0)) { $0 + $1.lag }
            rows.append([group, "(total)", "", "", "", String(total)])
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
