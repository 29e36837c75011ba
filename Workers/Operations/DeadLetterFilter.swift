import Contracts
import Foundation
import Kafka

/// Which dead letters an operator means: by error class, key and the time they were
/// dead-lettered (`since` inclusive, `until` exclusive). Empty fields match everything.
public struct DeadLetterFilter: Sendable, Hashable {
    public var errorClass: String?
    public var key: String?
    public var since: Date?
    public var until: Date?

    public init(errorClass: String? = nil, key: String? = nil, since: Date? = nil, until: Date? = nil) {
        self.errorClass = errorClass
        self.key = key
        self.since = since
        self.until = until
    }

    public static let everything = DeadLetterFilter()

    /// Reads the times as ISO-8601 (`WireCoding`); empty texts mean no condition.
    public init(errorClass: String?, key: String?, since: String?, until: String?) throws(DeadLetterError) {
        func time(_ text: String?) throws(DeadLetterError) -> Date? {
            guard let text, !text.isEmpty else { return nil }
            guard let date = WireCoding.parseTimestamp(text) else { throw .notATime(text) }
            return date
        }
        self.init(
            errorClass: errorClass.flatMap { $0.isEmpty ? nil : $0 }, key: key.flatMap { $0.isEmpty ? nil : $0 }, since: try time(since),
            until: try time(until))
    }

    public func matches(_ message: KafkaMessage) -> Bool {
        if let errorClass, message.header(HeaderName.errorClass) != errorClass { return false }
        if let key, message.keyString != key { return false }
        let at = message.timestamp ?? .distantPast
        if let since, at < since { return false }
        if let until, at >= until { return false }
        return true
    }
}

/// Why a dead-letter operation was refused.
public enum DeadLetterError: Error, Sendable, Equatable, CustomStringConvertible {
    case notADeadLetterTopic(String)
    case notATime(String)

    public var description: String {
        switch self {
        case .notADeadLetterTopic(let topic): "\(topic) is not a dead-letter topic (<topic>.<group>.dlq)"
        case .notATime(let text): "'\(text)' is not an ISO-8601 time"
        }
    }
}
