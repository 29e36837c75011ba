import ArgumentParser
import Contracts
import Foundation
import Kafka
import Postgres

struct DeadLetters: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq", abstract: "Inspect and replay dead-letter topics.",
        subcommands: [List.self, Show.self, Replay.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Every dead-letter topic with its depth and its newest error.")

        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let config = try global.load()
            let kafka = KafkaConfig(properties: config.subtree("kafka"))
            let admin = try KafkaAdmin(config: kafka)
            var rows: [[String]] = [["TOPIC", "DEPTH", "NEWEST", "ERROR CLASS", "ERROR"]]
            for topic in try await admin.listTopics() {
                guard case .deadLetter? = DerivedTopic(parsing: topic.name) else { continue }
                var depth: Int64 = 0
                var newest: [TopicPartition: Range<Int64>] = [:]
                for partition in 0..<Int32(topic.partitions) {
                    let tp = TopicPartition(topic.name, partition)
                    let (low, high) = try await admin.watermarks(tp)
                    depth += high - low
                    if high > low { newest[tp] = (high - 1)..<high }
                }
                let last = try await TopicReader(config: kafka).read(newest).max { ($0.timestamp ?? .distantPast) < ($1.timestamp ?? .distantPast) }
                rows.append([
                    topic.name, String(depth), last?.timestamp.map(WireCoding.formatTimestamp) ?? "-",
                    last?.header(HeaderName.errorClass) ?? "-", String((last?.header(HeaderName.errorMessage) ?? "-").prefix(80)),
                ])
            }
            print(Table.render(rows))
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print dead letters: key, headers and payload.")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "A dead-letter topic, e.g. appointments.commands.booking-worker.dlq.") var topic: String
        @Option(help: "At most this many messages, oldest first.") var limit: Int = 20
        @Flag(help: "One JSON object per message.") var json = false

        func run() async throws {
            let config = try global.load()
            let kafka = KafkaConfig(properties: config.subtree("kafka"))
            let messages = try await TopicReader(config: kafka).readAll(topic, admin: try KafkaAdmin(config: kafka))
            for message in messages.sorted(by: DeadLetter.chronological).prefix(max(0, limit)) {
                let letter = DeadLetter(message)
                if json {
                    let data = try JSONSerialization.data(withJSONObject: letter.jsonObject, options: [.sortedKeys])
                    print(String(decoding: data, as: UTF8.self))
                } else {
                    print(letter.text)
                }
            }
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Republish dead letters to their original topic, attempts reset.",
            discussion: """
                Each republished message gets an x-replayed-from header. Replays are recorded in \
                PostgreSQL, so running the same replay again republishes nothing twice.
                """)

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The dead-letter topic.") var topic: String
        @Option(help: "Only messages with this x-error-class.") var errorClass: String?
        @Option(help: "Only messages with this key.") var key: String?
        @Option(help: "Only messages dead-lettered at or after this ISO-8601 time.") var since: String?
        @Option(help: "Only messages dead-lettered before this ISO-8601 time.") var until: String?
        @Option(help: "Replay at most this many messages.") var limit: Int?
        @Flag(help: "Show what would be replayed; change nothing.") var dryRun = false
        @Flag(help: "Also replay delivery_unknown letters, whose email may have been delivered already (a second copy).")
        var allowPossibleDuplicates = false

        func run() async throws {
            let config = try global.load()
            let sinceDate = try since.map(Self.time)
            let untilDate = try until.map(Self.time)
            guard case .deadLetter? = DerivedTopic(parsing: topic) else {
                throw failure("\(topic) is not a dead-letter topic (<topic>.<group>.dlq)")
            }
            let kafka = KafkaConfig(properties: config.subtree("kafka"))
            let all = try await TopicReader(config: kafka).readAll(topic, admin: try KafkaAdmin(config: kafka))
            let matching = all.filter { message in
                if let errorClass, message.header(HeaderName.errorClass) != errorClass { return false }
                if let key, message.keyString != key { return false }
                let at = message.timestamp ?? .distantPast
                if let sinceDate, at < sinceDate { return false }
                if let untilDate, at >= untilDate { return false }
                return true
            }
            let pool = PostgresPool(url: try config.require("database.url"), maximumConnections: 2, applicationName: "fleet-dlq")
            defer { pool.close() }
            let done = try await Self.replayed(topic, pool: pool)
            let notDone = matching.filter { !done.contains(DeadLetter.position($0)) }
            // A delivery_unknown letter's email may have reached the patient: resending is the operator's explicit call.
            let pending = notDone.filter {
                allowPossibleDuplicates || $0.header(HeaderName.errorClass) != ErrorClass.deliveryUnknown.rawValue
            }
            let held = notDone.count - pending.count
            let chosen = limit.map { Array(pending.prefix(max(0, $0))) } ?? pending
            var skipped = matching.count - notDone.count
            let heldNote =
                held == 0
                ? "" : "; held back \(held) delivery_unknown (the email may have been delivered: --allow-possible-duplicates sends it again)"
            if dryRun {
                for message in chosen { print("would replay \(DeadLetter.position(message)) → \(DeadLetter(message).originalTopic)") }
                print(
                    "matched \(matching.count), would replay \(chosen.count), skipped \(skipped) (already replayed)\(heldNote); dry run: nothing changed")
                return
            }
            let producer = try KafkaProducer(config: kafka)
            let progress = ProgressBar(total: chosen.count)
            var replayed = 0
            for message in chosen {
                let copy = DeadLetter(message).replayRecord(from: topic)
                let republished = try await pool.transaction { connection -> Bool in
                    // The row lock makes a concurrent replay of the same message wait, then skip it.
                    let claim = try await connection.query(
                        """
                        INSERT INTO runtime.dead_letter_replays (dlq_topic, dlq_partition, dlq_offset, replayed_to)
                        VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING
                        """, [topic, Int(message.partition), message.offset, copy.topic])
                    guard claim.affectedRows == 1 else { return false }
                    let report = try await producer.send(copy)
                    try await connection.query(
                        """
                        UPDATE runtime.dead_letter_replays SET replayed_partition = $4, replayed_offset = $5
                        WHERE dlq_topic = $1 AND dlq_partition = $2 AND dlq_offset = $3
                        """, [topic, Int(message.partition), message.offset, Int(report.partition), report.offset])
                    return true
                }
                if republished { replayed += 1 } else { skipped += 1 }
                progress.advance()
            }
            progress.finish()
            await producer.close()
            print("matched \(matching.count), replayed \(replayed), skipped \(skipped) (already replayed)\(heldNote)")
        }

        static func time(_ text: String) throws -> Date {
            guard let date = WireCoding.parseTimestamp(text) else { throw failure("'\(text)' is not an ISO-8601 time") }
            return date
        }

        static func replayed(_ topic: String, pool: PostgresPool) async throws -> Set<String> {
            let rows = try await pool.query(
                "SELECT dlq_partition, dlq_offset FROM runtime.dead_letter_replays WHERE dlq_topic = $1", [topic])
            return Set(try rows.map { "\(topic)/\(try $0.decode(Int.self, 0))/\(try $0.decode(Int64.self, 1))" })
        }
    }
}

