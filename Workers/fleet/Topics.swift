import ArgumentParser
import Contracts
import FleetConfiguration
import Kafka

struct Topics: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create and list the fleet's topics.", subcommands: [Ensure.self, List.self])

    struct Ensure: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create every topic in Contracts (sources, retry and dead-letter topics); existing ones are kept.")

        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let config = try global.load()
            let plan = try TopicPlan(config: config)
            let admin = try KafkaAdmin(config: KafkaConfig(properties: config.subtree("kafka")))
            let outcome = try await admin.createTopics(plan.topics)
            for topic in plan.topics {
                let state = outcome[topic.name] == .created ? "created" : "exists "
                print("\(state)  \(topic.name)  (\(topic.partitions) partitions)")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List topics and their partition counts.")

        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let config = try global.load()
            let admin = try KafkaAdmin(config: KafkaConfig(properties: config.subtree("kafka")))
            for topic in try await admin.listTopics() { print("\(topic.name)\t\(topic.partitions)") }
        }
    }
}

/// The topics to create: Contracts' topics in the configured namespace, with partition counts
/// (raised by configuration `topics.<name>.partitions`) and replication factor
/// `topics.replication.factor`.
struct TopicPlan {
    let topics: [NewTopic]

    init(config: FleetConfig) throws {
        let replication = try config.int("topics.replication.factor", default: 1)
        let namespace = try config.namespace()
        var partitionsBySource: [String: Int] = [:]
        for source in Contracts.Topics.sources {
            let partitions = try config.int("topics.\(source.name).partitions", default: source.partitions)
            guard partitions >= source.partitions else {
                throw failure("topics.\(source.name).partitions is \(partitions): it cannot be below \(source.partitions)")
            }
            partitionsBySource[namespace.topicName(source.name)] = partitions
        }
        topics = namespace.allTopics.map { spec in
            let source = DerivedTopic(parsing: spec.name)?.source ?? spec.name
            return NewTopic(
                name: spec.name, partitions: partitionsBySource[source] ?? spec.partitions,
                replicationFactor: replication, configs: spec.configs)
        }
    }
}
