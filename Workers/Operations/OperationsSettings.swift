import Contracts
import FleetConfiguration
import Kafka

/// What operator tools (`fleet`, the console) read from configuration: the broker, the
/// namespace of topic and group names, and the workers' operations endpoints.
public struct OperationsSettings: Sendable {
    public var kafka: KafkaConfig
    public var namespace: FleetNamespace
    /// `operations.workers`; empty when not configured.
    public var workers: [WorkerEndpoint]

    public init(kafka: KafkaConfig, namespace: FleetNamespace, workers: [WorkerEndpoint]) {
        self.kafka = kafka
        self.namespace = namespace
        self.workers = workers
    }

    public init(config: FleetConfig) throws {
        let prefix = config.string("fleet.namespace", default: "")
        guard let namespace = FleetNamespace(prefix) else {
            throw ConfigError("fleet.namespace '\(prefix)' may hold only letters, digits and '-'")
        }
        self.init(
            kafka: KafkaConfig(properties: config.subtree("kafka")), namespace: namespace,
            workers: try WorkerEndpoint.parse(config.string("operations.workers", default: "")))
    }
}
