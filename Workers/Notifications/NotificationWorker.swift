import Contracts
import FleetConfiguration
import Kafka
import Runtime

/// The notification worker as its executable and the tests build it: the handler and the
/// reminder sender. Keys: `notify.reminder.offsets` (e.g. `24h,1h`), `notify.reminder.interval`.
public enum NotificationWorker {
    public static func setup(_ environment: WorkerEnvironment) throws -> WorkerSetup {
        guard let pool = environment.database else { throw ConfigError("database.url is required") }
        let producer = try KafkaProducer(config: environment.kafka, logger: environment.logger)
        let emailTopic = environment.namespace.topicName(Topics.notificationEmail.name)
        let inAppTopic = environment.namespace.topicName(Topics.inAppNotifications.name)
        let offsets = try environment.config.string("notify.reminder.offsets", default: "24h").split(separator: ",").map { text in
            guard let offset = FleetConfig.parseDuration(String(text)) else {
                throw ConfigError("notify.reminder.offsets must list durations like 24h,1h, not '\(text)'")
            }
            return offset
        }
        let sender = ReminderSender(
            pool: pool, producer: producer, emailTopic: emailTopic, inAppTopic: inAppTopic,
            interval: try environment.config.duration("notify.reminder.interval", default: .seconds(15)), logger: environment.logger)
        return WorkerSetup(
            handler: NotificationHandler(
                pool: pool, producer: producer, emailTopic: emailTopic, inAppTopic: inAppTopic,
                reminders: ReminderSchedule(offsets: offsets),
                maxBatchSize: try environment.config.int("notify.batch.size", default: 200), logger: environment.logger),
            services: [sender])
    }
}
