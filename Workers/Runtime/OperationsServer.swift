import Foundation
import Hummingbird
import Logging
import Prometheus
import ServiceLifecycle

/// The HTTP endpoint every worker serves on `http.host`:`http.port` (loopback unless configured
/// otherwise; production compose sets 0.0.0.0): `/health` (JSON; 503 when failing) and
/// `/metrics` (Prometheus text).
public enum OperationsServer {
    public static func make(
        host: String, port: Int, registry: PrometheusCollectorRegistry, health: @escaping @Sendable () -> WorkerHealth.Report,
        logger: Logger
    ) -> some Service {
        let router = Router()
        router.get("health") { _, _ -> Response in
            let report = health()
            let body = try JSONEncoder().encode(report)
            return Response(
                status: report.status == "ok" ? .ok : .serviceUnavailable,
                headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
        }
        router.get("metrics") { _, _ -> Response in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
        return Application(
            router: router, configuration: ApplicationConfiguration(address: .hostname(host, port: port)), logger: logger)
    }
}
