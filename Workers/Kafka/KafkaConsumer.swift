import CRdKafka
import Foundation
import Logging
import Synchronization

/// Told when this member of a group gains or loses partitions.
public protocol KafkaRebalanceListener: Sendable {
    /// Called on the consumer's poll thread after the partitions are assigned.
    func partitionsAssigned(_ partitions: [TopicPartition])
    /// Called on the consumer's poll thread before the partitions are given up. It may block
    /// (briefly) to finish in-flight work on them and `store` its offsets: the consumer commits
    /// what is stored right after it returns, before another member takes the partitions over.
    /// `lost` means the group already moved them (commits would fail); just stop using them.
    func partitionsRevoked(_ partitions: [TopicPartition], lost: Bool)
}

/// A member of a consumer group with manual commits: only what the caller `store`s or
/// `commit`s as done is ever committed (`enable.auto.commit` and auto offset store are off).
public final class KafkaConsumer: Sendable {
    public let groupId: String
    private let client: RDKafkaClient
    private let context: ConsumerContext
    /// Serializes `rd_kafka_consumer_poll` and `rd_kafka_consumer_close` on one Dispatch thread.
    private let pollQueue: DispatchQueue

    public static let defaults = [
        "enable.auto.commit": "false", "enable.auto.offset.store": "false", "auto.offset.reset": "earliest",
        "enable.partition.eof": "false",
    ]

    public init(
        config: KafkaConfig, groupId: String, rebalanceListener: (any KafkaRebalanceListener)? = nil,
        logger: Logger = Logger(label: "carefleet.kafka.consumer")
    ) throws(KafkaError) {
        self.groupId = groupId
        var properties = config.resolved(for: .consumer, defaults: Self.defaults)
        properties["group.id"] = groupId
        // Correctness depends on these two: nothing is committed that the caller has not finished.
        properties["enable.auto.commit"] = "false"
        properties["enable.auto.offset.store"] = "false"
        let context = ConsumerContext(logger: logger, listener: rebalanceListener)
        self.context = context
        client = try RDKafkaClient.make(kind: RD_KAFKA_CONSUMER, properties: properties, context: context) { conf in
            rd_kafka_conf_set_rebalance_cb(conf) { client, code, partitions, opaque in
                guard let client, let partitions, let opaque else { return }
                let context = Unmanaged<ClientContext>.fromOpaque(opaque).takeUnretainedValue()
                (context as? ConsumerContext)?.rebalance(client, code, TopicPartitionList(borrowing: partitions))
            }
        }
        rd_kafka_poll_set_consumer(client.pointer)
        pollQueue = DispatchQueue(label: "carefleet.kafka.consumer.\(groupId)")
    }

