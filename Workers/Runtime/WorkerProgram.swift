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

/// A worker program: configuration, the consumer worker of its group with its handler, its
/// `/health` + `/metrics` endpoint and its own services. Its executable's `main` runs it in a
/// `ServiceGroup` that drains on SIGTERM or SIGINT and exits 0 (`run`); the tests build the very
/// same program (`build`) with a test configuration and run its services themselves.
public struct WorkerProgram: Sendable {
    public let group: ConsumerGroupSpec
    public let worker: ConsumerWorker
    /// `/health` and `/metrics` on `http.host`:`http.port`.
    public let operations: any Service
    /// The worker's own services (e.g. a scheduler).
    public let services: [any Service]
    public let database: PostgresPool?
    public let logger: Logger

    /// Builds the program of `group` (as in Contracts: it is put in the configured
    /// `fleet.namespace`). `catalogs` (by source topic, namespaced) default to the decoders
    /// Contracts has for the group's sources.
    public static func build(
        group contractGroup: ConsumerGroupSpec, config: FleetConfig, registry: PrometheusCollectorRegistry, logger: Logger,
        catalogs explicitCatalogs: [String: MessageCatalog]? = nil, makeWorker: (WorkerEnvironment) async throws -> WorkerSetup
    ) async throws -> WorkerProgram {
        guard let namespace = FleetNamespace(config.string("fleet.namespace", default: "")) else {
            throw ConfigError("fleet.namespace may hold only letters, digits and '-'")
        }
        let group = namespace.group(contractGroup)
        let catalogs = explicitCatalogs ?? namespace.catalogs(for: group)
        let kafka = KafkaConfig(properties: config.subtree("kafka"))
        let poolSize = try config.int("database.pool.size", default: 10)
        let statementTimeout = try config.statementTimeout
        let database = config.string("database.url").map {
            PostgresPool(
                url: $0, maximumConnections: poolSize, applicationName: group.name, statementTimeout: statementTimeout, logger: logger)
        }
        let environment = WorkerEnvironment(config: config, namespace: namespace, kafka: kafka, database: database, logger: logger)
        let setup = try await makeWorker(environment)
        let settings = try WorkerSettings.from(config, group: group, catalogs: catalogs)
        let worker = try ConsumerWorker(settings: settings, kafka: kafka, batchHandler: setup.handler, logger: logger)
        let operations = OperationsServer.make(
            host: config.string("http.host", default: "127.0.0.1"), port: try config.int("http.port", default: 9100),
            registry: registry, health: { worker.health.report }, logger: logger)
        return WorkerProgram(
            group: group, worker: worker, operations: operations, services: setup.services, database: database, logger: logger)
    }

    /// The whole `main` of a worker whose setup is just its handler.
    public static func run(
        group contractGroup: ConsumerGroupSpec, catalogs explicitCatalogs: [String: MessageCatalog]? = nil,
        makeHandler: (WorkerEnvironment) async throws -> any BatchMessageHandler
    ) async {
        await run(group: contractGroup, catalogs: explicitCatalogs) { WorkerSetup(handler: try await makeHandler($0)) }
    }

    /// The whole `main` of a worker executable.
    public static func run(
        group contractGroup: ConsumerGroupSpec, catalogs explicitCatalogs: [String: MessageCatalog]? = nil,
        makeWorker: (WorkerEnvironment) async throws -> WorkerSetup
    ) async {
        do {
            let config = try FleetConfig.load(program: contractGroup.name)
            let (logger, registry) = try ProgramObservability.bootstrap(
                config, program: (FleetNamespace(config.string("fleet.namespace", default: "")) ?? .none).groupName(contractGroup.name))
            let program = try await build(
                group: contractGroup, config: config, registry: registry, logger: logger, catalogs: explicitCatalogs,
                makeWorker: makeWorker)
            let serviceGroup = ServiceGroup(
                configuration: ServiceGroupConfiguration(
                    services: program.groupServices, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            try await serviceGroup.run()
            program.database?.close()
            logger.info("exiting")
        } catch {
            LogWriter.standardError.flush()
            FileHandle.standardError.write(Data("\(contractGroup.name): \(error)\n".utf8))
            exit(1)
        }
    }

    /// The services of the program as a `ServiceGroup` runs them: the worker's end ends the group.
    public var groupServices: [ServiceGroupConfiguration.ServiceConfiguration] {
        [.init(service: worker, successTerminationBehavior: .gracefullyShutdownGroup), .init(service: operations)]
            + services.map { .init(service: $0) }
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
