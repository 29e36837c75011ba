import Contracts
import Kafka
import Postgres

/// What to do with a failed message.
public struct Failure: Sendable, Equatable {
    public var isPermanent: Bool
    public var errorClass: ErrorClass
    public var message: String
    /// The least wait before the next in-place try (see `HandlerError.retryAfter`).
    public var retryAfter: Duration? = nil
}

/// The one place that decides whether a failure is worth retrying.
public enum FailureClassifier {
    public static func classify(_ error: any Error) -> Failure {
        switch error {
        case let error as HandlerError:
            return Failure(
                isPermanent: error.disposition == .permanent, errorClass: error.errorClass, message: error.message,
                retryAfter: error.retryAfter)
        case let error as ContractError:
            return Failure(isPermanent: true, errorClass: error.errorClass, message: error.description)
        case let error as PostgresError:
            // Connection trouble, deadlocks and serialization failures pass; anything else the
            // server rejects (a constraint, a bad statement) will be rejected again.
            return Failure(
                isPermanent: !error.isRetriable, errorClass: ErrorClass(error.isRetriable ? "database_unavailable" : "database"),
                message: error.description)
        case let error as KafkaError:
            return Failure(
                isPermanent: false, errorClass: ErrorClass(error.isFatal ? "broker_fatal" : "broker_unavailable"),
                message: error.description)
        default:
            // Unknown errors are retried: the ladder ends in the dead-letter topic anyway, and a
            // bug fixed meanwhile lets a later stage succeed.
            return Failure(isPermanent: false, errorClass: .transient, message: String(describing: error))
        }
    }
}
