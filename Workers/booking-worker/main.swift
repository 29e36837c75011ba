import Booking
import Contracts
import Kafka
import Runtime

// booking-worker: consumes appointments.commands, decides each command under the doctor's row
// lock and publishes the outcome to appointments.events.
await WorkerProgram.run(group: ConsumerGroups.booking) { environment in
    guard let pool = environment.database else { throw HandlerError.permanent("database.url is required") }
    return BookingHandler(
        pool: pool, producer: try KafkaProducer(config: environment.kafka, logger: environment.logger),
        eventsTopic: environment.namespace.topicName(Topics.appointmentEvents.name),
        maxBatchSize: try environment.config.int("booking.batch.size", default: 500), logger: environment.logger)
}