    /// Joins the group for these topics.
    public func subscribe(_ topics: [String]) throws(KafkaError) {
        let list = TopicPartitionList(capacity: topics.count)
        for topic in topics { list.add(TopicPartition(topic, -1)) }
        let code = rd_kafka_subscribe(client.pointer, list.pointer)
        guard code == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(code) }
    }

    /// Reads these partitions from these offsets without joining the group (no rebalancing;
    /// for tools that inspect topics). Replaces any previous manual assignment.
    public func assign(_ positions: [TopicPartitionOffset]) throws(KafkaError) {
        let list = TopicPartitionList(positions)
        let code = rd_kafka_assign(client.pointer, list.pointer)
        guard code == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(code) }
        context.setAssigned(Set(positions.map(\.topicPartition)))
    }

    /// Waits up to `timeout` for messages and returns up to `maxMessages` of them (empty when
    /// none came). Rebalance callbacks run inside this call. Idle, it sleeps in librdkafka.
    public func poll(maxMessages: Int = 500, timeout: Duration = .milliseconds(500)) async throws(KafkaError)
        -> [KafkaMessage]
    {
        let client = self.client
        let context = self.context
        let millis = Int32(clamping: timeout.milliseconds)
        return try await withCheckedContinuation { continuation in
            pollQueue.async {
                continuation.resume(returning: Self.pollBatch(client, context, max: maxMessages, timeoutMillis: millis))
            }
        }.get()
    }

    private static func pollBatch(_ client: RDKafkaClient, _ context: ConsumerContext, max: Int, timeoutMillis: Int32)
        -> Result<[KafkaMessage], KafkaError>
    {
        if context.isClosed { return .failure(KafkaError(RD_KAFKA_RESP_ERR__STATE, "consumer is closed")) }
        var messages: [KafkaMessage] = []
        var wait = timeoutMillis
        while messages.count < max, let message = rd_kafka_consumer_poll(client.pointer, wait) {
            defer { rd_kafka_message_destroy(message) }
            wait = 0
            let code = message.pointee.err
            if code == RD_KAFKA_RESP_ERR_NO_ERROR {
                messages.append(KafkaMessage(copying: message))
            } else if let fatal = client.fatalError {
                return .failure(fatal)
            } else if code != RD_KAFKA_RESP_ERR__PARTITION_EOF {
                let text = rd_kafka_message_errstr(message).map { String(cString: $0) }
                context.logger.warning("consumer error", metadata: ["error": "\(KafkaError(code, text))"])
            }
        }
        // A rebalance inside this batch may have revoked partitions whose messages are already in
        // it: drop those, their new owner reads them from the committed offset.
        let assigned = context.assignedPartitions
        return .success(messages.filter { assigned.contains($0.topicPartition) })
    }

    /// Marks offsets (the *next* offset to read) as done; they are committed by `commitStored`,
    /// or when the partition is revoked or the consumer closes. Offsets only move forward; offsets
    /// of partitions this member no longer owns are ignored.
    public func store(_ offsets: [TopicPartitionOffset]) {
        context.store(offsets)
    }

    /// Commits everything stored and not yet committed. Blocks a Dispatch thread, not the pool.
    public func commitStored() async throws(KafkaError) {
        let client = self.client
        let context = self.context
        if let error = await Blocking.run({ context.commitStored(client.pointer, only: nil) }) { throw error }
    }

    /// Commits exactly these offsets (each the next offset to read).
    public func commit(_ offsets: [TopicPartitionOffset]) async throws(KafkaError) {
        guard !offsets.isEmpty else { return }
        let client = self.client
        let error: KafkaError? = await Blocking.run {
            let list = TopicPartitionList(offsets)
            let code = rd_kafka_commit(client.pointer, list.pointer, 0)
            if code != RD_KAFKA_RESP_ERR_NO_ERROR { return KafkaError(code) }
            return list.firstError
        }
        if let error { throw error }
    }

    /// The group's committed offsets for these partitions (nil: nothing committed).
    public func committed(_ partitions: [TopicPartition], timeout: Duration = .seconds(10)) async throws(KafkaError)
        -> [TopicPartition: Int64?]
    {
        let client = self.client
        return try await Blocking.run { KafkaAdmin.committed(client, partitions, timeout: timeout) }.get()
    }

    /// Stops fetching these partitions (others keep flowing) until `resume`.
    public func pause(_ partitions: [TopicPartition]) throws(KafkaError) {
        guard !partitions.isEmpty else { return }
        let list = TopicPartitionList(partitions)
        let code = rd_kafka_pause_partitions(client.pointer, list.pointer)
        if code != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(code) }
        if let error = list.firstError { throw error }
    }

    public func resume(_ partitions: [TopicPartition]) throws(KafkaError) {
        guard !partitions.isEmpty else { return }
        let list = TopicPartitionList(partitions)
        let code = rd_kafka_resume_partitions(client.pointer, list.pointer)
        if code != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(code) }
        if let error = list.firstError { throw error }
    }

    /// Makes the next message read from this partition the one at `offset`.
    public func seek(_ position: TopicPartitionOffset, timeout: Duration = .seconds(5)) async throws(KafkaError) {
        let client = self.client
        let error: KafkaError? = await Blocking.run {
            let list = TopicPartitionList([position])
            if let error = rd_kafka_seek_partitions(client.pointer, list.pointer, Int32(clamping: timeout.milliseconds)) {
                return KafkaError(consuming: error)
            }
            return list.firstError
        }
        if let error { throw error }
    }

    /// The high watermark librdkafka last saw while fetching (no broker round trip), or nil
    /// before the first fetch of that partition.
    public func cachedHighWatermark(_ partition: TopicPartition) -> Int64? {
        var low: Int64 = -1
        var high: Int64 = -1
        let code = rd_kafka_get_watermark_offsets(client.pointer, partition.topic, partition.partition, &low, &high)
        return code == RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0 ? high : nil
    }

    /// The partitions currently assigned to this member.
    public var assignment: [TopicPartition] { context.assignedPartitions.sorted() }

    /// Leaves the group: revokes (committing what is stored) and closes. Idempotent.
    public func close() async {
        let client = self.client
        let context = self.context
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            pollQueue.async {
                if !context.isClosed {
                    let code = rd_kafka_consumer_close(client.pointer)
                    if code != RD_KAFKA_RESP_ERR_NO_ERROR {
                        context.logger.warning("consumer close", metadata: ["error": "\(KafkaError(code))"])
                    }
                    context.markClosed()
                }
                continuation.resume()
            }
        }
    }
}

