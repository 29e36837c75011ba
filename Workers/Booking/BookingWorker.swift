import Contracts
import FleetConfiguration
import Kafka
import Runtime

/// The booking worker as its executable and the tests build it. Key: `booking.batch.size`
/// (commands decided per transaction, default 500).
public enum BookingWorker {
    public static func setup(_ environment: WorkerEnvironment) throws -> WorkerSetup {
        guard let pool = environment.database else { throw ConfigError("database.url is required") }
        return WorkerSetup(
            handler: BookingHandler(
                pool: pool, producer: try KafkaProducer(config: environment.kafka, logger: environment.logger),
                eventsTopic: environment.namespace.topicName(Topics.appointmentEvents.name),
                maxBatchSize: try environment.config.int("booking.batch.size", default: 500), logger: environment.logger))
    }
}
