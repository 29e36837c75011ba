import Contracts
import Foundation
import Kafka
import Runtime
import TestSupport
import Testing
import Logging
import ServiceLifecycle

@Suite("Worker runtime", .timeLimit(.minutes(3)))
struct RuntimeTests {
    @Test func poisonMessagesGoStraightToTheDeadLetterTopicAndThePartitionMovesOn() async throws {
        let group = try await TestGroup.make(partitions: 1)
        let handler = RecordingHandler()
        let unknownType = try JSONSerialization.data(withJSONObject: [
            "id": UUID().uuidString, "type": "test.unheard-of", "version": 1, "occurredAt": "2026-11-24T09:00:00.000Z",
            "correlationId": "c-1", "tenantId": Tenants.defaultTenant.uuidString, "actor": ["role": "system"], "payload": [:],
        ])
        var unknownVersionObject = try #require(
            try JSONSerialization.jsonObject(with: try ProbeWork.envelope(5)) as? [String: Any])
        unknownVersionObject["version"] = 9
        let unknownVersion = try JSONSerialization.data(withJSONObject: unknownVersionObject)
        let poison = [Data([0xff, 0xfe, 0x00, 0x41]), unknownType, unknownVersion]
        var offsets: [Int64] = []
        for (index, value) in poison.enumerated() {
            offsets.append(try await group.send(value, key: "poison-\(index)", partition: 0).offset)
        }
        _ = try await group.send(try ProbeWork.envelope(1), partition: 0)

