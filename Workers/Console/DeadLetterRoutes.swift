import Contracts
import Foundation
import HTTPTypes
import Hummingbird
import Kafka
import Operations

/// `/dlq…`: dead-letter topics with their depth, their messages (filtered by error class, key and
/// time), one message with headers and payload, and replays: a dry run that lists what would be
/// republished, and the confirmed replay of exactly those messages.
struct DeadLetterRoutes {
    let services: ConsoleServices

    /// At most this many messages are listed on a topic's page (the oldest first).
    static let pageSize = 500

    struct TopicList {
        var topics: [TopicRow]
    }

    struct TopicRow {
        var topic: String
        var group: String
        var depth: Int64
        var waiting: Int64
        var newest: String
        var errorClass: String
        var error: String
    }

    struct FilterValues {
        var errorClass: String
        var key: String
        var since: String
        var until: String
        var showReplayed: Bool
    }

    struct TopicPage {
        var topic: String
        var csrf: String
        var filter: FilterValues
        var problem: String?
        var count: Int
        var waiting: Int
        var hasWaiting: Bool
        var truncated: Bool
        var shown: Int
        var letters: [LetterRow]
    }

    struct LetterRow {
        var topic: String
        var partition: Int32
        var offset: Int64
        var position: String
        var key: String
        var at: String
        var errorClass: String
        var error: String
        var originalTopic: String
        var replayedTo: String?
    }

    struct LetterPage {
        var topic: String
        var csrf: String
        var position: String
        var key: String
        var at: String
        var originalTopic: String
        var replayedTo: String?
        var headers: [Header]
        var payloadKind: String
        var payloadBytes: Int
        var payload: String
    }

    struct Header {
        var name: String
        var value: String
    }

    struct PlanPage {
        var topic: String
        var csrf: String
        var matched: Int
        var count: Int
        var canReplay: Bool
        var alreadyReplayed: Int?
        var letters: [LetterRow]
    }

    struct DonePage {
        var topic: String
        var matched: Int
        var replayedCount: Int
        var skipped: Int
        var replayed: [Copy]
    }

    struct Copy {
        var from: String
        var to: String
    }

