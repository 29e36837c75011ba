import CRdKafka
import Foundation
import Logging

/// A topic to create.
public struct NewTopic: Sendable, Hashable {
    public var name: String
    public var partitions: Int
    /// -1 lets the broker choose (`default.replication.factor`).
    public var replicationFactor: Int
    public var configs: [String: String]

    public init(name: String, partitions: Int, replicationFactor: Int = -1, configs: [String: String] = [:]) {
        self.name = name
        self.partitions = partitions
        self.replicationFactor = replicationFactor
        self.configs = configs
    }
}

public enum TopicCreation: Sendable, Hashable {
    case created
    case alreadyExists
}

public struct TopicMetadata: Sendable, Hashable {
    public var name: String
    public var partitions: Int
}

/// One partition's position of a group: committed offset, high watermark and their difference.
public struct PartitionLag: Sendable, Hashable {
    public var group: String
    public var topicPartition: TopicPartition
    /// The next offset the group will read; nil when the group never committed here.
    public var committed: Int64?
    public var lowWatermark: Int64
    public var highWatermark: Int64

    /// Messages not yet consumed: high watermark − committed (from the low watermark when
    /// nothing is committed, as `auto.offset.reset=earliest` would read).
    public var lag: Int64 { max(0, highWatermark - (committed ?? lowWatermark)) }
}

/// Topic administration and offset inspection.
public final class KafkaAdmin: Sendable {
    private let config: KafkaConfig
    let client: RDKafkaClient
    private let logger: Logger

    public init(config: KafkaConfig, logger: Logger = Logger(label: "carefleet.kafka.admin")) throws(KafkaError) {
        self.config = config
        self.logger = logger
        // A producer instance is the lightest client that can run admin requests and metadata.
        var properties = config.resolved(for: .producer)
        properties["enable.idempotence"] = "false"
        client = try RDKafkaClient.make(kind: RD_KAFKA_PRODUCER, properties: properties, context: ClientContext(logger: logger))
    }

    /// Creates topics; a topic that exists already is fine (`.alreadyExists`).
    public func createTopics(_ topics: [NewTopic], timeout: Duration = .seconds(30)) async throws(KafkaError)
        -> [String: TopicCreation]
    {
        guard !topics.isEmpty else { return [:] }
        let client = self.client
        return try await Blocking.run { Self.createTopics(client, topics, timeout: timeout) }.get()
    }

    private static func createTopics(_ client: RDKafkaClient, _ topics: [NewTopic], timeout: Duration)
        -> Result<[String: TopicCreation], KafkaError>
    {
        var errorText = [CChar](repeating: 0, count: 512)
        var newTopics: [OpaquePointer?] = []
        defer { for topic in newTopics { rd_kafka_NewTopic_destroy(topic) } }
        for topic in topics {
            guard
                let newTopic = rd_kafka_NewTopic_new(
                    topic.name, Int32(topic.partitions), Int32(topic.replicationFactor), &errorText, errorText.count)
            else {
                return .failure(.configuration("topic \(topic.name): \(String(errorBuffer: errorText))"))
            }
            newTopics.append(newTopic)
            for (key, value) in topic.configs.sorted(by: { $0.key < $1.key }) {
                let code = rd_kafka_NewTopic_set_config(newTopic, key, value)
                if code != RD_KAFKA_RESP_ERR_NO_ERROR { return .failure(KafkaError(code, "topic \(topic.name) config \(key)")) }
            }
        }
        guard let queue = rd_kafka_queue_new(client.pointer) else {
            return .failure(.configuration("rd_kafka_queue_new failed"))
        }
        defer { rd_kafka_queue_destroy(queue) }
        let options = rd_kafka_AdminOptions_new(client.pointer, RD_KAFKA_ADMIN_OP_CREATETOPICS)
        defer { rd_kafka_AdminOptions_destroy(options) }
        // librdkafka refuses timeouts out of its range (at most an hour): say so instead of
        // silently running with its default.
        let millis = Int32(clamping: timeout.milliseconds)
        if rd_kafka_AdminOptions_set_request_timeout(options, millis, &errorText, errorText.count)
            != RD_KAFKA_RESP_ERR_NO_ERROR
            || rd_kafka_AdminOptions_set_operation_timeout(options, millis, &errorText, errorText.count)
                != RD_KAFKA_RESP_ERR_NO_ERROR
        {
            return .failure(.configuration("CreateTopics timeout \(timeout): \(String(errorBuffer: errorText))"))
        }
        newTopics.withUnsafeMutableBufferPointer { buffer in
            rd_kafka_CreateTopics(client.pointer, buffer.baseAddress, buffer.count, options, queue)
        }
        guard let event = rd_kafka_queue_poll(queue, Int32(clamping: timeout.milliseconds + 5000)) else {
            return .failure(KafkaError(RD_KAFKA_RESP_ERR__TIMED_OUT, "CreateTopics got no answer in \(timeout)"))
        }
        defer { rd_kafka_event_destroy(event) }
        let eventError = rd_kafka_event_error(event)
        if eventError != RD_KAFKA_RESP_ERR_NO_ERROR {
            return .failure(KafkaError(eventError, rd_kafka_event_error_string(event).map { String(cString: $0) }))
        }
        guard let result = rd_kafka_event_CreateTopics_result(event) else {
            return .failure(.configuration("unexpected admin event"))
        }
        var count = 0
        guard let results = rd_kafka_CreateTopics_result_topics(result, &count) else { return .success([:]) }
        var outcome: [String: TopicCreation] = [:]
        for index in 0..<count {
            guard let topicResult = results[index] else { continue }
            let name = String(cString: rd_kafka_topic_result_name(topicResult))
            let code = rd_kafka_topic_result_error(topicResult)
            switch code {
            case RD_KAFKA_RESP_ERR_NO_ERROR: outcome[name] = .created
            case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS: outcome[name] = .alreadyExists
            default:
                let text = rd_kafka_topic_result_error_string(topicResult).map { String(cString: $0) }
                return .failure(KafkaError(code, "topic \(name): \(text ?? "")"))
            }
        }
        return .success(outcome)
    }

