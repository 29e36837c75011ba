import Analytics
import Audit
import Booking
import Clinic
import Contracts
import FleetConfiguration
import Foundation
import Hummingbird
import Kafka
import Logging
import Notifications
import Postgres
import Prometheus
import Waitlist
import Webhooks
import Runtime
import ServiceLifecycle
import Synchronization

/// The ingress: routes, middleware and the HTTP server.
public enum IngressApplication {
    /// The router with every route under `/v1`, plus `/openapi.json`, `/health/live`,
    /// `/health/ready`, `/metrics` and the page behind emailed verification links. Every route is
    /// documented in the returned table.
    public static func router(_ services: IngressServices) throws -> Router<IngressContext> {
        let table = RouteTable()
        let router = Router(context: IngressContext.self)
        router.add(middleware: AccessMiddleware(logger: services.logger, routes: table, accessLog: services.settings.accessLog))
        router.add(
            middleware: AuthenticationMiddleware(tokens: services.tokens, revoked: services.revoked, activity: services.activity))
        router.add(middleware: IdempotencyMiddleware(store: services.idempotency))
        let v1 = Routes(group: router.group("v1"), prefix: "/v1", table: table)
        AuthRoutes(services: services).add(to: v1)
        DirectoryRoutes(services: services).add(to: v1)
        AppointmentRoutes(services: services).add(to: v1)
        NotificationRoutes(services: services).add(to: v1)
        EventStreamRoutes(services: services).add(to: v1)
        AnalyticsRoutes(services: services).add(to: v1)
        AuditRoutes(services: services).add(to: v1)
        TenantRoutes(services: services).add(to: v1)
        WebhookRoutes(services: services).add(to: v1)
        WaitlistRoutes(services: services).add(to: v1)
        let root = Routes(group: router.group(""), prefix: "", table: table)
        VerificationPage(services: services).add(to: root)
        WaitlistOfferPage(services: services).add(to: root)
        OperationsRoutes(services: services, table: table).add(to: root)
        return router
    }
}

/// `/openapi.json`, `/health/live`, `/health/ready`, `/metrics`.
struct OperationsRoutes {
    let services: IngressServices
    let table: RouteTable

    struct Health: Encodable, Documented {
        var status: String
        var database: String?
        var broker: String?
        static let schema = Schema.object(
            [("status", .string(values: ["ok", "failing"])), ("database", .string()), ("broker", .string())], required: ["status"])
    }

    func add(to routes: Routes) {
        let document = OpenAPIDocumentCache(table: table)
        routes.get(
            "openapi.json",
            Doc("This document (OpenAPI 3.1)", tag: "operations", access: .open, answers: [Doc.text(200, "the document", contentType: "application/json")])
        ) { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: try document.bytes())))
        }
        routes.get("health/live", Doc("Liveness", tag: "operations", access: .open, answers: [Doc.ok(Health.self, "alive")])) { _, _ in
            Self.live
        }
        routes.get(
            "health/ready",
            Doc("Readiness: database and broker", tag: "operations", access: .open, answers: [Doc.ok(Health.self, "ready")])
        ) { _, _ in try await readiness() }
        routes.get(
            "metrics",
            Doc("Prometheus metrics", tag: "operations", access: .open, answers: [Doc.text(200, "text exposition format", contentType: "text/plain")])
        ) { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: services.metrics.emitToBuffer())))
        }
    }

    /// The liveness answer never changes: made once, not per request.
    static let live: Response = {
        let bytes = Array(#"{"status":"ok"}"#.utf8)
        return Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }()

    /// Ready when PostgreSQL answers and the broker lists the commands topic; 503 (with what
    /// fails) otherwise.
    func readiness() async throws -> Response {
        async let database = services.databaseCheck()
        async let broker = services.outbox.isReady()
        let checks = (await database, await broker)
        func text(_ result: Result<Void, any Error>) -> String {
            switch result {
            case .success: "ok"
            case .failure(let error): "unavailable: \(error)"
            }
        }
        let health = Health(status: "ok", database: text(checks.0), broker: text(checks.1))
        guard health.database == "ok", health.broker == "ok" else {
            var failing = health
            failing.status = "failing"
            return try JSONBody.response(status: .serviceUnavailable, failing)
        }
        return try JSONBody.response(health)
    }
}