        try await withWorker(group.settings(), handler: handler) { _ in
            try await eventually("the message after the poison is handled") { !handler.calls(for: 1).isEmpty }
            try await eventually("three dead letters") { try await group.depth(of: group.deadLetterTopic) == 3 }
        }
        let letters = try await group.contents(of: group.deadLetterTopic).sorted { $0.offset < $1.offset }
        #expect(letters.map { $0.header(HeaderName.errorClass) } == ["undecodable", "unknown_type", "unknown_version"])
        #expect(letters.allSatisfy { ($0.header(HeaderName.errorMessage) ?? "").count > 5 })
        #expect(letters.map(\.value) == poison, "payload kept byte for byte")
        #expect(letters.map(\.keyString) == ["poison-0", "poison-1", "poison-2"], "key kept")
        #expect(letters.map { $0.header(HeaderName.originalOffset) } == offsets.map { String($0) })
        #expect(letters.allSatisfy { $0.header(HeaderName.originalTopic) == group.topic })
        #expect(letters.allSatisfy { $0.header(HeaderName.consumerGroup) == group.spec.name })
        #expect(letters.allSatisfy { $0.header(HeaderName.attempt) == "1" })
        #expect(letters[2].header(HeaderName.errorMessage)?.contains("version 9") == true)
        #expect(handler.calls.value.count == 1, "poison never reaches the handler")
    }

    @Test func aMessageThatAlwaysFailsWalksTheLadderThenIsDeadLettered() async throws {
        let ladder = RetryLadder(
            attemptsPerStage: 2, initialBackoff: .milliseconds(100), maxBackoff: .milliseconds(200), jitter: 0,
            stageDelays: [.seconds(1), .seconds(2)])
        let group = try await TestGroup.make(partitions: 2, ladder: ladder)
        let handler = RecordingHandler()
        let origin = try await group.send(try ProbeWork.envelope(7, behaviour: "fail-always"), key: "doctor-7")

        try await withWorker(group.settings(), handler: handler) { _ in
            try await eventually(timeout: .seconds(40), "the message is dead-lettered") {
                try await group.depth(of: group.deadLetterTopic) == 1
            }
        }
        let calls = handler.calls(for: 7)
        #expect(calls.count == 6, "2 tries at each of 3 stages")
        #expect(calls.map(\.attempt) == [1, 2, 3, 4, 5, 6])
        #expect(calls.map(\.topic) == [group.topic, group.topic, group.retryTopic(1), group.retryTopic(1), group.retryTopic(2), group.retryTopic(2)])
        for call in calls where call.topic != group.topic {
            let notBefore = try #require(call.notBefore)
            #expect(call.at >= notBefore, "stage \(call.topic) handled it before its x-not-before")
        }
        let stage1Wait = calls[2].at.timeIntervalSince(calls[1].at)
        let stage2Wait = calls[4].at.timeIntervalSince(calls[3].at)
        #expect(stage1Wait >= 0.95 && stage2Wait >= 1.95, "stage delays 1 s and 2 s: \(stage1Wait), \(stage2Wait)")
        #expect(try await group.depth(of: group.retryTopic(1)) == 1)
        #expect(try await group.depth(of: group.retryTopic(2)) == 1)

        let letter = try #require(try await group.contents(of: group.deadLetterTopic).first)
        #expect(letter.header(HeaderName.attempt) == "6")
        #expect(letter.header(HeaderName.originalTopic) == group.topic)
        #expect(letter.header(HeaderName.originalPartition) == String(origin.partition))
        #expect(letter.header(HeaderName.originalOffset) == String(origin.offset))
        #expect(letter.header(HeaderName.consumerGroup) == group.spec.name)
        #expect(letter.header(HeaderName.errorClass) == "transient")
        #expect(letter.header(HeaderName.errorMessage) == "always failing")
        #expect(letter.header(HeaderName.correlationId) == "probe-7")
        let firstFailed = try #require(letter.header(HeaderName.firstFailedAt).flatMap(WireCoding.parseTimestamp))
        #expect(abs(firstFailed.timeIntervalSince(calls[0].at)) < 1)
        #expect(letter.keyString == "doctor-7")
    }

    @Test func aMessageThatFailsTwiceThenSucceedsIsHandledInPlace() async throws {
        let ladder = RetryLadder(attemptsPerStage: 3, initialBackoff: .milliseconds(50), jitter: 0, stageDelays: [.seconds(1), .seconds(2)])
        let group = try await TestGroup.make(partitions: 1, ladder: ladder)
        let handler = RecordingHandler()
        _ = try await group.send(try ProbeWork.envelope(3, behaviour: "fail-twice"))
        _ = try await group.send(try ProbeWork.envelope(4))

        try await withWorker(group.settings(), handler: handler) { _ in
            try await eventually("both handled") { handler.calls(for: 3).count == 3 && handler.calls(for: 4).count == 1 }
            try await eventually("both offsets committed") { try await group.lag() == 0 }
        }
        #expect(handler.calls(for: 3).map(\.attempt) == [1, 2, 3])
        #expect(handler.calls(for: 3).allSatisfy { $0.topic == group.topic })
        #expect(try await group.depth(of: group.retryTopic(1)) == 0)
        #expect(try await group.depth(of: group.retryTopic(2)) == 0)
        #expect(try await group.depth(of: group.deadLetterTopic) == 0)
        let lag = try await KafkaAdmin(config: try await TestKafka.config()).lag(group: group.spec.name, topics: [group.topic])
        #expect(lag.allSatisfy { $0.lag == 0 }, "both offsets committed")
    }

    @Test func otherPartitionsFlowWhileOneWaitsOutABackoff() async throws {
        let ladder = RetryLadder(attemptsPerStage: 2, initialBackoff: .seconds(5), maxBackoff: .seconds(5), jitter: 0)
        let group = try await TestGroup.make(partitions: 6, ladder: ladder)
        let handler = RecordingHandler()
        try await withWorker(group.settings(), handler: handler) { _ in
            _ = try await group.send(try ProbeWork.envelope(0, behaviour: "fail-once"), partition: 0)
            try await eventually("partition 0 failed once") { handler.calls(for: 0).count == 1 }
            let producer = try KafkaProducer(config: try await TestKafka.config())
            try await withThrowingTaskGroup(of: Void.self) { sends in
                for partition in Int32(1)...5 {
                    let value = try ProbeWork.envelope(Int(partition))
                    sends.addTask { try await producer.send(ProducerRecord(topic: group.topic, key: "k", value: value, partition: partition)) }
                }
                try await sends.waitForAll()
            }
            await producer.close()
            try await eventually("partition 0 retried") { handler.calls(for: 0).count == 2 }
        }
        let p0 = handler.calls(for: 0)
        #expect(p0[1].at.timeIntervalSince(p0[0].at) >= 4.95, "the backoff was 5 s")
        for n in 1...5 {
            let call = try #require(handler.calls(for: n).first)
            #expect(call.at > p0[0].at && call.at < p0[1].at, "partition \(n) was handled while partition 0 waited")
        }
    }

    @Test func aPermanentFailureSkipsTheLadder() async throws {
        let group = try await TestGroup.make(partitions: 1)
        let handler = RecordingHandler()
        _ = try await group.send(try ProbeWork.envelope(9, behaviour: "reject"))
        try await withWorker(group.settings(), handler: handler) { _ in
            try await eventually("dead-lettered") { try await group.depth(of: group.deadLetterTopic) == 1 }
        }
        #expect(handler.calls(for: 9).count == 1)
        let letter = try #require(try await group.contents(of: group.deadLetterTopic).first)
        #expect(letter.header(HeaderName.errorClass) == "test_rejected")
        #expect(try await group.depth(of: group.retryTopic(1)) == 0)
    }

    @Test func failuresAreClassifiedInOnePlace() {
        #expect(FailureClassifier.classify(HandlerError.permanent("x")).isPermanent)
        #expect(!FailureClassifier.classify(HandlerError.transient("x")).isPermanent)
        #expect(FailureClassifier.classify(ContractError.unknownType("t")).errorClass == .unknownType)
        #expect(FailureClassifier.classify(ContractError.invalid(field: "f", reason: "r")).isPermanent)
        struct Mystery: Error {}
        #expect(!FailureClassifier.classify(Mystery()).isPermanent, "unknown errors are retried")
    }
}

