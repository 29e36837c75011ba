import Contracts
import Foundation
import Kafka
import Logging
import ServiceLifecycle
import Synchronization

/// An event as the feed hands it on: its key (the doctor id) at once, the decoded event only for
/// a subscriber that asks (decoding every event would cost every copy of the ingress dearly).
public struct FeedEvent: Sendable {
    /// The doctor the event is about (events are keyed by doctor id).
    public let doctorId: UUID?
    let value: Data

    public func decoded() -> (event: AppointmentEvent, metadata: EnvelopeMetadata)? {
        guard let decoded = try? Catalogs.appointmentEvents.decode(value), let event = try? AppointmentEvent(decoded) else { return nil }
        return (event, decoded.metadata)
    }
}

/// The appointment events as this copy of the ingress sees them: it reads every partition of
/// `appointments.events` from the end, assigned without a consumer group, so every copy behind a
/// load balancer sees every event (and commits nothing: a restarted copy starts at the end
/// again, which is right for caches). Subscribers are told each event as it is read.
public final class EventFeed: Service, Sendable {
    public typealias Subscriber = @Sendable (FeedEvent) -> Void

    let kafka: KafkaConfig
    let topic: String
    let logger: Logger
    private let subscribers = Mutex<[Subscriber]>([])

    public init(kafka: KafkaConfig, namespace: FleetNamespace, logger: Logger) {
        self.kafka = kafka
        topic = namespace.topicName(Topics.appointmentEvents.name)
        self.logger = logger
    }

    public func subscribe(_ subscriber: @escaping Subscriber) {
        subscribers.withLock { $0.append(subscriber) }
    }

    public func run() async throws {
        let admin = try KafkaAdmin(config: kafka, logger: logger)
        // The topic may not exist yet while a fresh installation starts: wait for it.
        var partitions: Int?
        while partitions == nil, !Task.isShuttingDownGracefully, !Task.isCancelled {
            partitions = try? await admin.partitionCount(of: topic, timeout: .seconds(3))
            if partitions == nil { try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(1)) } }
        }
        guard let partitions else { return }
        let consumer = try KafkaConsumer(
            config: kafka, groupId: "carefleet-ingress-feed-\(UUID().canonical)", logger: logger)
        // -1 is librdkafka's RD_KAFKA_OFFSET_END: only what is written from now on.
        try consumer.assign((0..<Int32(partitions)).map { TopicPartitionOffset(TopicPartition(topic, $0), offset: -1) })
        logger.info("reading appointment events", metadata: ["topic": "\(topic)", "partitions": "\(partitions)"])
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            let messages: [KafkaMessage]
            do {
                messages = try await consumer.poll(maxMessages: 1000, timeout: .milliseconds(100))
            } catch {
                logger.warning("event feed poll failed", metadata: ["error": "\(error)"])
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(500)) }
                continue
            }
            guard !messages.isEmpty else { continue }
            let current = subscribers.withLock { $0 }
            for message in messages {
                guard let value = message.value else { continue }
                let event = FeedEvent(doctorId: message.key.flatMap { UUID(uuidString: String(decoding: $0, as: UTF8.self)) }, value: value)
                for subscriber in current { subscriber(event) }
            }
        }
        await consumer.close()
    }
}
