import Contracts
import Foundation
import Kafka
import Postgres

/// The dead-letter topics of a fleet: their depth, their messages and what was replayed from
/// them. `fleet dlq` and the console both read them through this type.
public struct DeadLetterQueue: Sendable {
    public let kafka: KafkaConfig
    public let ledger: ReplayLedger

    public init(kafka: KafkaConfig, pool: PostgresPool) {
        self.kafka = kafka
        ledger = ReplayLedger(pool: pool)
    }

    /// One dead-letter topic at a glance.
    public struct TopicSummary: Sendable, Hashable {
        public var topic: String
        public var group: String
        /// Messages in the topic (high − low watermark, summed over partitions).
        public var depth: Int64
        /// Messages not replayed yet: what still needs an operator.
        public var waiting: Int64
        public var newestAt: Date?
        public var newestErrorClass: String?
        public var newestError: String?
    }

    /// Every dead-letter topic the broker has (names `<topic>.<group>.dlq`), sorted by name;
    /// only those of `namespace` when one is given.
    public func topics(namespace: FleetNamespace? = nil) async throws -> [TopicSummary] {
        let admin = try KafkaAdmin(config: kafka)
        var summaries: [TopicSummary] = []
        for topic in try await admin.listTopics() {
            guard case .deadLetter(let source, let group)? = DerivedTopic(parsing: topic.name) else { continue }
            if let namespace, !namespace.prefix.isEmpty, !source.hasPrefix(namespace.prefix + ".") { continue }
            var depth: Int64 = 0
            var present: [Int32: Range<Int64>] = [:]
            var newest: [TopicPartition: Range<Int64>] = [:]
            for partition in 0..<Int32(topic.partitions) {
                let tp = TopicPartition(topic.name, partition)
                let (low, high) = try await admin.watermarks(tp)
                depth += high - low
                present[partition] = low..<max(low, high)
                if high > low { newest[tp] = (high - 1)..<high }
            }
            let last = try await TopicReader(config: kafka).read(newest).max(by: DeadLetter.chronological).map(DeadLetter.init)
            // Offsets below the low watermark are gone (retention): only replays of present messages count.
            let replayed = depth == 0 ? 0 : try await ledger.replayed(in: topic.name).keys.filter { position in
                present[position.partition]?.contains(position.offset) == true
            }.count
            summaries.append(
                TopicSummary(
                    topic: topic.name, group: group, depth: depth, waiting: max(0, depth - Int64(replayed)),
                    newestAt: last?.message.timestamp, newestErrorClass: last?.errorClass, newestError: last?.errorMessage))
        }
        return summaries
    }

    /// A dead letter and, when it was replayed, its copy.
    public struct Entry: Sendable {
        public var letter: DeadLetter
        public var replayed: ReplayedCopy?

        public init(letter: DeadLetter, replayed: ReplayedCopy?) {
            self.letter = letter
            self.replayed = replayed
        }
    }

    /// The messages of `topic` that match `filter`, oldest first, with what was replayed of
    /// them; replayed ones only when `includeReplayed`.
    public func browse(_ topic: String, filter: DeadLetterFilter = .everything, includeReplayed: Bool = true) async throws
        -> [Entry]
    {
        guard case .deadLetter? = DerivedTopic(parsing: topic) else { throw DeadLetterError.notADeadLetterTopic(topic) }
        let messages = try await TopicReader(config: kafka).readAll(topic, admin: try KafkaAdmin(config: kafka))
        let replayed = try await ledger.replayed(in: topic)
        return messages.filter(filter.matches).sorted(by: DeadLetter.chronological).compactMap { message in
            let letter = DeadLetter(message)
            let copy = replayed[letter.position]
            if copy != nil, !includeReplayed { return nil }
            return Entry(letter: letter, replayed: copy)
        }
    }

    /// One message of a dead-letter topic.
    public func letter(at position: DeadLetterPosition) async throws -> Entry? {
        guard case .deadLetter? = DerivedTopic(parsing: position.topic) else {
            throw DeadLetterError.notADeadLetterTopic(position.topic)
        }
        let (low, high) = try await KafkaAdmin(config: kafka).watermarks(TopicPartition(position.topic, position.partition))
        guard (low..<high).contains(position.offset) else { return nil }
        let messages = try await TopicReader(config: kafka).read(
            [TopicPartition(position.topic, position.partition): position.offset..<(position.offset + 1)], timeout: .seconds(10))
        guard let message = messages.first(where: { $0.offset == position.offset }) else { return nil }
        return Entry(letter: DeadLetter(message), replayed: try await ledger.replayed(in: position.topic)[position])
    }
}
