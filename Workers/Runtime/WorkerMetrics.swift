import Kafka
import Metrics

/// The swift-metrics instruments of one worker (exported as Prometheus text on `/metrics`).
struct WorkerMetrics: Sendable {
    let group: String

    func handled(_ topic: String, count: Int = 1) {
        Counter(label: "carefleet_messages_handled_total", dimensions: [("group", group), ("topic", topic)])
            .increment(by: count)
    }

    func failed(_ topic: String, errorClass: String) {
        Counter(
            label: "carefleet_messages_failed_total",
            dimensions: [("group", group), ("topic", topic), ("error_class", errorClass)]
        ).increment()
    }

    /// A try repeated in place (`stage` "in_place") or a message handed to retry stage n.
    func retried(_ topic: String, stage: String) {
        Counter(label: "carefleet_messages_retried_total", dimensions: [("group", group), ("topic", topic), ("stage", stage)])
            .increment()
    }

    func deadLettered(_ topic: String, errorClass: String) {
        Counter(
            label: "carefleet_messages_dead_lettered_total",
            dimensions: [("group", group), ("topic", topic), ("error_class", errorClass)]
        ).increment()
    }

    func handlerLatency(_ topic: String, _ duration: Duration) {
        Timer(label: "carefleet_handler_duration_seconds", dimensions: [("group", group), ("topic", topic)])
            .record(duration)
    }

    func lag(_ partition: TopicPartition, _ lag: Int64) {
        Gauge(
            label: "carefleet_consumer_lag",
            dimensions: [("group", group), ("topic", partition.topic), ("partition", String(partition.partition))]
        ).record(lag)
    }
}

extension Metrics.Timer {
    /// Records a `Duration` (swift-metrics takes nanoseconds; sub-nanosecond parts are dropped).
    public func record(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
