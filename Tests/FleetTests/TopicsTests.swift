import Contracts
import Foundation
import Kafka
import TestSupport
import Testing

@Suite("fleet topics", .timeLimit(.minutes(2)))
struct TopicsTests {
    @Test func ensureCreatesEveryContractTopicAndCanRunTwice() async throws {
        let first = try await FleetBinary.run(["topics", "ensure"])
        #expect(first.status == 0, "\(first.output)")
        let second = try await FleetBinary.run(["topics", "ensure"])
        #expect(second.status == 0, "\(second.output)")
        #expect(!second.output.contains("created"), "the second run finds every topic in place")

        let topics = try await KafkaAdmin(config: try await TestKafka.config()).listTopics()
        let byName = Dictionary(uniqueKeysWithValues: topics.map { ($0.name, $0.partitions) })
        for topic in Contracts.Topics.all {
            #expect(byName[topic.name] == topic.partitions, "\(topic.name)")
        }
        #expect(byName["appointments.commands.booking-worker.dlq"] != nil)
        #expect(byName["notifications.email.email-worker.retry.3"] != nil)
    }

    @Test func aBadConfigurationFailsWithAClearMessage() async throws {
        let result = try await FleetBinary.run(["topics", "ensure"], environment: ["CAREFLEET_TOPICS_REPLICATION_FACTOR": "three"])
        #expect(result.status != 0)
        #expect(result.output.contains("topics.replication.factor"))
    }
}
