/// A prefix on every topic and consumer group name, so that several installations (staging
/// beside production, or parallel test runs) can share one Kafka cluster. Empty in production:
/// then names are exactly those of Contracts.
public struct FleetNamespace: Sendable, Hashable, CustomStringConvertible {
    public let prefix: String

    public static let none = FleetNamespace(validated: "")

    /// Letters, digits and `-` only (the prefix becomes part of topic and group names).
    public init?(_ prefix: String) {
        guard prefix.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else { return nil }
        self.prefix = prefix.lowercased()
    }

    private init(validated prefix: String) { self.prefix = prefix }

    public var description: String { prefix.isEmpty ? "(none)" : prefix }

    public func topicName(_ name: String) -> String { prefix.isEmpty ? name : "\(prefix).\(name)" }

    public func topic(_ spec: TopicSpec) -> TopicSpec {
        TopicSpec(name: topicName(spec.name), partitions: spec.partitions, configs: spec.configs)
    }

    public func groupName(_ name: String) -> String { prefix.isEmpty ? name : "\(prefix)-\(name)" }

    public func group(_ spec: ConsumerGroupSpec) -> ConsumerGroupSpec {
        ConsumerGroupSpec(name: groupName(spec.name), sources: spec.sources.map(topic), ladder: spec.ladder)
    }

    /// Every topic of the fleet in this namespace: sources, retry and dead-letter topics.
    public var allTopics: [TopicSpec] {
        Topics.sources.map(topic) + ConsumerGroups.all.map(group).flatMap { group in
            group.sources.flatMap { group.derivedTopics(of: $0) }
        }
    }

    /// The decoder of a topic of this namespace (a source topic), if Contracts has one.
    public func catalog(forTopic name: String) -> MessageCatalog? {
        let bare = prefix.isEmpty ? name : (name.hasPrefix(prefix + ".") ? String(name.dropFirst(prefix.count + 1)) : name)
        return Catalogs.forTopic(bare)
    }

    /// Decoders for the source topics of `group` (already in this namespace).
    public func catalogs(for group: ConsumerGroupSpec) -> [String: MessageCatalog] {
        var catalogs: [String: MessageCatalog] = [:]
        for source in group.sources {
            if let catalog = catalog(forTopic: source.name) { catalogs[source.name] = catalog }
        }
        return catalogs
    }
}
