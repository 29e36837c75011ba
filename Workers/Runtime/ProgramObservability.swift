import FleetConfiguration
import Logging
import Metrics
import Prometheus

/// What every program sets up first: JSON logs at `log.level` and a Prometheus registry behind
/// swift-metrics (served on `/metrics`).
public enum ProgramObservability {
    /// Bootstraps logging and metrics (once per process) and returns the program's logger and
    /// registry. An unknown `log.level` is a configuration error, not a silent `info`.
    public static func bootstrap(_ config: FleetConfig, program: String) throws(ConfigError)
        -> (logger: Logger, metrics: PrometheusCollectorRegistry)
    {
        let text = config.string("log.level", default: "info")
        guard let level = Logger.Level(rawValue: text) else {
            throw ConfigError("log.level must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")), not '\(text)'")
        }
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
