import Foundation
import Kafka
import Runtime
import TestSupport
import Testing

@Suite("Kafka library against the real broker", .timeLimit(.minutes(3)))
struct KafkaTests {
    @Test func roundTripKeepsKeyValueAndHeaders() async throws {
        let config = try await TestKafka.config()
        try await TestKafka.withTopic(partitions: 3) { topic in
            let producer = try KafkaProducer(config: config)
            let report = try await producer.send(
                ProducerRecord(
                    topic: topic, key: "doctor-42", value: Data("{\"hello\":1}".utf8),
                    headers: [KafkaHeader("x-attempt", "3"), KafkaHeader("x-empty", nil)]))
            await producer.close()
            #expect(report.topic == topic)
            #expect(report.offset >= 0)

            let messages = try await TestKafka.consume([topic], count: 1)
            let message = try #require(messages.first)
            #expect(message.keyString == "doctor-42")
            #expect(message.value == Data("{\"hello\":1}".utf8))
            #expect(message.header("x-attempt") == "3")
            #expect(message.headers.contains(KafkaHeader("x-empty", nil)))
            #expect(message.partition == report.partition)
            #expect(message.offset == report.offset)
            #expect(message.timestamp != nil)
        }
    }

    @Test func twoMembersSplitSixPartitionsAndReceiveEachMessageExactlyOnce() async throws {
        let config = try await TestKafka.config()
        let total = 10_000
        try await TestKafka.withTopic(partitions: 6) { topic in
            let group = TestKafka.uniqueName("group")
            let first = try KafkaConsumer(config: config, groupId: group)
            let second = try KafkaConsumer(config: config, groupId: group)
            try first.subscribe([topic])
            try second.subscribe([topic])
            let seen = Locked<[String: Int]>([:])
            let received = Locked<[Int]>([0, 0])
            let done = Locked(false)

            // Each member commits exactly what it processed: store after handling, commit after each batch.
            func run(_ consumer: KafkaConsumer, index: Int) async throws {
                while !done.value {
                    let batch = try await consumer.poll(maxMessages: 500, timeout: .milliseconds(100))
                    seen.withLock { seen in
                        for message in batch { seen["\(message.partition)/\(message.offset)", default: 0] += 1 }
                    }
                    received.withLock { $0[index] += batch.count }
                    consumer.store(batch.map { TopicPartitionOffset($0.topicPartition, offset: $0.offset + 1) })
                    if !batch.isEmpty { try await consumer.commitStored() }
                }
                try await consumer.commitStored()
                await consumer.close()
            }

            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await run(first, index: 0) }
                tasks.addTask { try await run(second, index: 1) }
                // Both members own partitions before anything is produced.
                try await eventually(timeout: .seconds(30)) {
                    !first.assignment.isEmpty && !second.assignment.isEmpty
                        && first.assignment.count + second.assignment.count == 6
                }
                let producer = try KafkaProducer(config: config)
                try await withThrowingTaskGroup(of: Void.self) { sends in
                    for chunk in stride(from: 0, to: total, by: 1000) {
                        sends.addTask {
                            for index in chunk..<(chunk + 1000) {
                                _ = try await producer.send(
                                    ProducerRecord(topic: topic, key: "key-\(index)", value: Data("\(index)".utf8)))
                            }
                        }
                    }
                    try await sends.waitForAll()
                }
                await producer.close()
                try await eventually(timeout: .seconds(60)) { seen.withLock { $0.count } >= total }
                done.withLock { $0 = true }
                try await tasks.waitForAll()
            }

            let counts = seen.value
            #expect(counts.count == total)
            #expect(counts.values.allSatisfy { $0 == 1 }, "no message was received twice")
            let split = received.value
            #expect(split[0] > 0 && split[1] > 0, "both members received messages: \(split)")
            #expect(split[0] + split[1] == total)

