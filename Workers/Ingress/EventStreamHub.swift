import Contracts
import Foundation
import Kafka
import Logging
import Metrics
import Synchronization

/// Where a stream is in the followed topics: the next offset of each partition. Every event id a
/// stream sends is its cursor after that event, so `Last-Event-ID` says exactly where to resume,
/// whichever copy of the ingress the client reconnects to.
struct StreamCursor: Equatable, Sendable {
    var next: [FeedPartition: Int64]

    /// `a0.17-a1.4-n3.9` (topic letter, partition, next offset).
    var text: String {
        next.keys.sorted().map { "\($0.topic.rawValue)\($0.partition).\(next[$0] ?? 0)" }.joined(separator: "-")
    }

    init(_ next: [FeedPartition: Int64]) {
        self.next = next
    }

    init?(parsing text: String) {
        guard text.count <= 2_000 else { return nil }
        var next: [FeedPartition: Int64] = [:]
        for part in text.split(separator: "-") {
            guard let first = part.first, let topic = FeedTopic(rawValue: String(first)) else { return nil }
            let numbers = part.dropFirst().split(separator: ".")
            guard numbers.count == 2, let partition = Int32(numbers[0]), partition >= 0, partition < 10_000,
                let offset = Int64(numbers[1]), offset >= 0
            else { return nil }
            next[FeedPartition(topic: topic, partition: partition)] = offset
        }
        self.next = next
    }
}

/// One message of an event stream, as `text/event-stream` bytes.
enum StreamMessage: Sendable {
    case event(id: String, name: String, json: [UInt8])
    case heartbeat(id: String)
    /// The stream ends (the session ended, the token expired, the server shuts down).
    case end(reason: String)

    var bytes: [UInt8] {
        switch self {
        case .event(let id, let name, let json):
            return Array("id: \(id)\nevent: \(name)\ndata: ".utf8) + json + Array("\n\n".utf8)
        case .heartbeat(let id):
            // A comment keeps proxies from closing an idle stream; the checkpoint moves the
            // client's Last-Event-ID forward, so a resume never replays more than it must.
            return Array(": heartbeat\nid: \(id)\nevent: checkpoint\ndata: {}\n\n".utf8)
        case .end(let reason):
            return Array("event: end\ndata: {\"reason\":\"\(reason)\"}\n\n".utf8)
        }
    }
}

/// The open event streams of this copy of the ingress: each signed-in user's new notifications and
/// the changes of their appointments, pushed as the feed reads them.
///
/// Bounded: each stream holds at most `bufferLimit` messages not yet written; a client that falls
/// that far behind is dropped (it reconnects with its Last-Event-ID and resumes from Kafka). A
/// resume further behind than `resumeLimit` messages is told to reload instead (`event: reset`).
public final class EventStreamHub: Sendable {
    struct Subscriber {
        let user: AuthenticatedUser
        let expiresAt: Date
        let continuation: AsyncStream<StreamMessage>.Continuation
        var cursor: StreamCursor
        /// Events read live while the stream catches up, delivered after the catch-up.
        var pending: [FeedEvent]?
        /// Event and notification ids sent lately: one published twice (a redelivery) is sent once.
        var recent: [UUID] = []
    }

    let feed: EventFeed
    let revoked: RevokedSessions
    let logger: Logger
    let bufferLimit: Int
    let resumeLimit: Int64
    private let state = Mutex(State())

    struct State {
        var subscribers: [UUID: Subscriber] = [:]
        var byUser: [UUID: Set<UUID>] = [:]
        /// The feed's positions as this hub saw them (next offset per partition).
        var positions: [FeedPartition: Int64] = [:]
        var closed = false
    }

    init(feed: EventFeed, revoked: RevokedSessions, logger: Logger, bufferLimit: Int = 256, resumeLimit: Int64 = 20_000) {
        self.feed = feed
        self.revoked = revoked
        self.logger = logger
        self.bufferLimit = bufferLimit
        self.resumeLimit = resumeLimit
        feed.subscribe { [weak self] event in self?.deliver(event) }
        feed.onStop { [weak self] in self?.closeAll(reason: "shutdown") }
    }

    var openStreams: Int { state.withLock { $0.subscribers.count } }

