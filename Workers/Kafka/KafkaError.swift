import CRdKafka

/// An error from librdkafka or the broker, with librdkafka's code kept.
public struct KafkaError: Error, Sendable, CustomStringConvertible {
    /// librdkafka's `rd_kafka_resp_err_t` (negative: local errors; positive: broker errors).
    public var code: Int32
    /// librdkafka's name of the code, e.g. `_TRANSPORT` or `TOPIC_ALREADY_EXISTS`.
    public var name: String
    public var message: String
    /// Trying the same operation again may succeed.
    public var isRetriable: Bool
    /// The client instance is unusable and must be recreated (e.g. idempotence broken).
    public var isFatal: Bool

    public init(code: Int32, name: String, message: String, isRetriable: Bool, isFatal: Bool) {
        self.code = code
        self.name = name
        self.message = message
        self.isRetriable = isRetriable
        self.isFatal = isFatal
    }

    init(_ error: rd_kafka_resp_err_t, _ message: String? = nil, fatal: Bool = false) {
        self.code = error.rawValue
        self.name = String(cString: rd_kafka_err2name(error))
        self.message = message ?? String(cString: rd_kafka_err2str(error))
        self.isRetriable = KafkaError.retriableCodes.contains(error)
        self.isFatal = fatal || error == RD_KAFKA_RESP_ERR__FATAL
    }

    /// Takes ownership of (and destroys) an `rd_kafka_error_t`.
    init(consuming error: OpaquePointer) {
        self.code = rd_kafka_error_code(error).rawValue
        self.name = String(cString: rd_kafka_error_name(error))
        self.message = String(cString: rd_kafka_error_string(error))
        self.isRetriable = rd_kafka_error_is_retriable(error) != 0
        self.isFatal = rd_kafka_error_is_fatal(error) != 0
        rd_kafka_error_destroy(error)
    }

    /// A misuse or bad setting on our side.
    static func configuration(_ message: String) -> KafkaError {
        KafkaError(RD_KAFKA_RESP_ERR__INVALID_ARG, message)
    }

    /// The awaiting task was cancelled before the operation took effect (librdkafka's `_INTR`).
    static func cancelled(_ message: String) -> KafkaError {
        KafkaError(RD_KAFKA_RESP_ERR__INTR, message)
    }

    /// The operation was abandoned because its task was cancelled; nothing was sent.
    public var isCancellation: Bool { code == RD_KAFKA_RESP_ERR__INTR.rawValue }

    public var description: String { "\(name) (\(code)): \(message)" }

    private static let retriableCodes: Set<rd_kafka_resp_err_t> = [
        RD_KAFKA_RESP_ERR__TRANSPORT, RD_KAFKA_RESP_ERR__TIMED_OUT, RD_KAFKA_RESP_ERR__MSG_TIMED_OUT,
        RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, RD_KAFKA_RESP_ERR__QUEUE_FULL, RD_KAFKA_RESP_ERR__WAIT_COORD,
        RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
        RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
        RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND, RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE,
        RD_KAFKA_RESP_ERR_NOT_COORDINATOR, RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS,
        RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS, RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION,
        RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
    ]
}
