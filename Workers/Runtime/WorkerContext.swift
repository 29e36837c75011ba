import Kafka
import Logging

/// What every lane of one worker shares.
struct WorkerContext: Sendable {
    let settings: WorkerSettings
    let handler: any BatchMessageHandler
    let consumer: KafkaConsumer
    let producer: KafkaProducer
    let limiter: ConcurrencyLimiter
    let metrics: WorkerMetrics
    let logger: Logger
}
