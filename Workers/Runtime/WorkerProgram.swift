import Contracts
import FleetConfiguration
import Foundation
import Kafka
import Logging
import Metrics
import Postgres
import Prometheus
import ServiceLifecycle

/// What a worker executable's handler is built from.
public struct WorkerEnvironment: Sendable {
    public let config: FleetConfig
    /// Topic and group names are in this namespace (empty in production).
    public let namespace: FleetNamespace
    public let kafka: KafkaConfig
    /// Present when `database.url` is configured.
    public let database: PostgresPool?
    public let logger: Logger
}

/// The whole `main` of a worker executable: configuration, JSON logs, Prometheus metrics, the
/// consumer worker and its `/health` + `/metrics` endpoint in one `ServiceGroup` that drains on
/// SIGTERM or SIGINT and exits 0.
public enum WorkerProgram {
    /// `group` as in Contracts: it is put in the configured `fleet.namespace`. `catalogs` (by
    /// source topic, namespaced) default to the decoders Contracts has for the group's sources.
    public static func run(
        group contractGroup: ConsumerGroupSpec, catalogs explicitCatalogs: [String: MessageCatalog]? = nil,
        makeHandler: (WorkerEnvironment) async throws -> any BatchMessageHandler
    ) async {
        await run(group: contractGroup, catalogs: explicitCatalogs) { environment in
            WorkerSetup(handler: try await makeHandler(environment))
        }
    }

    /// Like `run(group:catalogs:makeHandler:)`, for workers that also run services of their own
    /// (e.g. a scheduler) in the same service group.
    public static func run(
        group contractGroup: ConsumerGroupSpec, catalogs explicitCatalogs: [String: MessageCatalog]? = nil,
        makeWorker: (WorkerEnvironment) async throws -> WorkerSetup
    ) async {
        do {
            let config = try FleetConfig.load()
            guard let namespace = FleetNamespace(config.string("fleet.namespace", default: "")) else {
                throw ConfigError("fleet.namespace may hold only letters, digits and '-'")
            }
            let group = namespace.group(contractGroup)
            let catalogs = explicitCatalogs ?? namespace.catalogs(for: group)
            let (logger, registry) = ProgramObservability.bootstrap(config, program: group.name)

            let kafka = KafkaConfig(properties: config.subtree("kafka"))
            let database = config.string("database.url").map {
                PostgresPool(
                    url: $0, maximumConnections: (try? config.int("database.pool.size", default: 10)) ?? 10,
                    applicationName: group.name, logger: logger)
            }
            let environment = WorkerEnvironment(
                config: config, namespace: namespace, kafka: kafka, database: database, logger: logger)
            let setup = try await makeWorker(environment)
            let settings = try WorkerSettings.from(config, group: group, catalogs: catalogs)
            let worker = try ConsumerWorker(settings: settings, kafka: kafka, batchHandler: setup.handler, logger: logger)
            let port = try config.int("http.port", default: 9100)
            let operations = OperationsServer.make(
                port: port, registry: registry, health: { worker.health.report }, logger: logger)
            let serviceGroup = ServiceGroup(
                configuration: ServiceGroupConfiguration(
                    services: [
                        .init(service: worker, successTerminationBehavior: .gracefullyShutdownGroup),
                        .init(service: operations),
                    ] + setup.services.map { .init(service: $0) },
                    gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            try await serviceGroup.run()
            database?.close()
            logger.info("exiting")
        } catch {
            FileHandle.standardError.write(Data("\(contractGroup.name): \(error)\n".utf8))
            exit(1)
        }
    }
}

/// What a worker executable runs: its handler, and any services of its own.
public struct WorkerSetup: Sendable {
    public var handler: any BatchMessageHandler
    public var services: [any Service]

    public init(handler: any BatchMessageHandler, services: [any Service] = []) {
        self.handler = handler
        self.services = services
    }
}