    /// Events a stream had to skip: one that does not decode (written by something that is not
    /// the fleet's code, or a newer version of it) or a view that does not encode. Each is logged
    /// with where it sits and counted (`carefleet_event_stream_skipped_total`), never dropped silently.
    private let skipped = Atomic<Int>(0)
    var skippedEvents: Int { skipped.load(ordering: .relaxed) }

    private func skip(_ event: FeedEvent, _ reason: String) {
        skipped.add(1, ordering: .relaxed)
        Counter(label: "carefleet_event_stream_skipped_total", dimensions: [("reason", reason)]).increment()
        logger.warning(
            "event stream skipped an event",
            metadata: ["topic": "\(event.partition.topic)", "partition": "\(event.partition.partition)", "offset": "\(event.offset)",
                       "reason": "\(reason)"])
    }

    private func encoded(_ view: some Encodable & Sendable, of event: FeedEvent) -> [UInt8]? {
        do {
            return try WireEncoder().encodeBytes(view)
        } catch {
            skip(event, "unencodable")
            return nil
        }
    }

    // MARK: - Opening and closing

    /// Opens a stream for the user, resuming after `lastEventId` when given.
    func open(for user: AuthenticatedUser, expiresAt: Date, lastEventId: String?) async throws -> AsyncStream<StreamMessage> {
        let (stream, continuation) = AsyncStream<StreamMessage>.makeStream(bufferingPolicy: .bufferingOldest(bufferLimit))
        let id = UUID.random()
        let resumeFrom = lastEventId.flatMap(StreamCursor.init(parsing:))
        // Resuming needs the feed's positions: without them the events between the client's
        // cursor and the feed's start would be skipped.
        if resumeFrom != nil, !(await feed.waitUntilFollowing(within: .seconds(10))) {
            throw APIError.unavailable("this copy is still joining the event feed; reconnect in a moment")
        }
        let start = state.withLock { state -> StreamCursor? in
            guard !state.closed else { return nil }
            let now = positionsNow(state)
            var subscriber = Subscriber(
                user: user, expiresAt: expiresAt, continuation: continuation, cursor: resumeFrom ?? StreamCursor(now),
                pending: resumeFrom == nil ? nil : [])
            if let resumeFrom {
                // Partitions the client's cursor does not name start where the feed is.
                for (partition, offset) in now where resumeFrom.next[partition] == nil { subscriber.cursor.next[partition] = offset }
            }
            state.subscribers[id] = subscriber
            state.byUser[user.id, default: []].insert(id)
            return StreamCursor(now)
        }
        guard let start else {
            continuation.finish()
            return stream
        }
        continuation.onTermination = { [weak self] _ in self?.remove(id) }
        if let resumeFrom {
            try await catchUp(id, from: resumeFrom, to: start)
        } else {
            // The first id tells the client where it started.
            _ = continuation.yield(.heartbeat(id: start.text))
        }
        return stream
    }

    private func positionsNow(_ state: State) -> [FeedPartition: Int64] {
        state.positions.merging(feed.currentPositions) { seen, _ in seen }
    }

    private func remove(_ id: UUID) {
        _ = state.withLock { Self.remove(id, from: &$0) }
    }

    func closeAll(reason: String) {
        let all = state.withLock { state in
            state.closed = true
            defer { state.subscribers.removeAll() }
            return Array(state.subscribers.values)
        }
        for subscriber in all { finish(subscriber, reason: reason, notify: true) }
    }

    // MARK: - Resuming