/// Receives consecutive messages of one partition together.
final class BatchRecorder: BatchMessageHandler {
    let batches = Locked<[[(partition: Int32, offset: Int64)]]>([])
    var maxBatchSize: Int { 50 }

    func handle(batch: [IncomingMessage]) async -> [Result<Void, any Error>] {
        batches.withLock { $0.append(batch.map { ($0.record.partition, $0.record.offset) }) }
        return batch.map { _ in .success(()) }
    }
}

@Suite("Batch handlers", .timeLimit(.minutes(2)))
struct BatchHandlerTests {
    @Test func consecutiveMessagesOfOnePartitionArriveTogetherInOrder() async throws {
        let group = try await TestGroup.make(partitions: 2)
        for n in 0..<200 { _ = try await group.send(try ProbeWork.envelope(n), partition: Int32(n % 2)) }
        let recorder = BatchRecorder()
        var logger = Logger(label: "test.batch")
        logger.logLevel = .warning
        let worker = try ConsumerWorker(
            settings: group.settings(), kafka: try await TestKafka.config(), batchHandler: recorder, logger: logger)
        let services = ServiceGroup(services: [worker], logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await services.run() }
            try await eventually("all handled") { recorder.batches.value.map(\.count).reduce(0, +) == 200 }
            await services.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        let batches = recorder.batches.value
        #expect(batches.allSatisfy { Set($0.map(\.partition)).count == 1 }, "a batch holds one partition")
        #expect(batches.allSatisfy { $0.count <= 50 })
        #expect(batches.contains { $0.count > 1 }, "messages were batched")
        for partition in Int32(0)...1 {
            let offsets = batches.flatMap { $0 }.filter { $0.partition == partition }.map(\.offset)
            #expect(offsets == Array(0..<100), "partition \(partition) in order, each once")
        }
    }
}
