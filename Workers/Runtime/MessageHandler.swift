import Contracts
import Foundation
import Kafka

/// A message as a handler sees it: decoded, with where it came from and how often it was tried.
public struct IncomingMessage: Sendable {
    public let decoded: DecodedMessage
    /// The Kafka record as read (key, headers, topic — a retry topic for retried messages).
    public let record: KafkaMessage
    /// The source topic this message belongs to (the original topic of a retried message).
    public let sourceTopic: String
    /// 0 for the source topic, n for retry stage n.
    public let stage: Int
    /// 1 for the first try of this message anywhere, growing across in-place tries and stages.
    public let attempt: Int

    public var metadata: EnvelopeMetadata { decoded.metadata }
    public var payload: any MessagePayload { decoded.payload }

    /// The whole envelope with the payload as `P`, when it is one.
    public func envelope<P: MessagePayload>(as type: P.Type) -> Envelope<P>? { decoded.envelope(as: type) }
}

/// Handles one message at a time. Throw `HandlerError` to say how a failure should be treated;
/// other errors are classified by `FailureClassifier`.
public protocol MessageHandler: Sendable {
    func handle(_ message: IncomingMessage) async throws
}

/// Handles consecutive messages of one partition together (e.g. one database transaction for
/// many commands). Returns one result per message, in order.
public protocol BatchMessageHandler: Sendable {
    /// The most messages handed over at once.
    var maxBatchSize: Int { get }
    /// The most messages of one source topic (namespaced) handed over at once, for a handler
    /// whose sources want different batches (default: `maxBatchSize`).
    func maxBatchSize(forSource source: String) -> Int
    func handle(batch: [IncomingMessage]) async -> [Result<Void, any Error>]
}

extension BatchMessageHandler {
    public func maxBatchSize(forSource source: String) -> Int { maxBatchSize }
}

extension Array where Element == IncomingMessage {
    /// A batch read as messages of one topic: each that is one with its index, and a result per
    /// message, already failed (permanently, as a contract error) for one that is not.
    public func decoded<T: TopicMessage>(as _: T.Type) -> (
        items: [(index: Int, message: IncomingMessage, value: T)], results: [Result<Void, any Error>]
    ) {
        var results = [Result<Void, any Error>](repeating: .success(()), count: count)
        var items: [(index: Int, message: IncomingMessage, value: T)] = []
        for (index, message) in enumerated() {
            do {
                items.append((index, message, try T(message.decoded)))
            } catch {
                results[index] = .failure(error)
            }
        }
        return (items, results)
    }
}

/// Runs a one-at-a-time handler where a batch handler is expected.
public struct OneAtATime: BatchMessageHandler {
    public let handler: any MessageHandler
    public var maxBatchSize: Int { 1 }

    public init(_ handler: any MessageHandler) { self.handler = handler }

    public func handle(batch: [IncomingMessage]) async -> [Result<Void, any Error>] {
        var results: [Result<Void, any Error>] = []
        for message in batch {
            do {
                try await handler.handle(message)
                results.append(.success(()))
            } catch {
                results.append(.failure(error))
            }
        }
        return results
    }
}

/// How a handler says a message failed.
public struct HandlerError: Error, Sendable, CustomStringConvertible {
    public enum Disposition: Sendable { case transient, permanent }

    public var disposition: Disposition
    public var errorClass: ErrorClass
    public var message: String
    /// The least time before the next in-place try, when the dependency said (e.g. an HTTP
    /// `Retry-After`); the ladder's backoff applies when it is longer.
    public var retryAfter: Duration? = nil

    /// Worth retrying later (a dependency is down, a timeout, an SMTP 4xx).
    public static func transient(_ message: String, class errorClass: ErrorClass = .transient, retryAfter: Duration? = nil)
        -> HandlerError
    {
        HandlerError(disposition: .transient, errorClass: errorClass, message: message, retryAfter: retryAfter)
    }

    /// Will never succeed as it is: straight to the dead-letter topic.
    public static func permanent(_ message: String, class errorClass: ErrorClass = .permanent) -> HandlerError {
        HandlerError(disposition: .permanent, errorClass: errorClass, message: message)
    }

    public var description: String { "\(errorClass): \(message)" }
}