/// The OpenAPI document, made from the route table on first use.
final class OpenAPIDocumentCache: Sendable {
    let table: RouteTable
    private let made = Mutex<[UInt8]?>(nil)

    init(table: RouteTable) {
        self.table = table
    }

    func bytes() throws -> [UInt8] {
        if let bytes = made.withLock({ $0 }) { return bytes }
        let bytes = try table.openAPIJSON()
        made.withLock { $0 = bytes }
        return bytes
    }
}

/// The ingress program, as its `main` runs it and as the tests do: configuration → stores,
/// Kafka producer, HTTP server and the background tasks (revocations, session activity, issued
/// commands), in one `ServiceGroup` that drains on SIGTERM.
public struct IngressProgram {
    public let services: IngressServices
    public let router: Router<IngressContext>
    public let address: (host: String, port: Int)
    /// The background tasks beside the HTTP server.
    public let backgroundTasks: [any Service]
    let close: @Sendable () async -> Void

    /// Builds the program from configuration: `database.url`, `database.pool.size`, `kafka.*`,
    /// `fleet.namespace`, `http.host` (default 127.0.0.1), `http.port`, `http.access.log`,
    /// `auth.jwt.secret` (+ `auth.jwt.kid`, `auth.jwt.previous` = `kid:secret,…` still verified),
    /// `auth.access.ttl`, `auth.refresh.ttl`, `auth.bcrypt.cost`, `auth.login.*`,
    /// `ingress.public.url`, `ingress.directory.cache`.
    public static func build(_ config: FleetConfig, metrics: PrometheusCollectorRegistry, logger: Logger) async throws -> IngressProgram {
        guard let namespace = FleetNamespace(config.string("fleet.namespace", default: "")) else {
            throw ConfigError("fleet.namespace may hold only letters, digits and '-'")
        }
        let pool = PostgresPool(
            url: try config.require("database.url"), maximumConnections: try config.int("database.pool.size", default: 10),
            applicationName: "ingress", statementTimeout: try config.statementTimeout, logger: logger)
        var kafka = KafkaConfig(properties: config.subtree("kafka"))
        // A client waits on every acknowledgement: a short linger (measured: 2 ms gives 13,800
        // commands/s at p99 12 ms with 64 connections on 2 cores, 5 ms only 9,300 at p99 13 ms) is
        // the ingress's default unless configured (`kafka.producer.linger.ms`).
        if kafka.properties["producer.linger.ms"] == nil, kafka.properties["linger.ms"] == nil {
            kafka.properties["producer.linger.ms"] = "2"
        }
        let outbox = KafkaOutbox(producer: try KafkaProducer(config: kafka, logger: logger), admin: try KafkaAdmin(config: kafka, logger: logger), namespace: namespace)
        var keys = [AccessTokens.Key(id: config.string("auth.jwt.kid", default: "k1"), secret: try config.require("auth.jwt.secret"))]
        for entry in (config.string("auth.jwt.previous") ?? "").split(separator: ",") where !entry.isEmpty {
            let parts = entry.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { throw ConfigError("auth.jwt.previous must list kid:secret pairs, not '\(entry.prefix(10))…'") }
            keys.append(AccessTokens.Key(id: String(parts[0]), secret: String(parts[1])))
        }
        let tokens = try await AccessTokens(
            keys: keys, lifetime: try config.duration("auth.access.ttl", default: .seconds(900)).timeInterval,
            issuer: config.string("auth.jwt.issuer", default: "carefleet"), audience: config.string("auth.jwt.audience", default: "carefleet-api"))
        let settings = IngressSettings(
            refreshLifetime: try config.duration("auth.refresh.ttl", default: .seconds(30 * 86400)).timeInterval,
            loginLimits: LoginLimits(
                perAccount: try config.int("auth.login.max.failures.account", default: 5),
                perAddress: try config.int("auth.login.max.failures.address", default: 20),
                window: try config.duration("auth.login.window", default: .seconds(900)).timeInterval),
            publicURL: config.string("ingress.public.url", default: "http://127.0.0.1:8080"),
            emailLinkLifetime: try config.duration("auth.email.link.ttl", default: .seconds(86400)).timeInterval,
            directoryCacheLifetime: try config.duration("ingress.directory.cache", default: .seconds(10)),
            accessLog: try config.bool("http.access.log", default: true),
            webhooksAllowPrivateAddresses: try config.bool("webhooks.allow.private.addresses", default: false))
        let issued = PostgresIssuedCommandLog(pool: pool)
        let slots = SlotCache(
            source: PostgresSlotFinder(pool: pool), lifetime: try config.duration("ingress.slots.cache", default: .seconds(30)))
        let feed = EventFeed(kafka: kafka, namespace: namespace, logger: logger)
        // Any event of a doctor may free or take one of their slots (the key says whose).
        feed.subscribe { event in if let doctor = event.doctorId { slots.forget(doctor: doctor) } }
        var services = IngressServices(
            identity: PostgresIdentityStore(pool: pool), tenants: PostgresTenantAdministration(pool: pool),
            audit: PostgresAuditTrail(pool: pool), sessions: PostgresSessionStore(pool: pool),
            directory: PostgresDirectoryStore(pool: pool), idempotency: PostgresIdempotencyStore(pool: pool), issuedCommands: issued,
            appointments: PostgresAppointmentReads(pool: pool), outcomes: PostgresCommandOutcomes(pool: pool),
            notifications: PostgresNotificationInbox(pool: pool), analytics: PostgresAnalyticsReports(pool: pool),
            webhooks: PostgresWebhookRegistry(pool: pool), waitlist: PostgresWaitlistBook(pool: pool), slots: slots, outbox: outbox, tokens: tokens, passwords: Passwords(cost: try config.int("auth.bcrypt.cost", default: 12)),
            databaseCheck: { () async -> Result<Void, any Error> in
                do {
                    try await pool.query("SELECT 1")
                    return .success(())
                } catch {
                    return .failure(error)
                }
            }, settings: settings, metrics: metrics, logger: logger)
        let streams = EventStreamHub(feed: feed, revoked: services.revoked, logger: logger)
        services.streams = streams
        let (revoked, activity) = (services.revoked, services.activity)
        let tasks: [any Service] = [
            feed,
            PeriodicTask("event stream heartbeats", every: try config.duration("ingress.streams.heartbeat", default: .seconds(15)), logger: logger) {
                streams.heartbeat()
            },
            PeriodicTask("refreshing revoked sessions", every: try config.duration("auth.revocation.refresh", default: .seconds(1)), logger: logger) {
                try await revoked.refresh()
            },
            PeriodicTask("recording session activity", every: .seconds(30), logger: logger) { try await activity.flush() },
            PeriodicTask("recording issued commands", every: .milliseconds(100), logger: logger) { try await issued.flush() },
        ]
        return IngressProgram(
            services: services, router: try IngressApplication.router(services),
            address: (config.string("http.host", default: "127.0.0.1"), try config.int("http.port", default: 8080)),
            backgroundTasks: tasks,
            close: {
                await outbox.close()
                pool.close()
            })
    }

    /// The HTTP server on the configured address.
    public func application(logger: Logger) -> some Service {
        Application(
            router: router,
            configuration: ApplicationConfiguration(address: .hostname(address.host, port: address.port), serverName: "carefleet-ingress"),
            logger: logger)
    }

    /// Runs server and background tasks until SIGTERM/SIGINT (or the group is shut down), then
    /// closes the producer (delivering what it holds) and the database pool.
    public func run(logger: Logger) async throws {
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [.init(service: application(logger: logger))] + backgroundTasks.map { .init(service: $0) },
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            await close()
            throw error
        }
        await close()
    }

    /// The `main` of the ingress executable.
    public static func main() async {
        do {
            let config = try FleetConfig.load(program: "ingress")
            let (logger, registry) = try ProgramObservability.bootstrap(config, program: "ingress")
            let program = try await build(config, metrics: registry, logger: logger)
            logger.info("ingress listening", metadata: ["address": "\(program.address.host):\(program.address.port)"])
            try await program.run(logger: logger)
        } catch {
            LogWriter.standardError.flush()
            FileHandle.standardError.write(Data("ingress: \(error)\n".utf8))
            exit(1)
        }
    }
}
