import FleetConfiguration
import Logging
import Metrics
import Prometheus

/// What every program sets up first: JSON logs at `log.level` and a Prometheus registry behind
/// swift-metrics (served on `/metrics`).
public enum ProgramObservability {
    /// Bootstraps logging and metrics (once per process) and returns the program's logger and registry.
    public static func bootstrap(_ config: FleetConfig, program: String) -> (logger: Logger, metrics: PrometheusCollectorRegistry) {
        let level = Logger.Level(rawValue: config.string("log.level", default: "info")) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = JSONLogHandler(label: label)
            handler.logLevel = level
            return handler
        }
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        var logger = Logger(label: "carefleet.\(program)")
        logger.logLevel = level
        return (logger, registry)
    }
}
