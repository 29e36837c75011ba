/// Kafka header names (all values are UTF-8 strings).
public enum HeaderName {
    /// How many times the message has been tried so far.
    public static let attempt = "x-attempt"
    /// ISO-8601 time before which a retry must not be handled.
    public static let notBefore = "x-not-before"
    public static let originalTopic = "x-original-topic"
    public static let originalPartition = "x-original-partition"
    public static let originalOffset = "x-original-offset"
    public static let consumerGroup = "x-consumer-group"
    public static let errorClass = "x-error-class"
    public static let errorMessage = "x-error-message"
    public static let firstFailedAt = "x-first-failed-at"
    public static let traceparent = "traceparent"
    public static let correlationId = "x-correlation-id"
    /// Set on a message republished from a dead-letter topic: `<dlq topic>/<partition>/<offset>`.
    public static let replayedFrom = "x-replayed-from"
}