    func add(to router: Router<ConsoleContext>) {
        router.get("dlq") { _, context -> Response in
            let namespace = services.operations.namespace
            let topics = try await services.deadLetters.topics(namespace: namespace.prefix.isEmpty ? nil : namespace)
            let rows = topics.map {
                TopicRow(
                    topic: $0.topic, group: $0.group, depth: $0.depth, waiting: $0.waiting, newest: $0.newestAt.map(WireCoding.formatTimestamp) ?? "–",
                    errorClass: $0.newestErrorClass ?? "", error: String(($0.newestError ?? "").prefix(120)))
            }
            return try services.pages.page("deadletters", TopicList(topics: rows), title: "Dead letters", section: .dlq, session: context.session)
        }
        router.get("dlq/:topic") { request, context -> Response in
            let topic = try topicParameter(context)
            let query = HTMLForm(urlEncoded: request.uri.query ?? "")
            let values = FilterValues(
                errorClass: query["errorClass"] ?? "", key: query["key"] ?? "", since: query["since"] ?? "", until: query["until"] ?? "",
                showReplayed: query["replayed"] == "1")
            var page = TopicPage(
                topic: topic, csrf: context.session?.csrfToken ?? "", filter: values, problem: nil, count: 0, waiting: 0, hasWaiting: false,
                truncated: false, shown: 0, letters: [])
            do {
                let filter = try DeadLetterFilter(errorClass: values.errorClass, key: values.key, since: values.since, until: values.until)
                let entries = try await services.deadLetters.browse(topic, filter: filter, includeReplayed: true)
                let listed = values.showReplayed ? entries : entries.filter { $0.replayed == nil }
                page.count = entries.count
                page.waiting = entries.filter { $0.replayed == nil }.count
                page.hasWaiting = page.waiting > 0
                page.truncated = listed.count > Self.pageSize
                page.shown = min(listed.count, Self.pageSize)
                page.letters = listed.prefix(Self.pageSize).map(Self.row)
            } catch let error as DeadLetterError {
                page.problem = error.description
            }
            return try services.pages.page("deadletter-topic", page, title: topic, section: .dlq, session: context.session)
        }
        router.get("dlq/:topic/:partition/:offset") { _, context -> Response in
            let topic = try topicParameter(context)
            guard let partition = context.parameters.get("partition", as: Int32.self), partition >= 0,
                let offset = context.parameters.get("offset", as: Int64.self), offset >= 0
            else {
                return try services.pages.message("Partition and offset must be numbers.", title: "Not found", session: context.session, status: .notFound)
            }
            let position = DeadLetterPosition(topic: topic, partition: partition, offset: offset)
            guard let entry = try await services.deadLetters.letter(at: position) else {
                return try services.pages.message(
                    "There is no message at \(position).", title: "Not found", session: context.session, status: .notFound, back: "/dlq/\(topic)")
            }
            let payload = PayloadView.render(entry.letter.message.value)
            let page = LetterPage(
                topic: topic, csrf: context.session?.csrfToken ?? "", position: position.description,
                key: entry.letter.message.key.map { PayloadView.headerValue($0) } ?? "(none)",
                at: entry.letter.message.timestamp.map(WireCoding.formatTimestamp) ?? "–", originalTopic: entry.letter.originalTopic,
                replayedTo: entry.replayed?.destination,
                headers: entry.letter.message.headers.map { Header(name: PayloadView.printable($0.name, keepLineBreaks: false), value: PayloadView.headerValue($0.value)) },
                payloadKind: payload.kind, payloadBytes: entry.letter.message.value?.count ?? 0, payload: payload.text)
            return try services.pages.page("deadletter", page, title: "Dead letter \(position)", section: .dlq, session: context.session)
        }
        router.post("dlq/:topic/plan") { _, context -> Response in
            let topic = try topicParameter(context)
            let form = context.form
            let plan: ReplayPlan
            do {
                let filter = try DeadLetterFilter(errorClass: form["errorClass"], key: form["key"], since: form["since"], until: form["until"])
                var planned = try await services.deadLetters.plan(topic, filter: filter)
                let positions = try Self.positions(form, topic: topic)
                if !positions.isEmpty {
                    planned.chosen = planned.chosen.filter { positions.contains($0.position) }
                    planned.matched = positions.count
                    planned.alreadyReplayed = positions.count - planned.chosen.count
                }
                plan = planned
            } catch let error as DeadLetterError {
                return try services.pages.message(
                    error.description, title: "Cannot plan this replay", session: context.session, status: .unprocessableContent, back: "/dlq/\(topic)")
            }
            let page = PlanPage(
                topic: topic, csrf: context.session?.csrfToken ?? "", matched: plan.matched, count: plan.chosen.count, canReplay: !plan.chosen.isEmpty,
                alreadyReplayed: plan.alreadyReplayed > 0 ? plan.alreadyReplayed : nil, letters: plan.chosen.map { Self.row(DeadLetterQueue.Entry(letter: $0, replayed: nil)) })
            return try services.pages.page("replay-plan", page, title: "Replay from \(topic)?", section: .dlq, session: context.session)
        }
        router.post("dlq/:topic/replay") { _, context -> Response in
            let topic = try topicParameter(context)
            let positions: Set<DeadLetterPosition>
            do {
                positions = try Self.positions(context.form, topic: topic)
            } catch let error as DeadLetterError {
                return try services.pages.message(error.description, title: "Cannot replay", session: context.session, status: .unprocessableContent)
            }
            guard !positions.isEmpty else {
                return try services.pages.message(
                    "Nothing was chosen to replay.", title: "Cannot replay", session: context.session, status: .unprocessableContent, back: "/dlq/\(topic)")
            }
            let outcome = try await services.deadLetters.replay(topic, positions: positions)
            services.logger.notice(
                "console replay", metadata: ["topic": "\(topic)", "replayed": "\(outcome.replayed.count)", "skipped": "\(outcome.skipped)",
                    "operator": "\(context.session?.email ?? "")"])
            let page = DonePage(
                topic: topic, matched: outcome.matched, replayedCount: outcome.replayed.count, skipped: outcome.skipped,
                replayed: outcome.replayed.map { Copy(from: $0.from.description, to: $0.destination) })
            return try services.pages.page("replay-done", page, title: "Replayed from \(topic)", section: .dlq, session: context.session)
        }
    }

    /// The `:topic` parameter: a dead-letter topic of this fleet's namespace, or 404.
    func topicParameter(_ context: ConsoleContext) throws -> String {
        guard let topic = context.parameters.get("topic"), case .deadLetter(let source, _)? = DerivedTopic(parsing: topic) else {
            throw HTTPError(.notFound, message: "not a dead-letter topic")
        }
        let prefix = services.operations.namespace.prefix
        guard prefix.isEmpty || source.hasPrefix(prefix + ".") else { throw HTTPError(.notFound, message: "not a dead-letter topic of this fleet") }
        return topic
    }

    static func positions(_ form: HTMLForm, topic: String) throws -> Set<DeadLetterPosition> {
        var positions = Set<DeadLetterPosition>()
        for text in form.all("position") {
            guard let position = DeadLetterPosition(parsing: text), position.topic == topic else {
                throw DeadLetterError.notADeadLetterTopic(String(text.prefix(200)))
            }
            positions.insert(position)
        }
        return positions
    }

    static func row(_ entry: DeadLetterQueue.Entry) -> LetterRow {
        let letter = entry.letter
        return LetterRow(
            topic: letter.message.topic, partition: letter.message.partition, offset: letter.message.offset, position: letter.position.description,
            key: letter.message.key.map { PayloadView.headerValue($0) } ?? "–", at: letter.message.timestamp.map(WireCoding.formatTimestamp) ?? "–",
            errorClass: letter.errorClass ?? "", error: PayloadView.printable(String((letter.errorMessage ?? "").prefix(160)), keepLineBreaks: false),
            originalTopic: letter.originalTopic, replayedTo: entry.replayed?.destination)
    }
}