/// A message of a dead-letter topic, as operators read it.
struct DeadLetter {
    let message: KafkaMessage

    init(_ message: KafkaMessage) { self.message = message }

    static func position(_ message: KafkaMessage) -> String { "\(message.topic)/\(message.partition)/\(message.offset)" }

    static func chronological(_ a: KafkaMessage, _ b: KafkaMessage) -> Bool {
        (a.timestamp ?? .distantPast, a.partition, a.offset) < (b.timestamp ?? .distantPast, b.partition, b.offset)
    }

    /// Where it is republished: its original topic (the source topic of the dead-letter topic
    /// when the header is missing).
    var originalTopic: String {
        message.header(HeaderName.originalTopic) ?? DerivedTopic(parsing: message.topic)?.source ?? message.topic
    }

    var payloadText: String { message.value.map { String(decoding: $0, as: UTF8.self) } ?? "" }

    var text: String {
        var lines = ["— \(Self.position(message))  key \(message.keyString ?? "-")  at \(message.timestamp.map(WireCoding.formatTimestamp) ?? "-")"]
        for header in message.headers {
            lines.append("  \(header.name): \(header.value.map { String(decoding: $0, as: UTF8.self) } ?? "")")
        }
        lines.append("  payload: \(payloadText)")
        return lines.joined(separator: "\n")
    }

    var jsonObject: [String: Any] {
        var headers: [String: String] = [:]
        for header in message.headers { headers[header.name] = header.value.map { String(decoding: $0, as: UTF8.self) } ?? "" }
        return [
            "topic": message.topic, "partition": Int(message.partition), "offset": message.offset,
            "key": message.keyString ?? NSNull(), "timestamp": message.timestamp.map(WireCoding.formatTimestamp) ?? NSNull(),
            "headers": headers, "payload": payloadText,
        ]
    }

    /// The same key and payload for the original topic: the runtime's failure headers removed
    /// (attempts start again), `x-replayed-from` added.
    func replayRecord(from topic: String) -> ProducerRecord {
        let dropped = HeaderName.ladderHeaders.union([HeaderName.replayedFrom])
        var headers = message.headers.filter { !dropped.contains($0.name) }
        headers.append(KafkaHeader(HeaderName.replayedFrom, Self.position(message)))
        return ProducerRecord(topic: originalTopic, key: message.key, value: message.value, headers: headers)
    }
}

/// A one-line progress bar on standard error for long runs (shown from 20 items on).
final class ProgressBar: @unchecked Sendable {  // driven by one command at a time, behind a Locked when shared
    private let total: Int
    private var done = 0
    private let visible: Bool

    init(total: Int) {
        self.total = total
        visible = total >= 20
    }

    func advance() { set(done + 1) }

    func set(_ value: Int) {
        done = value
        guard visible, done == total || done % max(1, total / 100) == 0 else { return }
        let width = 30
        let filled = total == 0 ? width : width * done / total
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        FileHandle.standardError.write(Data("\r[\(bar)] \(done)/\(total)".utf8))
    }

    func finish() {
        if visible { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
