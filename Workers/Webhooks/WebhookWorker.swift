import Contracts
import FleetConfiguration
import Kafka
import Runtime

/// The webhook worker as its executable and the tests build it. Keys: `webhook.timeout` (one
/// POST, default 10s), `webhook.disable.after` (how long an endpoint may fail every delivery
/// before it is disabled, default 24h), `webhook.user.agent`, `webhooks.allow.private.addresses`
/// (connect to loopback and private addresses: development and tests only, default false).
public enum WebhookWorker {
    public static func setup(_ environment: WorkerEnvironment) throws -> WorkerSetup {
        guard let pool = environment.database else { throw ConfigError("database.url is required") }
        let config = environment.config
        let timeout = try config.duration("webhook.timeout", default: .seconds(10))
        guard timeout >= .milliseconds(100), timeout <= .seconds(60) else {
            throw ConfigError("webhook.timeout must be between 100ms and 60s, not \(timeout)")
        }
        let disableAfter = try config.duration("webhook.disable.after", default: .seconds(24 * 3600))
        guard disableAfter >= .seconds(1) else { throw ConfigError("webhook.disable.after must be at least 1s") }
        let producer = try KafkaProducer(config: environment.kafka, logger: environment.logger)
        return WorkerSetup(
            handler: WebhookHandler(
                store: WebhookStore(pool: pool), producer: producer,
                deliveriesTopic: environment.namespace.topicName(Topics.webhookDeliveries.name),
                emailTopic: environment.namespace.topicName(Topics.notificationEmail.name),
                poster: WebhookPoster(
                    timeout: timeout, userAgent: config.string("webhook.user.agent", default: "CareFleet-Webhooks/1"),
                    allowPrivateAddresses: try config.bool("webhooks.allow.private.addresses", default: false)),
                disableAfter: disableAfter, logger: environment.logger))
    }
}
