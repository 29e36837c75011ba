import ArgumentParser
import Contracts
import Foundation
import Kafka
import Operations
import Postgres

/// `fleet dlq`: the same dead-letter operations as the console's pages, through `Operations`.
struct DeadLetters: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq", abstract: "Inspect and replay dead-letter topics.",
        subcommands: [List.self, Show.self, Replay.self])

    /// Runs `body` with the dead-letter queue of the configured fleet.
    static func withQueue<R>(_ global: GlobalOptions, _ body: (DeadLetterQueue) async throws -> R) async throws -> R {
        let config = try global.load()
        let pool = PostgresPool(url: try config.require("database.url"), maximumConnections: 2, applicationName: "fleet-dlq")
        defer { pool.close() }
        do {
            return try await body(DeadLetterQueue(kafka: KafkaConfig(properties: config.subtree("kafka")), pool: pool))
        } catch let error as DeadLetterError {
            throw failure(error.description)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Every dead-letter topic with its depth, how many still wait (not replayed) and its newest error.")

        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let topics = try await DeadLetters.withQueue(global) { try await $0.topics() }
            var rows: [[String]] = [["TOPIC", "DEPTH", "WAITING", "NEWEST", "ERROR CLASS", "ERROR"]]
            for topic in topics {
                rows.append([
                    topic.topic, String(topic.depth), String(topic.waiting), topic.newestAt.map(WireCoding.formatTimestamp) ?? "-",
                    topic.newestErrorClass ?? "-", String((topic.newestError ?? "-").prefix(80)),
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
        @Option(help: "Only messages with this x-error-class.") var errorClass: String?
        @Option(help: "Only messages with this key.") var key: String?
        @Option(help: "Only messages dead-lettered at or after this ISO-8601 time.") var since: String?
        @Option(help: "Only messages dead-lettered before this ISO-8601 time.") var until: String?
        @Flag(help: "Leave out messages that were replayed.") var waitingOnly = false
        @Flag(help: "One JSON object per message.") var json = false

        func validate() throws {
            try OptionCheck.atLeast(1, limit, "--limit")
        }

        func run() async throws {
            let entries = try await DeadLetters.withQueue(global) { queue in
                let filter = try DeadLetterFilter(errorClass: errorClass, key: key, since: since, until: until)
                return try await queue.browse(topic, filter: filter, includeReplayed: !waitingOnly)
            }
            for entry in entries.prefix(max(0, limit)) {
                if json {
                    var object = entry.letter.jsonObject
                    object["replayedTo"] = entry.replayed?.destination ?? NSNull()
                    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
                    print(String(decoding: data, as: UTF8.self))
                } else {
                    print(entry.letter.text + (entry.replayed.map { "\n  replayed to \($0.destination)" } ?? ""))
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
        @Option(help: "Only the message at this position, topic/partition/offset (repeatable).") var position: [String] = []
        @Option(help: "Replay at most this many messages.") var limit: Int?
        @Flag(help: "Show what would be replayed; change nothing.") var dryRun = false
        @Flag(help: "Also replay delivery_unknown letters, whose email may have been delivered already (a second copy).")
        var allowPossibleDuplicates = false

        func validate() throws {
            if let limit { try OptionCheck.atLeast(1, limit, "--limit") }
        }

        func run() async throws {
            let positions = try position.map { text -> DeadLetterPosition in
                guard let parsed = DeadLetterPosition(parsing: text), parsed.topic == topic else {
                    throw failure("--position '\(text)' is not \(topic)/<partition>/<offset>")
                }
                return parsed
            }
            try await DeadLetters.withQueue(global) { queue in
                let filter = try DeadLetterFilter(errorClass: errorClass, key: key, since: since, until: until)
                var plan = try await queue.plan(topic, filter: filter, limit: limit, allowPossibleDuplicates: allowPossibleDuplicates)
                let heldNote =
                    plan.heldBack == 0
                    ? ""
                    : "; held back \(plan.heldBack) delivery_unknown (the email may have been delivered: --allow-possible-duplicates sends it again)"
                if !positions.isEmpty { plan.chosen = plan.chosen.filter { Set(positions).contains($0.position) } }
                if dryRun {
                    for letter in plan.chosen { print("would replay \(letter.position) → \(letter.originalTopic)") }
                    print(
                        "matched \(plan.matched), would replay \(plan.chosen.count), skipped \(plan.alreadyReplayed) (already replayed)\(heldNote); dry run: nothing changed"
                    )
                    return
                }
                let progress = ProgressBar(total: plan.chosen.count)
                let outcome = try await queue.replay(plan) { done, _ in progress.set(done) }
                progress.finish()
                for copy in outcome.replayed { print("replayed \(copy.from) → \(copy.destination)") }
                print("matched \(outcome.matched), replayed \(outcome.replayed.count), skipped \(outcome.skipped) (already replayed)\(heldNote)")
            }
        }
    }
}

/// A one-line progress bar on standard error for long runs (shown from 20 items on).
final class ProgressBar: @unchecked Sendable {  // advanced by one replay or rebuild at a time, in order
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
