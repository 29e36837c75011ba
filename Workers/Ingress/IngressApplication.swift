import Contracts
import FleetConfiguration
import Foundation
import Hummingbird
import Kafka
import Logging
import Metrics
import Postgres
import Prometheus
import Runtime
import ServiceLifecycle

/// The ingress: routes, middleware and the HTTP server.
public enum IngressApplication {
    /// The router with every route under `/v1`, plus `/openapi.json`, `/health/live`,
    /// `/health/ready` and `/metrics`.
    public static func router(_ services: IngressServices) -> Router<IngressContext> {
        let router = Router(context: IngressContext.self)
        router.add(middleware: AccessMiddleware(logger: services.logger))
        router.add(middleware: AuthenticationMiddleware(tokens: services.tokens))
        router.add(middleware: IdempotencyMiddleware(database: services.database))
        let v1 = router.group("v1")
        AuthRoutes(services: services).add(to: v1)
        DirectoryRoutes(services: services).add(to: v1)
        AppointmentRoutes(services: services).add(to: v1)
        NotificationRoutes(services: services).add(to: v1)
        AnalyticsRoutes(services: services).add(to: v1)
        router.get("openapi.json") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: OpenAPIDocument.json)))
        }
        router.get("health/live") { _, _ in JSONBody.response(["status": "ok"]) }
        router.get("health/ready") { _, _ in try await readiness(services) }
        router.get("metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: services.metrics.emitToBuffer())))
        }
        return router
    }

    /// Ready when PostgreSQL answers and the broker lists the commands topic.
    static func readiness(_ services: IngressServices) async throws -> Response {
        var checks: [String: String] = [:]
        do {
            _ = try await services.database.query("SELECT 1")
            checks["database"] = "ok"
        } catch {
            checks["database"] = "unavailable: \(error)"
        }
        do {
            let partitions = try await services.admin.partitionCount(of: services.commandsTopic, timeout: .seconds(3))
            checks["broker"] = partitions == nil ? "topic \(services.commandsTopic) is missing" : "ok"
        } catch {
            checks["broker"] = "unavailable: \(error)"
        }
        let ready = checks.values.allSatisfy { $0 == "ok" }
        return JSONBody.response(status: ready ? .ok : .serviceUnavailable, ["status": ready ? "ok" : "failing"].merging(checks) { $1 })
    }

    /// The `main` of the ingress executable.
    public static func main() async {
        do {
            let config = try FleetConfig.load()
            let (logger, registry) = ProgramObservability.bootstrap(config, program: "ingress")
            let services = try IngressServices.from(config, metrics: registry, logger: logger)
            let app = Application(
                router: router(services),
                configuration: ApplicationConfiguration(
                    address: .hostname(config.string("http.host", default: "0.0.0.0"), port: try config.int("http.port", default: 8080)),
                    serverName: "carefleet-ingress"),
                logger: logger)
            let group = ServiceGroup(
                configuration: ServiceGroupConfiguration(
                    services: [.init(service: app)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            try await group.run()
            await services.producer.close()
            services.database.close()
        } catch {
            FileHandle.standardError.write(Data("ingress: \(error)\n".utf8))
            exit(1)
        }
    }
}