/// Consumer state the rebalance callback shares with the API: stored offsets and assignment.
final class ConsumerContext: ClientContext, @unchecked Sendable {  // mutable state is behind Mutexes
    let listener: (any KafkaRebalanceListener)?
    private let state = Mutex(State())

    private struct State {
        var stored: [TopicPartition: Int64] = [:]
        var assigned: Set<TopicPartition> = []
        var closed = false
    }

    init(logger: Logger, listener: (any KafkaRebalanceListener)?) {
        self.listener = listener
        super.init(logger: logger)
    }

    var isClosed: Bool { state.withLock { $0.closed } }
    func markClosed() { state.withLock { $0.closed = true } }
    var assignedPartitions: Set<TopicPartition> { state.withLock { $0.assigned } }
    func setAssigned(_ partitions: Set<TopicPartition>) { state.withLock { $0.assigned = partitions } }

    func store(_ offsets: [TopicPartitionOffset]) {
        state.withLock { state in
            for offset in offsets where state.assigned.contains(offset.topicPartition) {
                if let current = state.stored[offset.topicPartition], current >= offset.offset { continue }
                state.stored[offset.topicPartition] = offset.offset
            }
        }
    }

    /// Commits stored offsets (of `only` these partitions when given) synchronously.
    func commitStored(_ client: OpaquePointer, only partitions: Set<TopicPartition>?) -> KafkaError? {
        let snapshot = state.withLock { state in
            state.stored.filter { partitions?.contains($0.key) ?? true }
        }
        guard !snapshot.isEmpty else { return nil }
        let list = TopicPartitionList(snapshot.map { TopicPartitionOffset($0.key, offset: $0.value) })
        let code = rd_kafka_commit(client, list.pointer, 0)
        if code != RD_KAFKA_RESP_ERR_NO_ERROR { return KafkaError(code) }
        if let error = list.firstError { return error }
        state.withLock { state in
            for (partition, offset) in snapshot where state.stored[partition] == offset {
                state.stored[partition] = nil
            }
        }
        return nil
    }

    func rebalance(_ client: OpaquePointer, _ code: rd_kafka_resp_err_t, _ list: TopicPartitionList) {
        let partitions = list.partitions
        let cooperative = String(cString: rd_kafka_rebalance_protocol(client)) == "COOPERATIVE"
        switch code {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
            if cooperative {
                if let error = rd_kafka_incremental_assign(client, list.pointer) {
                    logger.error("incremental assign failed", metadata: ["error": "\(KafkaError(consuming: error))"])
                }
            } else {
                let result = rd_kafka_assign(client, list.pointer)
                if result != RD_KAFKA_RESP_ERR_NO_ERROR {
                    logger.error("assign failed", metadata: ["error": "\(KafkaError(result))"])
                }
            }
            state.withLock { $0.assigned.formUnion(partitions) }
            logger.info("partitions assigned", metadata: ["partitions": "\(partitions.sorted())"])
            listener?.partitionsAssigned(partitions)
        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
            let lost = rd_kafka_assignment_lost(client) != 0
            listener?.partitionsRevoked(partitions, lost: lost)
            if !lost, let error = commitStored(client, only: Set(partitions)) {
                logger.warning("commit before revoke failed", metadata: ["error": "\(error)"])
            }
            state.withLock { state in
                for partition in partitions {
                    state.assigned.remove(partition)
                    state.stored[partition] = nil
                }
            }
            if cooperative {
                if let error = rd_kafka_incremental_unassign(client, list.pointer) {
                    logger.error("incremental unassign failed", metadata: ["error": "\(KafkaError(consuming: error))"])
                }
            } else {
                let result = rd_kafka_assign(client, nil)
                if result != RD_KAFKA_RESP_ERR_NO_ERROR {
                    logger.error("unassign failed", metadata: ["error": "\(KafkaError(result))"])
                }
            }
            logger.info("partitions revoked", metadata: ["partitions": "\(partitions.sorted())", "lost": "\(lost)"])
        default:
            logger.error("rebalance error", metadata: ["error": "\(KafkaError(code))"])
            state.withLock { $0.assigned = [] }
            let result = rd_kafka_assign(client, nil)
            if result != RD_KAFKA_RESP_ERR_NO_ERROR {
                logger.error("unassign after a rebalance error failed", metadata: ["error": "\(KafkaError(result))"])
            }
        }
    }
}

extension Duration {
    var milliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }
}
