import Clinic
import Contracts
import FleetConfiguration
import Foundation
import Kafka
import Logging
import Postgres
import Prometheus

/// Everything the routes use.
public struct IngressServices: Sendable {
    public let database: PostgresPool
    public let producer: KafkaProducer
    public let admin: KafkaAdmin
    public let tokens: AccessTokens
    public let passwords: Passwords
    public let namespace: FleetNamespace
    public let refreshLifetime: TimeInterval
    public let loginLimits: LoginLimits
    public let metrics: PrometheusCollectorRegistry
    public let logger: Logger
    /// Checked against when an email has no account, so that timing tells nothing.
    let decoyHash: String

    public init(
        database: PostgresPool, producer: KafkaProducer, admin: KafkaAdmin, tokens: AccessTokens, passwords: Passwords,
        namespace: FleetNamespace, refreshLifetime: TimeInterval, loginLimits: LoginLimits,
        metrics: PrometheusCollectorRegistry, logger: Logger
    ) {
        self.database = database
        self.producer = producer
        self.admin = admin
        self.tokens = tokens
        self.passwords = passwords
        self.namespace = namespace
        self.refreshLifetime = refreshLifetime
        self.loginLimits = loginLimits
        self.metrics = metrics
        self.logger = logger
        decoyHash = passwords.hashSynchronously(UUID().uuidString)
    }

    /// Builds the services from configuration: `database.url`, `kafka.*`, `auth.jwt.secret`,
    /// `auth.access.ttl`, `auth.refresh.ttl`, `auth.bcrypt.cost`, `auth.login.*`, `fleet.namespace`.
    public static func from(_ config: FleetConfig, metrics: PrometheusCollectorRegistry, logger: Logger) throws
        -> IngressServices
    {
        let secret = try config.require("auth.jwt.secret")
        guard secret.utf8.count >= 32 else { throw ConfigError("auth.jwt.secret must be at least 32 bytes") }
        guard let namespace = FleetNamespace(config.string("fleet.namespace", default: "")) else {
            throw ConfigError("fleet.namespace may hold only letters, digits and '-'")
        }
        let kafka = KafkaConfig(properties: config.subtree("kafka"))
        return IngressServices(
            database: PostgresPool(
                url: try config.require("database.url"), maximumConnections: try config.int("database.pool.size", default: 10),
                applicationName: "ingress", logger: logger),
            producer: try KafkaProducer(config: kafka, logger: logger), admin: try KafkaAdmin(config: kafka, logger: logger),
            tokens: AccessTokens(secret: secret, lifetime: try config.duration("auth.access.ttl", default: .seconds(900)).timeInterval),
            passwords: Passwords(cost: try config.int("auth.bcrypt.cost", default: 12)), namespace: namespace,
            refreshLifetime: try config.duration("auth.refresh.ttl", default: .seconds(30 * 86400)).timeInterval,
            loginLimits: LoginLimits(
                perAccount: try config.int("auth.login.max.failures.account", default: 5),
                perAddress: try config.int("auth.login.max.failures.address", default: 20),
                window: try config.duration("auth.login.window", default: .seconds(900)).timeInterval),
            metrics: metrics, logger: logger)
    }

    var commandsTopic: String { namespace.topicName(Topics.appointmentCommands.name) }
}

/// How many failed logins are tolerated within `window` seconds.
public struct LoginLimits: Sendable {
    public var perAccount: Int
    public var perAddress: Int
    public var window: TimeInterval

    public init(perAccount: Int, perAddress: Int, window: TimeInterval) {
        self.perAccount = perAccount
        self.perAddress = perAddress
        self.window = window
    }
}

extension Duration {
    var timeInterval: TimeInterval { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
