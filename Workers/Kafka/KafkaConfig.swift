import CRdKafka

/// librdkafka properties for a client: any property librdkafka knows can be set here
/// (e.g. `bootstrap.servers`, `session.timeout.ms`, `security.protocol`).
///
/// Keys prefixed `producer.` apply only to producers and `consumer.` only to consumers, so one
/// configuration section can serve every client of a program.
public struct KafkaConfig: Sendable {
    public var properties: [String: String]

    public init(properties: [String: String] = [:]) {
        self.properties = properties
    }

    public init(bootstrapServers: String, properties: [String: String] = [:]) {
        self.properties = properties
        self.properties["bootstrap.servers"] = bootstrapServers
    }

    public var bootstrapServers: String? { properties["bootstrap.servers"] }

    /// The properties for one kind of client: the shared ones, then that kind's own.
    func resolved(for kind: ClientKind, defaults: [String: String] = [:]) -> [String: String] {
        var result = defaults
        let ownPrefix = kind == .producer ? "producer." : "consumer."
        for (key, value) in properties where !key.hasPrefix("producer.") && !key.hasPrefix("consumer.") {
            result[key] = value
        }
        for (key, value) in properties where key.hasPrefix(ownPrefix) {
            result[String(key.dropFirst(ownPrefix.count))] = value
        }
        return result
    }

    enum ClientKind { case producer, consumer }

    /// Builds an `rd_kafka_conf_t`, failing with the property that librdkafka refuses.
    static func makeNativeConf(_ properties: [String: String]) throws(KafkaError) -> OpaquePointer {
        guard let conf = rd_kafka_conf_new() else { throw KafkaError.configuration("rd_kafka_conf_new failed") }
        var errorText = [CChar](repeating: 0, count: 512)
        for (key, value) in properties.sorted(by: { $0.key < $1.key }) {
            if rd_kafka_conf_set(conf, key, value, &errorText, errorText.count) != RD_KAFKA_CONF_OK {
                rd_kafka_conf_destroy(conf)
                throw KafkaError.configuration("property '\(key)': \(String(errorBuffer: errorText))")
            }
        }
        return conf
    }
}
