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

    /// Headers the worker runtime writes when it hands a message to a retry or dead-letter topic.
    /// They describe one trip through the ladder: replaced on each hand-over, dropped on replay.
    public static let ladderHeaders: Set<String> = [
        attempt, notBefore, originalTopic, originalPartition, originalOffset, consumerGroup, errorClass, errorMessage,
        firstFailedAt,
    ]
}