    /// Reads what the client missed, [its cursor, where the feed was when it came back), and
    /// sends the user's events of it; then what the feed read meanwhile; then live.
    private func catchUp(_ id: UUID, from cursor: StreamCursor, to start: StreamCursor) async throws {
        var ranges: [TopicPartition: Range<Int64>] = [:]
        var missed: Int64 = 0
        for (partition, end) in start.next {
            let begin = cursor.next[partition] ?? end
            guard begin < end else { continue }
            ranges[TopicPartition(feed.topicName(partition.topic), partition.partition)] = begin..<end
            missed += end - begin
        }
        var messages: [KafkaMessage] = []
        if missed > resumeLimit {
            reset(id, to: start, reason: "more than \(resumeLimit) events were missed: reload the lists")
        } else if !ranges.isEmpty {
            messages = try await TopicReader(config: feed.kafka).read(ranges, timeout: .seconds(10))
        }
        let topics = Dictionary(uniqueKeysWithValues: FeedTopic.allCases.map { (feed.topicName($0), $0) })
        let caughtUp = messages.compactMap { message -> FeedEvent? in
            guard let topic = topics[message.topic] else { return nil }
            return FeedEvent(
                partition: FeedPartition(topic: topic, partition: message.partition), offset: message.offset,
                keyId: message.key.flatMap { UUID(parsing: String(decoding: $0, as: UTF8.self)) }, value: message.value ?? Data())
        }
        let dropped = state.withLock { state -> Subscriber? in
            guard var subscriber = state.subscribers[id] else { return nil }
            let live = subscriber.pending ?? []
            subscriber.pending = nil
            for event in caughtUp + live where !send(event, to: &subscriber) { return Self.remove(id, from: &state) }
            state.subscribers[id] = subscriber
            return nil
        }
        if let dropped { finish(dropped, reason: "slow") }
    }

