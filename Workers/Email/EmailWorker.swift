import Contracts
import FleetConfiguration
import Mail
import Runtime

/// The email worker as its executable builds it from configuration.
public enum EmailWorker {
    /// `smtp.*` (url, require.tls, username, password, timeout, idle.connections) and `email.*`
    /// (from.address, from.name, batch.size, connections.per.batch, rate.per.second: 0 for no limit).
    public static func setup(_ environment: WorkerEnvironment) throws -> WorkerSetup {
        guard let pool = environment.database else { throw ConfigError("database.url is required") }
        let config = environment.config
        let batchSize = try config.int("email.batch.size", default: 20)
        guard batchSize >= 1 else { throw ConfigError("email.batch.size must be at least 1, not \(batchSize)") }
        let connectionsPerBatch = try config.int("email.connections.per.batch", default: 4)
        guard connectionsPerBatch >= 1 else {
            throw ConfigError("email.connections.per.batch must be at least 1, not \(connectionsPerBatch)")
        }
        let idleDefault = Topics.notificationEmail.partitions * connectionsPerBatch
        let smtp = SMTPClient(
            settings: SMTPSettings(
                url: try config.require("smtp.url"), requireTLS: try config.bool("smtp.require.tls", default: false),
                username: config.string("smtp.username"), password: config.string("smtp.password"),
                timeout: try config.duration("smtp.timeout", default: .seconds(30)),
                // Kept open between batches: a worker has a lane per partition it holds (all of
                // notifications.email when it runs alone), each batch using up to
                // email.connections.per.batch of them at once.
                idleConnections: try config.int("smtp.idle.connections", default: idleDefault)))
        let rate = try config.double("email.rate.per.second", default: 0)
        guard rate >= 0 else { throw ConfigError("email.rate.per.second must be 0 (no limit) or more, not \(rate)") }
        return WorkerSetup(
            handler: EmailHandler(
                pool: pool, smtp: smtp,
                sender: MailAddress(
                    config.string("email.from.address", default: "appointments@carefleet.local"),
                    name: config.string("email.from.name", default: "CareFleet")),
                templates: try EmailTemplates(), rateLimiter: RateLimiter(perSecond: rate), logger: environment.logger,
                maxBatchSize: batchSize, connectionsPerBatch: connectionsPerBatch))
    }
}
