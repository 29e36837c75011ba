import Clinic
import FleetConfiguration
import Foundation
import Hummingbird
import Kafka
import Logging
import Operations
import Postgres
import Runtime
import ServiceLifecycle

/// The console program, as its `main` runs it and as the tests do: configuration → operations
/// library, identity store, pages and the HTTP server, in one `ServiceGroup`.
public struct ConsoleProgram {
    public let router: Router<ConsoleContext>
    public let address: (host: String, port: Int)
    let pool: PostgresPool

    /// Reads `http.host` (default 127.0.0.1), `http.port` (default 8090), `database.url`,
    /// `database.pool.size`, `kafka.*`, `fleet.namespace`, `operations.workers`,
    /// `console.session.ttl`, `console.refresh.interval`, `console.stream.lifetime`,
    /// `console.cookie.secure`, `console.chartjs.path`, `auth.bcrypt.cost`,
    /// `auth.login.max.failures.account` and `auth.login.window`.
    public static func build(_ config: FleetConfig, logger: Logger) throws -> ConsoleProgram {
        let operations = try OperationsSettings(config: config)
        let pool = PostgresPool(
            url: try config.require("database.url"), maximumConnections: try config.int("database.pool.size", default: 4),
            applicationName: "console", logger: logger)
        let passwords = Passwords(cost: try config.int("auth.bcrypt.cost", default: 12))
        let services = ConsoleServices(
            pages: try ConsolePages(), sessions: ConsoleSessions(lifetime: try config.duration("console.session.ttl", default: .seconds(8 * 3600)).seconds),
            operations: operations, deadLetters: DeadLetterQueue(kafka: operations.kafka, pool: pool),
            admin: try KafkaAdmin(config: operations.kafka, logger: logger), identity: PostgresIdentityStore(pool: pool),
            tenants: PostgresTenantAdministration(pool: pool), pool: pool, passwords: passwords,
            unusableHash: passwords.hashSynchronously(ConsoleSessions.randomToken()), probe: WorkerProbe(),
            refreshInterval: try config.duration("console.refresh.interval", default: .seconds(1)),
            streamLifetime: try config.duration("console.stream.lifetime", default: .seconds(300)),
            secureCookies: try config.bool("console.cookie.secure", default: false),
            signInLimit: try config.int("auth.login.max.failures.account", default: 5),
            signInWindow: try config.duration("auth.login.window", default: .seconds(900)).seconds, logger: logger)
        let router = Router(context: ConsoleContext.self)
        router.add(middleware: ConsoleGuard(sessions: services.sessions))
        router.get("health") { _, _ in Response(status: .ok, headers: [.contentType: "text/plain"], body: ResponseBody(byteBuffer: ByteBuffer(string: "ok\n"))) }
        StaticFiles(chartJSPath: config.string("console.chartjs.path")).add(to: router)
        SignInRoutes(services: services).add(to: router)
        GroupRoutes(services: services).add(to: router)
        DeadLetterRoutes(services: services).add(to: router)
        WorkerRoutes(services: services).add(to: router)
        AnalyticsRoutes(services: services).add(to: router)
        return ConsoleProgram(
            router: router, address: (config.string("http.host", default: "127.0.0.1"), try config.int("http.port", default: 8090)), pool: pool)
    }

    /// The HTTP server as a service (for a `ServiceGroup`).
    public func application(logger: Logger) -> some Service {
        Application(router: router, configuration: ApplicationConfiguration(address: .hostname(address.host, port: address.port)), logger: logger)
    }

    /// Serves until SIGTERM or SIGINT.
    public func run(logger: Logger) async throws {
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [.init(service: application(logger: logger))], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        pool.close()
    }

    /// `console`'s `main`.
    public static func main() async {
        do {
            let config = try FleetConfig.load(program: "console")
            let (logger, _) = try ProgramObservability.bootstrap(config, program: "console")
            let program = try build(config, logger: logger)
            logger.info("console listening", metadata: ["address": "http://\(program.address.host):\(program.address.port)"])
            try await program.run(logger: logger)
        } catch {
            LogWriter.standardError.flush()
            FileHandle.standardError.write(Data("console: \(error)\n".utf8))
            exit(1)
        }
    }
}

extension Duration {
    var seconds: TimeInterval { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
