import Contracts
import Foundation
import Kafka

/// Where a message first came from: its source topic position, kept through retry stages.
struct MessageOrigin: Sendable, Equatable {
    var topic: String
    var partition: Int32
    var offset: Int64

    /// The origin recorded in a retried message's headers, or the record itself.
    init(of record: KafkaMessage) {
        if let topic = record.header(HeaderName.originalTopic),
            let partition = record.header(HeaderName.originalPartition).flatMap({ Int32($0) }),
            let offset = record.header(HeaderName.originalOffset).flatMap({ Int64($0) })
        {
            self.topic = topic
            self.partition = partition
            self.offset = offset
        } else {
            self.topic = record.topic
            self.partition = record.partition
            self.offset = record.offset
        }
    }
}

/// Builds the records the runtime writes to retry and dead-letter topics: the same key and
/// payload, with the DESIGN.md headers saying where it came from and why it failed.
enum FailureRecords {
    /// Headers the runtime owns; they are replaced, never duplicated, on each hand-over.
    static let runtimeHeaders = HeaderName.ladderHeaders.union([HeaderName.correlationId])

    /// Attempts already made before this delivery (0 for a message nobody tried yet).
    static func previousAttempts(of record: KafkaMessage) -> Int {
        record.header(HeaderName.attempt).flatMap { Int($0) }.map { max(0, $0) } ?? 0
    }

    static func firstFailedAt(of record: KafkaMessage) -> Date? {
        record.header(HeaderName.firstFailedAt).flatMap(WireCoding.parseTimestamp)
    }

    static func notBefore(of record: KafkaMessage) -> Date? {
        record.header(HeaderName.notBefore).flatMap(WireCoding.parseTimestamp)
    }

    /// `failedAt`: when this message first failed here (kept if an earlier stage recorded one).
    static func make(
        from record: KafkaMessage, to topic: String, group: String, failure: Failure, attempts: Int,
        correlationId: String?, notBefore: Date?, failedAt: Date
    ) -> ProducerRecord {
        let origin = MessageOrigin(of: record)
        var headers = record.headers.filter { !runtimeHeaders.contains($0.name) }
        headers.append(KafkaHeader(HeaderName.attempt, String(attempts)))
        if let notBefore { headers.append(KafkaHeader(HeaderName.notBefore, WireCoding.formatTimestamp(notBefore))) }
        headers.append(KafkaHeader(HeaderName.originalTopic, origin.topic))
        headers.append(KafkaHeader(HeaderName.originalPartition, String(origin.partition)))
        headers.append(KafkaHeader(HeaderName.originalOffset, String(origin.offset)))
        headers.append(KafkaHeader(HeaderName.consumerGroup, group))
        headers.append(KafkaHeader(HeaderName.errorClass, failure.errorClass.rawValue))
        headers.append(KafkaHeader(HeaderName.errorMessage, String(failure.message.prefix(2000))))
        headers.append(
            KafkaHeader(HeaderName.firstFailedAt, WireCoding.formatTimestamp(firstFailedAt(of: record) ?? failedAt)))
        if let correlationId = correlationId ?? record.header(HeaderName.correlationId) {
            headers.append(KafkaHeader(HeaderName.correlationId, correlationId))
        }
        return ProducerRecord(topic: topic, key: record.key, value: record.value, headers: headers)
    }
}
