/// A consumer group: its name, the topics it consumes and its retry ladder.
/// Each worker executable is one group; its copies share the group's partitions.
public struct ConsumerGroupSpec: Sendable, Hashable {
    /// No dots: topic names derived from it are parsed at the dots.
    public var name: String
    public var sources: [TopicSpec]
    public var ladder: RetryLadder

    public init(name: String, sources: [TopicSpec], ladder: RetryLadder = .default) {
        precondition(!name.contains("."), "consumer group names cannot contain dots")
        self.name = name
        self.sources = sources
        self.ladder = ladder
    }

    /// `<topic>.<group>.retry.<n>`, n = 1…stages.
    public func retryTopic(of source: String, stage: Int) -> String {
        DerivedTopic.retry(source: source, group: name, stage: stage).name
    }

    /// `<topic>.<group>.dlq`
    public func deadLetterTopic(of source: String) -> String {
        DerivedTopic.deadLetter(source: source, group: name).name
    }

    /// Retry topics (one per ladder stage) and the dead-letter topic of one source topic.
    public func derivedTopics(of source: TopicSpec) -> [TopicSpec] {
        let retries = ladder.stageDelays.indices.map {
            TopicSpec(name: retryTopic(of: source.name, stage: $0 + 1), partitions: source.partitions)
        }
        return retries + [TopicSpec(name: deadLetterTopic(of: source.name), partitions: source.partitions)]
    }

    /// Every topic this group subscribes to: sources and their retry topics (not the dead letters).
    public var subscribedTopics: [String] {
        sources.flatMap { source in
            [source.name] + ladder.stageDelays.indices.map { retryTopic(of: source.name, stage: $0 + 1) }
        }
    }
}

public enum ConsumerGroups {
    public static let booking = ConsumerGroupSpec(name: "booking-worker", sources: [Topics.appointmentCommands])
    public static let notification = ConsumerGroupSpec(
        name: "notification-worker", sources: [Topics.appointmentEvents])
    public static let analytics = ConsumerGroupSpec(name: "analytics-worker", sources: [Topics.appointmentEvents])
    public static let email = ConsumerGroupSpec(name: "email-worker", sources: [Topics.notificationEmail])
    public static let audit = ConsumerGroupSpec(name: "audit-worker", sources: [Topics.auditEvents])
    /// Fans appointment events out to the endpoints subscribed to them and delivers each. Its
    /// retries stay in place (no retry topics), because a retry topic would let later events of
    /// an endpoint overtake an earlier one: a failing endpoint is tried again with backoff up to a
    /// minute, until it answers or is disabled; a delivery it refuses (4xx) is dead-lettered at once.
    public static let webhook = ConsumerGroupSpec(
        name: "webhook-worker", sources: [Topics.appointmentEvents, Topics.webhookDeliveries],
        ladder: RetryLadder(attemptsPerStage: 1_000_000, initialBackoff: .seconds(1), maxBackoff: .seconds(60), stageDelays: []))

    /// Offers slots freed by cancellations, rejections and reschedules to waitlisted patients.
    public static let waitlist = ConsumerGroupSpec(name: "waitlist-worker", sources: [Topics.appointmentEvents])

    public static let all = [booking, notification, analytics, email, audit, webhook, waitlist]
}

/// A topic name derived from a source topic and a group: a retry stage or the dead letters.
public enum DerivedTopic: Sendable, Hashable {
    case retry(source: String, group: String, stage: Int)
    case deadLetter(source: String, group: String)

    public var name: String {
        switch self {
        case .retry(let source, let group, let stage): "\(source).\(group).retry.\(stage)"
        case .deadLetter(let source, let group): "\(source).\(group).dlq"
        }
    }

    public var source: String {
        switch self {
        case .retry(let source, _, _), .deadLetter(let source, _): source
        }
    }

    public var group: String {
        switch self {
        case .retry(_, let group, _), .deadLetter(_, let group): group
        }
    }

    /// Reads a retry or dead-letter topic name; `nil` for any other topic.
    public init?(parsing name: String) {
        var parts = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        if parts.last == "dlq", parts.count >= 3 {
            parts.removeLast()
            let group = parts.removeLast()
            self = .deadLetter(source: parts.joined(separator: "."), group: group)
        } else if parts.count >= 4, let stage = Int(parts[parts.count - 1]), stage >= 1,
            parts[parts.count - 2] == "retry"
        {
            parts.removeLast(2)
            let group = parts.removeLast()
            self = .retry(source: parts.joined(separator: "."), group: group, stage: stage)
        } else {
            return nil
        }
        if source.isEmpty || group.isEmpty { return nil }
    }
}
