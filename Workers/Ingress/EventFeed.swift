import Contracts
import Foundation
import Kafka
import Logging
import ServiceLifecycle
import Synchronization

/// The topics the ingress follows for its caches and its users' event streams.
public enum FeedTopic: String, Sendable, CaseIterable {
    /// `appointments.events`, keyed by doctor.
    case appointments = "a"
    /// `notifications.inapp`, keyed by recipient.
    case notifications = "n"

    var contract: TopicSpec {
        switch self {
        case .appointments: Topics.appointmentEvents
        case .notifications: Topics.inAppNotifications
        }
    }
}

/// One partition of a followed topic: the unit of positions in a stream's cursor.
public struct FeedPartition: Hashable, Sendable, Comparable {
    public var topic: FeedTopic
    public var partition: Int32

    public static func < (lhs: FeedPartition, rhs: FeedPartition) -> Bool {
        (lhs.topic.rawValue, lhs.partition) < (rhs.topic.rawValue, rhs.partition)
    }
}

/// An event as the feed hands it on: where it was read, its key at once, and the message itself
/// for a subscriber that needs to decode it (decoding every event would cost every copy dearly).
public struct FeedEvent: Sendable {
    public let partition: FeedPartition
    public let offset: Int64
    /// The doctor (appointments) or the recipient (notifications) the event is about.
    public let keyId: UUID?
    let value: Data

    public var doctorId: UUID? { partition.topic == .appointments ? keyId : nil }

    func decodedAppointmentEvent() -> (event: AppointmentEvent, metadata: EnvelopeMetadata)? {
        guard let decoded = try? Catalogs.appointmentEvents.decode(value), let event = try? AppointmentEvent(decoded) else { return nil }
        return (event, decoded.metadata)
    }

    func decodedNotification() -> (notification: InAppNotificationCreated, metadata: EnvelopeMetadata)? {
        guard let decoded = try? Catalogs.inAppNotifications.decode(value), case .created(let created)? = try? InAppNotificationMessage(decoded)
        else { return nil }
        return (created, decoded.metadata)
    }
}

/// The appointment events and in-app notifications as this copy of the ingress sees them: it reads
/// every partition of the followed topics from the end, assigned without a consumer group, so
/// every copy behind a load balancer sees every event (and commits nothing: a restarted copy
/// starts at the end again; a client that reconnects says where it was, see `EventStreamHub`).
/// Subscribers are told each event as it is read, in order per partition.
public final class EventFeed: Service, Sendable {
    public typealias Subscriber = @Sendable (FeedEvent) -> Void

    let kafka: KafkaConfig
    let namespace: FleetNamespace
    let logger: Logger
    private let subscribers = Mutex<[Subscriber]>([])
    /// The next offset of each partition: everything before it has been handed to every subscriber.
    private let positions = Mutex<[FeedPartition: Int64]>([:])
    /// Told when the feed stops (streams end with it: a shutdown must not wait for them).
    private let stopHandlers = Mutex<[@Sendable () -> Void]>([])

    public init(kafka: KafkaConfig, namespace: FleetNamespace, logger: Logger) {
        self.kafka = kafka
        self.namespace = namespace
        self.logger = logger
    }

    public func subscribe(_ subscriber: @escaping Subscriber) {
        subscribers.withLock { $0.append(subscriber) }
    }

    func onStop(_ handler: @escaping @Sendable () -> Void) {
        stopHandlers.withLock { $0.append(handler) }
    }

    /// Where the feed is: every event before these offsets has been handed on.
    var currentPositions: [FeedPartition: Int64] { positions.withLock { $0 } }

    /// Whether the feed follows its topics yet (it knows where each partition ends), waiting up
    /// to `limit` for it: a copy that just started has no positions to resume a stream from.
    func waitUntilFollowing(within limit: Duration) async -> Bool {
        let deadline = ContinuousClock.now + limit
        while positions.withLock({ $0.isEmpty }) {
            guard ContinuousClock.now < deadline, !Task.isCancelled else { return false }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return true
    }

    func topicName(_ topic: FeedTopic) -> String { namespace.topicName(topic.contract.name) }

    public func run() async throws {
        defer { for handler in stopHandlers.withLock({ $0 }) { handler() } }
        let admin = try KafkaAdmin(config: kafka, logger: logger)
        // The topics may not exist yet while a fresh installation starts: wait for them.
        var counts: [FeedTopic: Int] = [:]
        while counts.count < FeedTopic.allCases.count, !Task.isShuttingDownGracefully, !Task.isCancelled {
            for topic in FeedTopic.allCases where counts[topic] == nil {
                counts[topic] = try? await admin.partitionCount(of: topicName(topic), timeout: .seconds(3))
            }
            if counts.count < FeedTopic.allCases.count {
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(1)) }
            }
        }
        guard counts.count == FeedTopic.allCases.count else { return }
        var partitions: [FeedPartition] = []
        var starts: [TopicPartitionOffset] = []
        var byName: [String: FeedTopic] = [:]
        for topic in FeedTopic.allCases {
            byName[topicName(topic)] = topic
            for partition in 0..<Int32(counts[topic] ?? 0) {
                let tp = TopicPartition(topicName(topic), partition)
                let (_, high) = try await admin.watermarks(tp)
                partitions.append(FeedPartition(topic: topic, partition: partition))
                starts.append(TopicPartitionOffset(tp, offset: high))
            }
        }
        // Start exactly at the ends as read, so the positions say what was handed on.
        positions.withLock { positions in
            for (partition, start) in zip(partitions, starts) { positions[partition] = start.offset }
        }
        let consumer = try KafkaConsumer(
            config: kafka, groupId: "carefleet-ingress-feed-\(UUID.random().canonical)", logger: logger)
        try consumer.assign(starts)
        logger.info("following appointment events and in-app notifications", metadata: ["partitions": "\(partitions.count)"])
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
                guard let topic = byName[message.topic] else { continue }
                let partition = FeedPartition(topic: topic, partition: message.partition)
                let event = FeedEvent(
                    partition: partition, offset: message.offset,
                    keyId: message.key.flatMap { UUID(parsing: String(decoding: $0, as: UTF8.self)) }, value: message.value ?? Data())
                for subscriber in current { subscriber(event) }
                positions.withLock { $0[partition] = message.offset + 1 }
            }
        }
        await consumer.close()
    }
}
