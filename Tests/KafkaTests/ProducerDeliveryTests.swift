import Foundation
import Kafka
import Runtime
import TestSupport
import Testing

@Suite("Kafka producer: delivery reports, cancellation and close", .timeLimit(.minutes(3)))
struct ProducerDeliveryTests {
    @Test func aSendCancelledWhileTheLocalQueueIsFullEndsAtOnceAndSendsNothing() async throws {
        var config = try await TestKafka.config()
        // One record fills the local queue and lingers 3 s before it goes out, so the next send
        // finds the queue full for those 3 s.
        config.properties["producer.queue.buffering.max.messages"] = "1"
        config.properties["producer.linger.ms"] = "3000"
        try await TestKafka.withTopic(partitions: 1) { topic in
            let producer = try KafkaProducer(config: config)
            let first = Task {
                try await producer.send(ProducerRecord(topic: topic, key: "k", value: Data("first".utf8)))
            }
            try await eventually(timeout: .seconds(5), "the first record is enqueued") {
                producer.pendingDeliveries == 1
            }
            let second = Task {
                try await producer.send(ProducerRecord(topic: topic, key: "k", value: Data("second".utf8)))
            }
            // Give the second send time to find the queue full and start waiting for room.
            try await Task.sleep(for: .milliseconds(200))
            let cancelledAt = ContinuousClock.now
            second.cancel()
            let outcome = await second.result
            let waited = cancelledAt.duration(to: .now)
            switch outcome {
            case .success(let report):
                Issue.record("a send cancelled while the queue was full went out: \(report)")
            case .failure(let error):
                #expect((error as? KafkaError)?.isCancellation == true, "\(error)")
            }
            #expect(waited < .seconds(1), "cancellation ended the wait at once (took \(waited))")

            let report = try await first.value
            #expect(report.offset == 0)
            await producer.close()
            let (_, high) = try await KafkaAdmin(config: config).watermarks(TopicPartition(topic, 0))
            #expect(high == 1, "only the first record reached the broker")
        }
    }

    @Test func aBatchSendReturnsEachRecordsOwnReportInRecordOrder() async throws {
        var config = try await TestKafka.config()
        // A queue smaller than the batch: enqueueing waits for room in the middle of the batch.
        config.properties["producer.queue.buffering.max.messages"] = "100"
        let total = 2000
        try await TestKafka.withTopic(partitions: 3) { topic in
            let producer = try KafkaProducer(config: config)
            let records = (0..<total).map {
                ProducerRecord(topic: topic, key: "key-\($0 % 17)", value: Data("record-\($0)".utf8))
            }
            let reports = try await producer.send(records)
            await producer.close()
            #expect(reports.count == total)
            #expect(producer.pendingDeliveries == 0)

            let messages = try await TestKafka.consume([topic], count: total)
            #expect(messages.count == total)
            var stored: [String: Data] = [:]
            for message in messages { stored["\(message.partition)/\(message.offset)"] = message.value }
            // Report i must point at the message that holds record i.
            let mismatched = reports.enumerated().filter { index, report in
                stored["\(report.partition)/\(report.offset)"] != Data("record-\(index)".utf8)
            }
            #expect(mismatched.isEmpty, "reports not matching their record: \(mismatched.prefix(5))")
        }
    }

    @Test func closingFailsSendsWhoseReportNeverCameAndRefusesLaterSends() async throws {
        // No broker listens on this port, so the record's report can only come from `close`.
        let config = KafkaConfig(
            bootstrapServers: "127.0.0.1:\(try freeLoopbackPort())",
            properties: ["producer.message.timeout.ms": "60000"])
        let producer = try KafkaProducer(config: config)
        let send = Task { try await producer.send(ProducerRecord(topic: "nowhere", key: "k", value: Data("v".utf8))) }
        try await eventually(timeout: .seconds(5), "the record is enqueued") { producer.pendingDeliveries == 1 }

        await producer.close(timeout: .milliseconds(200))
        let outcome = Locked<Result<DeliveryReport, any Error>?>(nil)
        Task { outcome.set(await send.result) }
        try await eventually(timeout: .seconds(10), "the waiting send got an answer") { outcome.value != nil }
        switch outcome.value {
        case .failure(let error as KafkaError):
            #expect(["_PURGE_QUEUE", "_PURGE_INFLIGHT", "_DESTROY"].contains(error.name), "\(error)")
        case let other:
            Issue.record("expected a KafkaError from close, got \(String(describing: other))")
        }
        #expect(producer.pendingDeliveries == 0)

        await #expect {
            try await producer.send(ProducerRecord(topic: "nowhere", key: "k", value: Data("late".utf8)))
        } throws: { error in
            (error as? KafkaError)?.name == "_STATE"
        }
    }

    @Test func anAdminTimeoutLibrdkafkaRefusesIsAnErrorNotItsDefault() async throws {
        let admin = try KafkaAdmin(config: try await TestKafka.config())
        await #expect {
            _ = try await admin.createTopics(
                [NewTopic(name: TestKafka.uniqueName(), partitions: 1)], timeout: .seconds(7200))
        } throws: { error in
            (error as? KafkaError)?.message.contains("timeout") == true
        }
    }
}