    private func reset(_ id: UUID, to start: StreamCursor, reason: String) {
        state.withLock { state in
            guard var subscriber = state.subscribers[id] else { return }
            subscriber.cursor = start
            subscriber.pending = subscriber.pending.map { live in live.filter { ($0.offset) >= (start.next[$0.partition] ?? 0) } }
            let json = Array(#"{"reason":"\#(reason)"}"#.utf8)
            _ = subscriber.continuation.yield(.event(id: start.text, name: "reset", json: json))
            state.subscribers[id] = subscriber
        }
    }

    // MARK: - Delivering

    /// Called by the feed for every event, in order per partition.
    private func deliver(_ event: FeedEvent) {
        let dropped = state.withLock { state -> [Subscriber] in
            state.positions[event.partition] = event.offset + 1
            guard !state.subscribers.isEmpty else { return [] }
            let recipients: Set<UUID>
            switch event.partition.topic {
            case .notifications:
                guard let recipient = event.keyId, let ids = state.byUser[recipient] else { return [] }
                recipients = ids
            case .appointments:
                guard let decoded = event.decodedAppointmentEvent() else {
                    skip(event, "undecodable")
                    return []
                }
                var users = Set<UUID>()
                if let appointment = decoded.event.appointment { users.formUnion([appointment.patientId, appointment.doctorId]) }
                if case .declined(let declined) = decoded.event, let patient = declined.patientId { users.insert(patient) }
                if let actor = decoded.metadata.actor.userId { users.insert(actor) }
                recipients = users.reduce(into: Set<UUID>()) { $0.formUnion(state.byUser[$1] ?? []) }
            }
            var dropped: [Subscriber] = []
            for id in recipients {
                guard var subscriber = state.subscribers[id] else { continue }
                var keeps = true
                if subscriber.pending != nil {
                    subscriber.pending?.append(event)
                    keeps = (subscriber.pending?.count ?? 0) <= Int(resumeLimit)
                } else {
                    keeps = send(event, to: &subscriber)
                }
                state.subscribers[id] = subscriber
                if !keeps, let removed = Self.remove(id, from: &state) { dropped.append(removed) }
            }
            return dropped
        }
        for subscriber in dropped { finish(subscriber, reason: "slow") }
    }

    /// Sends the event if it is the subscriber's and after its cursor; advances the cursor. False
    /// when the subscriber's buffer is full: it is to be dropped.
    private func send(_ event: FeedEvent, to subscriber: inout Subscriber) -> Bool {
        guard event.offset >= (subscriber.cursor.next[event.partition] ?? 0) else { return true }
        subscriber.cursor.next[event.partition] = event.offset + 1
        let user = subscriber.user
        let message: (name: String, json: [UInt8], envelope: UUID)?
        switch event.partition.topic {
        case .notifications:
            guard let (created, metadata) = event.decodedNotification() else {
                skip(event, "undecodable")
                return true
            }
            guard created.recipientId == user.id, metadata.tenantId == user.tenantId else { return true }
            let view = StreamNotification(
                id: created.notificationId, kind: created.kind, title: created.title, body: created.body,
                appointmentId: created.appointmentId, createdAt: created.createdAt)
            // Keyed by the notification: announced again after a redelivery, it is sent once.
            message = encoded(view, of: event).map { ("notification", $0, created.notificationId) }
        case .appointments:
            // Decoded before (`deliver` skips what does not decode).
            guard let (decoded, metadata) = event.decodedAppointmentEvent() else { return true }
            guard metadata.tenantId == user.tenantId else { return true }
            let change = AppointmentChange(decoded, metadata)
            guard change.concerns(user.id, actor: metadata.actor.userId) else { return true }
            message = encoded(change, of: event).map { ("appointment", $0, metadata.id) }
        }
        guard let message, !subscriber.recent.contains(message.envelope) else { return true }
        subscriber.recent.append(message.envelope)
        if subscriber.recent.count > 512 { subscriber.recent.removeFirst(subscriber.recent.count - 512) }
        if case .dropped = subscriber.continuation.yield(.event(id: subscriber.cursor.text, name: message.name, json: message.json)) {
            return false
        }
        return true
    }

    /// Takes a subscriber out of the hub (inside the lock; its stream is finished outside it, since
    /// finishing runs the stream's termination handler, which takes the lock).
    private static func remove(_ id: UUID, from state: inout State) -> Subscriber? {
        guard let subscriber = state.subscribers.removeValue(forKey: id) else { return nil }
        state.byUser[subscriber.user.id]?.remove(id)
        if state.byUser[subscriber.user.id]?.isEmpty == true { state.byUser[subscriber.user.id] = nil }
        return subscriber
    }

    /// Ends a stream (a client that does not keep up comes back with its Last-Event-ID).
    private func finish(_ subscriber: Subscriber, reason: String, notify: Bool = false) {
        logger.info("event stream ended", metadata: ["user_id": "\(subscriber.user.id.canonical)", "reason": "\(reason)"])
        if notify { subscriber.continuation.yield(.end(reason: reason)) }
        subscriber.continuation.finish()
    }

    // MARK: - Heartbeats

    /// Every stream gets a heartbeat with its cursor moved to where the feed is; streams of
    /// revoked sessions and expired tokens end.
    func heartbeat(now: Date = Date()) {
        let ending = state.withLock { state -> [(Subscriber, reason: String)] in
            let positions = positionsNow(state)
            var ending: [(Subscriber, reason: String)] = []
            for (id, var subscriber) in state.subscribers {
                let reason: String? =
                    revoked.isRevoked(subscriber.user.sessionId) ? "session_ended" : subscriber.expiresAt <= now ? "token_expired" : nil
                if let reason {
                    if let removed = Self.remove(id, from: &state) { ending.append((removed, reason)) }
                    continue
                }
                guard subscriber.pending == nil else { continue }
                for (partition, offset) in positions where offset > (subscriber.cursor.next[partition] ?? 0) {
                    subscriber.cursor.next[partition] = offset
                }
                state.subscribers[id] = subscriber
                if case .dropped = subscriber.continuation.yield(.heartbeat(id: subscriber.cursor.text)),
                    let removed = Self.remove(id, from: &state)
                {
                    ending.append((removed, "slow"))
                }
            }
            return ending
        }
        for (subscriber, reason) in ending { finish(subscriber, reason: reason, notify: reason != "slow") }
    }
}

/// A notification as an event stream pushes it.
struct StreamNotification: Encodable {
    var id: UUID
    var kind: NotificationKind
    var title: String
    var body: String
    var appointmentId: UUID?
    var createdAt: Date
}

/// An appointment's change as an event stream pushes it: what happened, and the appointment after.
struct AppointmentChange: Encodable {
    var eventId: UUID
    var type: String
    var commandId: UUID
    var appointmentId: UUID
    var doctorId: UUID
    var appointment: AppointmentSnapshot?
    var declineReason: DeclineReason?
    /// For a declined request: the patient it was for.
    var patientId: UUID?
    var occurredAt: Date

    init(_ event: AppointmentEvent, _ metadata: EnvelopeMetadata) {
        eventId = metadata.id
        type = metadata.type
        commandId = event.commandId
        appointmentId = event.appointmentId
        doctorId = event.doctorId
        appointment = event.appointment
        if case .declined(let declined) = event {
            declineReason = declined.reason
            patientId = declined.patientId
        }
        occurredAt = metadata.occurredAt
    }

    func concerns(_ user: UUID, actor: UUID?) -> Bool {
        appointment?.patientId == user || appointment?.doctorId == user || patientId == user || actor == user
    }
}
