import Foundation
import Kafka

/// Kafka helpers for tests: client configuration and a fresh topic per test.
public enum TestKafka {
    /// Client settings for the test broker: short group sessions (see ENVIRONMENT.md), but not so
    /// short that a loaded CI machine misses heartbeats and rebalances the group mid-test.
    public static func config() async throws -> KafkaConfig {
        let endpoints = try await TestServices.shared()
        return KafkaConfig(
            bootstrapServers: endpoints.kafkaBootstrapServers,
            properties: [
                "consumer.session.timeout.ms": "3000", "consumer.heartbeat.interval.ms": "400",
                "topic.metadata.refresh.interval.ms": "1000",
            ])
    }

    /// A unique topic name with this prefix.
    public static func uniqueName(_ prefix: String = "test") -> String {
        "\(prefix).\(UUID().uuidString.prefix(12).lowercased())"
    }

    /// Creates a topic of its own for one test.
    public static func withTopic<R>(
        partitions: Int = 3, _ body: (String) async throws -> R
    ) async throws -> R {
        let name = uniqueName()
        try await createTopics([name], partitions: partitions)
        return try await body(name)
    }

    public static func createTopics(_ names: [String], partitions: Int) async throws {
        let admin = try KafkaAdmin(config: try await config())
        _ = try await admin.createTopics(names.map { NewTopic(name: $0, partitions: partitions, replicationFactor: 1) })
    }

    /// Consumes from `topics` in `group` until `count` messages arrived or `timeout` passed.
    public static func consume(
        _ topics: [String], group: String = uniqueName("group"), count: Int, timeout: Duration = .seconds(30)
    ) async throws -> [KafkaMessage] {
        let consumer = try KafkaConsumer(config: try await config(), groupId: group)
        try consumer.subscribe(topics)
        var messages: [KafkaMessage] = []
        let deadline = ContinuousClock.now + timeout
        while messages.count < count, ContinuousClock.now < deadline {
            messages += try await consumer.poll(maxMessages: 500, timeout: .milliseconds(200))
        }
        await consumer.close()
        return messages
    }
}