    /// Every topic the cluster knows, with its partition count.
    public func listTopics(timeout: Duration = .seconds(10)) async throws(KafkaError) -> [TopicMetadata] {
        let client = self.client
        return try await Blocking.run { Self.metadata(client, topic: nil, timeout: timeout) }.get()
    }

    /// Partition count of one topic (nil when it does not exist).
    public func partitionCount(of topic: String, timeout: Duration = .seconds(10)) async throws(KafkaError) -> Int? {
        try await listTopics(timeout: timeout).first { $0.name == topic }?.partitions
    }

    static func metadata(_ client: RDKafkaClient, topic: String?, timeout: Duration) -> Result<[TopicMetadata], KafkaError>
    {
        var metadata: UnsafePointer<rd_kafka_metadata>?
        let code = rd_kafka_metadata(client.pointer, 1, nil, &metadata, Int32(clamping: timeout.milliseconds))
        guard code == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else { return .failure(KafkaError(code)) }
        defer { rd_kafka_metadata_destroy(metadata) }
        let topics = UnsafeBufferPointer(start: metadata.pointee.topics, count: Int(metadata.pointee.topic_cnt))
        return .success(
            topics.filter { $0.err == RD_KAFKA_RESP_ERR_NO_ERROR }.map {
                TopicMetadata(name: String(cString: $0.topic), partitions: Int($0.partition_cnt))
            }.sorted { $0.name < $1.name })
    }

    /// The low and high watermark of a partition (high = offset the next message will get).
    public func watermarks(_ partition: TopicPartition, timeout: Duration = .seconds(10)) async throws(KafkaError)
        -> (low: Int64, high: Int64)
    {
        let client = self.client
        return try await Blocking.run { () -> Result<(low: Int64, high: Int64), KafkaError> in
            var low: Int64 = 0
            var high: Int64 = 0
            let code = rd_kafka_query_watermark_offsets(
                client.pointer, partition.topic, partition.partition, &low, &high, Int32(clamping: timeout.milliseconds))
            guard code == RD_KAFKA_RESP_ERR_NO_ERROR else { return .failure(KafkaError(code, "\(partition): \(KafkaError(code).message)")) }
            return .success((low, high))
        }.get()
    }

    /// The committed offsets of `group` for these partitions, read without joining the group.
    public func committedOffsets(group: String, partitions: [TopicPartition], timeout: Duration = .seconds(10))
        async throws(KafkaError) -> [TopicPartition: Int64?]
    {
        var properties = config.resolved(for: .consumer)
        properties["group.id"] = group
        properties["enable.auto.commit"] = "false"
        let reader = try RDKafkaClient.make(kind: RD_KAFKA_CONSUMER, properties: properties, context: ClientContext(logger: logger))
        return try await Blocking.run { Self.committed(reader, partitions, timeout: timeout) }.get()
    }

    static func committed(_ client: RDKafkaClient, _ partitions: [TopicPartition], timeout: Duration)
        -> Result<[TopicPartition: Int64?], KafkaError>
    {
        let list = TopicPartitionList(partitions)
        let code = rd_kafka_committed(client.pointer, list.pointer, Int32(clamping: timeout.milliseconds))
        guard code == RD_KAFKA_RESP_ERR_NO_ERROR else { return .failure(KafkaError(code)) }
        var result: [TopicPartition: Int64?] = [:]
        for (partition, offset, _) in list.offsets { result[partition] = offset >= 0 ? offset : nil }
        return .success(result)
    }

    /// Lag of `group` on every partition of `topics`.
    public func lag(group: String, topics: [String], timeout: Duration = .seconds(10)) async throws(KafkaError)
        -> [PartitionLag]
    {
        let known = try await listTopics(timeout: timeout)
        var partitions: [TopicPartition] = []
        for topic in topics {
            guard let metadata = known.first(where: { $0.name == topic }) else { continue }
            partitions += (0..<metadata.partitions).map { TopicPartition(topic, Int32($0)) }
        }
        guard !partitions.isEmpty else { return [] }
        let committed = try await committedOffsets(group: group, partitions: partitions, timeout: timeout)
        var lags: [PartitionLag] = []
        for partition in partitions {
            let (low, high) = try await watermarks(partition, timeout: timeout)
            lags.append(
                PartitionLag(
                    group: group, topicPartition: partition, committed: committed[partition] ?? nil, lowWatermark: low,
                    highWatermark: high))
        }
        return lags
    }
}