            let lag = try await KafkaAdmin(config: config).lag(group: group, topics: [topic])
            #expect(lag.count == 6)
            #expect(lag.allSatisfy { $0.lag == 0 }, "everything processed was committed")
        }
    }

    @Test func aMemberClosedWithoutCommittingLeavesItsMessagesToTheNextMember() async throws {
        let config = try await TestKafka.config()
        try await TestKafka.withTopic(partitions: 2) { topic in
            let producer = try KafkaProducer(config: config)
            for index in 0..<20 {
                try await producer.send(ProducerRecord(topic: topic, key: "k\(index)", value: Data("\(index)".utf8)))
            }
            await producer.close()
            let group = TestKafka.uniqueName("group")

            let careless = try KafkaConsumer(config: config, groupId: group)
            try careless.subscribe([topic])
            var firstRead: [KafkaMessage] = []
            let deadline = ContinuousClock.now + .seconds(30)
            while firstRead.count < 20, ContinuousClock.now < deadline {
                firstRead += try await careless.poll(timeout: .milliseconds(200))
            }
            #expect(firstRead.count == 20)
            await careless.close()  // nothing stored, nothing committed

            let successor = try await TestKafka.consume([topic], group: group, count: 20)
            #expect(Set(successor.map { "\($0.partition)/\($0.offset)" }) == Set(firstRead.map { "\($0.partition)/\($0.offset)" }))
        }
    }

    @Test func pausingOnePartitionStopsItWhileOthersKeepFlowing() async throws {
        // A longer session than the other tests: a rebalance under CI load would unpause the partition.
        var config = try await TestKafka.config()
        config.properties["consumer.session.timeout.ms"] = "6000"
        config.properties["consumer.heartbeat.interval.ms"] = "500"
        try await TestKafka.withTopic(partitions: 3) { topic in
            let consumer = try KafkaConsumer(config: config, groupId: TestKafka.uniqueName("group"))
            try consumer.subscribe([topic])
            try await eventually(timeout: .seconds(30)) {
                _ = try await consumer.poll(timeout: .milliseconds(100))
                return consumer.assignment.count == 3
            }
            try consumer.pause([TopicPartition(topic, 0)])

            let producer = try KafkaProducer(config: config)
            for partition in Int32(0)..<3 {
                for index in 0..<5 {
                    try await producer.send(
                        ProducerRecord(topic: topic, key: "k\(index)", value: Data("p\(partition)".utf8), partition: partition))
                }
            }
            await producer.close()

            var whilePaused: [KafkaMessage] = []
            let pausedUntil = ContinuousClock.now + .seconds(3)
            while ContinuousClock.now < pausedUntil {
                whilePaused += try await consumer.poll(timeout: .milliseconds(200))
            }
            #expect(whilePaused.filter { $0.partition == 0 }.isEmpty, "the paused partition delivered nothing")
            #expect(Set(whilePaused.filter { $0.partition != 0 }.map { "\($0.partition)/\($0.offset)" }).count == 10, "the other partitions kept flowing")

            try consumer.resume([TopicPartition(topic, 0)])
            var afterResume: [KafkaMessage] = []
            let deadline = ContinuousClock.now + .seconds(15)
            while afterResume.filter({ $0.partition == 0 }).count < 5, ContinuousClock.now < deadline {
                afterResume += try await consumer.poll(timeout: .milliseconds(200))
            }
            #expect(Set(afterResume.filter { $0.partition == 0 }.map(\.offset)) == [0, 1, 2, 3, 4], "partition 0 flows again")
            await consumer.close()
        }
    }

    /// The pipeline bench times each stage by the record's timestamp: it must be when the producer
    /// sent it (not when the broker stored it or the consumer read it), and `age` must say so.
    @Test func aRecordsTimestampIsWhenItWasProducedAndItsAgeCountsFromThere() async throws {
        let config = try await TestKafka.config()
        try await TestKafka.withTopic(partitions: 1) { topic in
            let producer = try KafkaProducer(config: config)
            let beforeSend = Date()
            try await producer.send(ProducerRecord(topic: topic, key: "k", value: Data("x".utf8), partition: 0))
            let acknowledged = Date()
            await producer.close()
            try await Task.sleep(for: .milliseconds(600))
            let message = try #require(try await TestKafka.consume([topic], count: 1).first)
            let read = Date()
            let stamp = try #require(message.timestamp)
            // Milliseconds, truncated: up to 1 ms before the send began.
            #expect(stamp >= beforeSend.addingTimeInterval(-0.001) && stamp <= acknowledged, "\(stamp) not in \(beforeSend)…\(acknowledged)")
            let age = try #require(message.age(at: read))
            #expect(age >= .milliseconds(600), "read 600 ms after it was sent, at least: \(age)")
            #expect(message.age(at: stamp.addingTimeInterval(-5)) == .zero, "a clock behind the stamp gives zero, not a negative age")
        }
    }

    @Test func seekRereadsFromAnOffset() async throws {
        let config = try await TestKafka.config()
        try await TestKafka.withTopic(partitions: 1) { topic in
            let producer = try KafkaProducer(config: config)
            for index in 0..<10 {
                try await producer.send(ProducerRecord(topic: topic, key: "k", value: Data("\(index)".utf8), partition: 0))
            }
            await producer.close()
            let consumer = try KafkaConsumer(config: config, groupId: TestKafka.uniqueName("group"))
            try consumer.subscribe([topic])
            var read: [KafkaMessage] = []
            let deadline = ContinuousClock.now + .seconds(30)
            while read.count < 10, ContinuousClock.now < deadline { read += try await consumer.poll(timeout: .milliseconds(200)) }
            #expect(read.count == 10)
            try await consumer.seek(TopicPartitionOffset(TopicPartition(topic, 0), offset: 7))
            var again: [KafkaMessage] = []
            let second = ContinuousClock.now + .seconds(15)
            while again.count < 3, ContinuousClock.now < second { again += try await consumer.poll(timeout: .milliseconds(200)) }
            #expect(again.map(\.offset) == [7, 8, 9])
            await consumer.close()
        }
    }

    @Test func creatingAnExistingTopicSucceeds() async throws {
        let admin = try KafkaAdmin(config: try await TestKafka.config())
        let name = TestKafka.uniqueName()
        let first = try await admin.createTopics([NewTopic(name: name, partitions: 4, replicationFactor: 1)])
        let second = try await admin.createTopics([NewTopic(name: name, partitions: 4, replicationFactor: 1)])
        #expect(first[name] == .created)
        #expect(second[name] == .alreadyExists)
        #expect(try await admin.partitionCount(of: name) == 4)
    }

    @Test func lagIsHighWatermarkMinusCommittedPerPartition() async throws {
        let config = try await TestKafka.config()
        try await TestKafka.withTopic(partitions: 2) { topic in
            let producer = try KafkaProducer(config: config)
            for index in 0..<7 {
                try await producer.send(ProducerRecord(topic: topic, key: "k", value: Data("\(index)".utf8), partition: 0))
            }
            for index in 0..<3 {
                try await producer.send(ProducerRecord(topic: topic, key: "k", value: Data("\(index)".utf8), partition: 1))
            }
            await producer.close()
            let group = TestKafka.uniqueName("group")
            let consumer = try KafkaConsumer(config: config, groupId: group)
            try await consumer.commit([
                TopicPartitionOffset(TopicPartition(topic, 0), offset: 5), TopicPartitionOffset(TopicPartition(topic, 1), offset: 1),
            ])
            await consumer.close()

            let lag = try await KafkaAdmin(config: config).lag(group: group, topics: [topic])
            let byPartition = Dictionary(uniqueKeysWithValues: lag.map { ($0.topicPartition.partition, $0) })
            #expect(byPartition[0]?.highWatermark == 7)
            #expect(byPartition[0]?.committed == 5)
            #expect(byPartition[0]?.lag == 2)
            #expect(byPartition[1]?.highWatermark == 3)
            #expect(byPartition[1]?.committed == 1)
            #expect(byPartition[1]?.lag == 2)
        }
    }

    @Test func aBadPropertyIsAConfigurationErrorNamingIt() throws {
        #expect {
            _ = try KafkaProducer(config: KafkaConfig(properties: ["bootstrap.servers": "127.0.0.1:1", "no.such.property": "1"]))
        } throws: { error in
            (error as? KafkaError)?.message.contains("no.such.property") == true
        }
    }
}
