import CRdKafka
import Foundation

public struct TopicPartition: Hashable, Sendable, CustomStringConvertible, Comparable {
    public var topic: String
    public var partition: Int32

    public init(_ topic: String, _ partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    public var description: String { "\(topic)[\(partition)]" }

    public static func < (lhs: TopicPartition, rhs: TopicPartition) -> Bool {
        (lhs.topic, lhs.partition) < (rhs.topic, rhs.partition)
    }
}

/// A position in a partition. For commits, `offset` is the *next* offset to read.
public struct TopicPartitionOffset: Hashable, Sendable, CustomStringConvertible {
    public var topicPartition: TopicPartition
    public var offset: Int64

    public init(_ topicPartition: TopicPartition, offset: Int64) {
        self.topicPartition = topicPartition
        self.offset = offset
    }

    public var description: String { "\(topicPartition)@\(offset)" }
}

public struct KafkaHeader: Hashable, Sendable {
    public var name: String
    public var value: Data?

    public init(_ name: String, _ value: Data?) {
        self.name = name
        self.value = value
    }

    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = Data(value.utf8)
    }
}

/// A message read from a partition.
public struct KafkaMessage: Sendable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    public var key: Data?
    public var value: Data?
    public var headers: [KafkaHeader]
    /// The producer's (or broker's) timestamp, when the message has one.
    public var timestamp: Date?

    public init(
        topic: String, partition: Int32, offset: Int64, key: Data?, value: Data?, headers: [KafkaHeader],
        timestamp: Date?
    ) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key
        self.value = value
        self.headers = headers
        self.timestamp = timestamp
    }

    public var topicPartition: TopicPartition { TopicPartition(topic, partition) }

    /// How long before `now` the record was produced, by its timestamp (librdkafka sets it when
    /// the record is handed to the producer, to the millisecond): nil without one, never negative.
    /// A reader that wants to know when something happened, not when its own fetch returned
    /// (which adds up to `fetch.wait.max.ms`), reads this.
    public func age(at now: Date = Date()) -> Duration? {
        guard let timestamp else { return nil }
        return .milliseconds(max(0, Int64((now.timeIntervalSince(timestamp) * 1000).rounded())))
    }

    /// The key as UTF-8 text (keys here are ids).
    public var keyString: String? { key.map { String(decoding: $0, as: UTF8.self) } }

    /// The last header of that name, as UTF-8 text.
    public func header(_ name: String) -> String? {
        headers.last { $0.name == name }?.value.map { String(decoding: $0, as: UTF8.self) }
    }

    /// Copies a librdkafka message (which the caller still owns and destroys).
    init(copying message: UnsafePointer<rd_kafka_message_t>) {
        let native = message.pointee
        topic = native.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? ""
        partition = native.partition
        offset = native.offset
        key = native.key.map { Data(bytes: $0, count: native.key_len) }
        value = native.payload.map { Data(bytes: $0, count: native.len) }
        var timestampType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let millis = rd_kafka_message_timestamp(message, &timestampType)
        timestamp = millis >= 0 ? Date(timeIntervalSince1970: Double(millis) / 1000) : nil
        headers = []
        var nativeHeaders: OpaquePointer?
        if rd_kafka_message_headers(message, &nativeHeaders) == RD_KAFKA_RESP_ERR_NO_ERROR, let nativeHeaders {
            var index = 0
            var name: UnsafePointer<CChar>?
            var value: UnsafeRawPointer?
            var size = 0
            while rd_kafka_header_get_all(nativeHeaders, index, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
                if let name {
                    headers.append(KafkaHeader(String(cString: name), value.map { Data(bytes: $0, count: size) }))
                }
                index += 1
            }
        }
    }
}

/// Where the broker stored a produced message.
public struct DeliveryReport: Sendable, Hashable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
}

/// A message to produce. `partition` nil lets the partitioner choose by key.
public struct ProducerRecord: Sendable {
    public var topic: String
    public var key: Data?
    public var value: Data?
    public var headers: [KafkaHeader]
    public var partition: Int32?

    public init(topic: String, key: Data?, value: Data?, headers: [KafkaHeader] = [], partition: Int32? = nil) {
        self.topic = topic
        self.key = key
        self.value = value
        self.headers = headers
        self.partition = partition
    }

    public init(topic: String, key: String?, value: Data?, headers: [KafkaHeader] = [], partition: Int32? = nil) {
        self.init(topic: topic, key: key.map { Data($0.utf8) }, value: value, headers: headers, partition: partition)
    }
}
