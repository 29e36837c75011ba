import Contracts
import Foundation
import Kafka
import Logging
import Runtime
import ServiceLifecycle
import TestSupport
import Testing

/// A source topic of its own with a group of its own, and that group's retry and dead-letter topics.
struct TestGroup {
    let topic: String
    let spec: ConsumerGroupSpec

    static func make(partitions: Int = 3, ladder: RetryLadder = RetryLadder()) async throws -> TestGroup {
        let topic = TestKafka.uniqueName("source")
        let source = TopicSpec(name: topic, partitions: partitions)
        let spec = ConsumerGroupSpec(name: "group-\(UUID().uuidString.prefix(8).lowercased())", sources: [source], ladder: ladder)
        try await TestKafka.createTopics([topic], partitions: partitions)
        try await TestKafka.createTopics(spec.derivedTopics(of: source).map(\.name), partitions: partitions)
        return TestGroup(topic: topic, spec: spec)
    }

    var deadLetterTopic: String { spec.deadLetterTopic(of: topic) }
    func retryTopic(_ stage: Int) -> String { spec.retryTopic(of: topic, stage: stage) }

    func settings(concurrency: Int = 8) -> WorkerSettings {
        WorkerSettings(
            group: spec, catalogs: [topic: ProbeWork.catalog], concurrency: concurrency, commitInterval: .milliseconds(100),
            shutdownDeadline: .seconds(5))
    }

    func send(_ value: Data, key: String = "k", partition: Int32? = nil, headers: [KafkaHeader] = []) async throws
        -> DeliveryReport
    {
        let producer = try KafkaProducer(config: try await TestKafka.config())
        let report = try await producer.send(
            ProducerRecord(topic: topic, key: key, value: value, headers: headers, partition: partition))
        await producer.close()
        return report
    }

    /// Every message now in `topic` (empty when it has none).
    func contents(of topic: String) async throws -> [KafkaMessage] {
        let config = try await TestKafka.config()
        return try await TopicReader(config: config).readAll(topic, admin: try KafkaAdmin(config: config))
    }

    /// The group's lag on its source topic (committed against high watermark, all partitions).
    func lag() async throws -> Int64 {
        try await KafkaAdmin(config: try await TestKafka.config()).lag(group: spec.name, topics: [topic]).map(\.lag).reduce(0, +)
    }

    func depth(of topic: String) async throws -> Int64 {
        let admin = try KafkaAdmin(config: try await TestKafka.config())
        var depth: Int64 = 0
        for partition in 0..<Int32(spec.sources[0].partitions) {
            let (low, high) = try await admin.watermarks(TopicPartition(topic, partition))
            depth += high - low
        }
        return depth
    }
}

/// One handler call as a test handler saw it.
struct Call: Sendable {
    let n: Int
    let attempt: Int
    let topic: String
    let partition: Int32
    let at: Date
    let notBefore: Date?
    let replayedFrom: String?
}

/// A handler that records every call and fails as each message's `behaviour` says:
/// `fail-always` (transient), `fail-twice`, `fail-once`, `reject` (permanent while `rejecting`).
final class RecordingHandler: MessageHandler {
    let calls = Locked<[Call]>([])
    let rejecting = Locked(true)

    func handle(_ message: IncomingMessage) async throws {
        let work = try #require(message.envelope(as: ProbeWork.self)?.payload)
        calls.withLock {
            $0.append(
                Call(
                    n: work.n, attempt: message.attempt, topic: message.record.topic, partition: message.record.partition,
                    at: Date(), notBefore: message.record.header(HeaderName.notBefore).flatMap(WireCoding.parseTimestamp),
                    replayedFrom: message.record.header(HeaderName.replayedFrom)))
        }
        let tries = calls.value.filter { $0.n == work.n }.count
        switch work.behaviour {
        case "fail-always": throw HandlerError.transient("always failing")
        case "fail-twice" where tries <= 2: throw HandlerError.transient("failing twice")
        case "fail-once" where tries <= 1: throw HandlerError.transient("failing once")
        case "reject" where rejecting.value: throw HandlerError.permanent("rejected", class: ErrorClass("test_rejected"))
        default: return
        }
    }

    func calls(for n: Int) -> [Call] { calls.value.filter { $0.n == n } }
}

/// Runs a worker in a service group for the duration of `body`, then shuts it down gracefully.
func withWorker<R: Sendable>(
    _ settings: WorkerSettings, handler: any MessageHandler, _ body: @Sendable (ConsumerWorker) async throws -> R
) async throws -> R {
    var logger = Logger(label: "test.worker")
    logger.logLevel = .warning
    let worker = try ConsumerWorker(settings: settings, kafka: try await TestKafka.config(), handler: handler, logger: logger)
    let group = ServiceGroup(services: [worker], logger: logger)
    return try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        do {
            let value = try await body(worker)
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return value
        } catch {
            await group.triggerGracefulShutdown()
            try? await tasks.waitForAll()
            throw error
        }
    }
}
