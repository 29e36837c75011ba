import Contracts
import Foundation
import Kafka

/// Where a dead letter sits: topic, partition and offset (`topic/partition/offset` as text, the
/// value of `x-replayed-from` on its republished copy).
public struct DeadLetterPosition: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var topic: String
    public var partition: Int32
    public var offset: Int64

    public init(topic: String, partition: Int32, offset: Int64) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
    }

    public init(_ message: KafkaMessage) {
        self.init(topic: message.topic, partition: message.partition, offset: message.offset)
    }

    /// Reads `topic/partition/offset` (the topic may itself hold no slash).
    public init?(parsing text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, let partition = Int32(parts[1]), partition >= 0, let offset = Int64(parts[2]), offset >= 0
        else { return nil }
        self.init(topic: String(parts[0]), partition: partition, offset: offset)
    }

    public var description: String { "\(topic)/\(partition)/\(offset)" }

    public static func < (a: Self, b: Self) -> Bool { (a.topic, a.partition, a.offset) < (b.topic, b.partition, b.offset) }
}

/// A message of a dead-letter topic, as operators read it.
public struct DeadLetter: Sendable {
    public let message: KafkaMessage

    public init(_ message: KafkaMessage) { self.message = message }

    public var position: DeadLetterPosition { DeadLetterPosition(message) }

    public static func chronological(_ a: KafkaMessage, _ b: KafkaMessage) -> Bool {
        (a.timestamp ?? .distantPast, a.partition, a.offset) < (b.timestamp ?? .distantPast, b.partition, b.offset)
    }

    /// Where it is republished: its original topic (the source topic of the dead-letter topic
    /// when the header is missing).
    public var originalTopic: String {
        message.header(HeaderName.originalTopic) ?? DerivedTopic(parsing: message.topic)?.source ?? message.topic
    }

    public var errorClass: String? { message.header(HeaderName.errorClass) }
    public var errorMessage: String? { message.header(HeaderName.errorMessage) }

    /// Header names and values as text (bytes that are not UTF-8 become U+FFFD).
    public var headerTexts: [(name: String, value: String)] {
        message.headers.map { ($0.name, $0.value.map { String(decoding: $0, as: UTF8.self) } ?? "") }
    }

    public var payloadText: String { message.value.map { String(decoding: $0, as: UTF8.self) } ?? "" }

    public var text: String {
        var lines = ["— \(position)  key \(message.keyString ?? "-")  at \(message.timestamp.map(WireCoding.formatTimestamp) ?? "-")"]
        for header in headerTexts { lines.append("  \(header.name): \(header.value)") }
        lines.append("  payload: \(payloadText)")
        return lines.joined(separator: "\n")
    }

    public var jsonObject: [String: Any] {
        var headers: [String: String] = [:]
        for header in headerTexts { headers[header.name] = header.value }
        return [
            "topic": message.topic, "partition": Int(message.partition), "offset": message.offset,
            "key": message.keyString ?? NSNull(), "timestamp": message.timestamp.map(WireCoding.formatTimestamp) ?? NSNull(),
            "headers": headers, "payload": payloadText,
        ]
    }

    /// The same key and payload for the original topic: the runtime's failure headers removed
    /// (attempts start again), `x-replayed-from` added.
    public func replayRecord() -> ProducerRecord {
        let dropped = HeaderName.ladderHeaders.union([HeaderName.replayedFrom])
        var headers = message.headers.filter { !dropped.contains($0.name) }
        headers.append(KafkaHeader(HeaderName.replayedFrom, position.description))
        return ProducerRecord(topic: originalTopic, key: message.key, value: message.value, headers: headers)
    }
}
