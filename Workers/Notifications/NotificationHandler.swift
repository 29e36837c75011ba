import Contracts
import Foundation
import Kafka
import Logging
import Metrics
import Postgres
import Runtime

/// Consumes `appointments.events`: stores one in-app notification per event and recipient,
/// writes one email request per recipient who wants email, and keeps the reminder schedule.
/// Idempotent without skipping anything: notifications are unique per (event, recipient) and
/// email requests carry the key `<event id>:<recipient id>`, which the email worker sends once.
///
/// A batch of events costs a fixed number of round trips: two lookups, one transaction of three
/// statements (notifications, reminders, preferences) and one wait for all the broker's
/// acknowledgements. That is what lets it keep up with the booking worker, which decides in
/// batches too. When a batch fails, its events are handled one by one, so that only the event
/// at fault takes the retry ladder.
public struct NotificationHandler: BatchMessageHandler {
    public let pool: PostgresPool
    public let producer: KafkaProducer
    /// `notifications.email` in the fleet's namespace.
    public let emailTopic: String
    /// `notifications.inapp` in the fleet's namespace: each stored notification, for live streams.
    public let inAppTopic: String
    public let reminders: ReminderSchedule
    public let maxBatchSize: Int
    let logger: Logger

    public init(
        pool: PostgresPool, producer: KafkaProducer, emailTopic: String, inAppTopic: String, reminders: ReminderSchedule,
        maxBatchSize: Int = 200, logger: Logger
    ) {
        self.pool = pool
        self.producer = producer
        self.emailTopic = emailTopic
        self.inAppTopic = inAppTopic
        self.reminders = reminders
        self.maxBatchSize = max(1, maxBatchSize)
        self.logger = logger
    }

    public func handle(batch: [IncomingMessage]) async -> [Result<Void, any Error>] {
        do {
            try await notify(batch)
            return batch.map { _ in .success(()) }
        } catch {
            guard batch.count > 1 else { return [.failure(error)] }
            logger.info("a notification batch failed; handling its events one by one", metadata: ["error": "\(error)"])
            var results: [Result<Void, any Error>] = []
            for message in batch {
                do {
                    try await notify([message])
                    results.append(.success(()))
                } catch {
                    results.append(.failure(error))
                }
            }
            return results
        }
    }

    /// One event's notifications: its plan with the names and addresses filled in.
    struct Notice {
        var metadata: EnvelopeMetadata
        var plan: NotificationPlan
        var summary: AppointmentSummary
        var recipients: [EmailRecipient]
        var source: String { metadata.id.canonical }
    }

    func notify(_ messages: [IncomingMessage]) async throws {
        let started = ContinuousClock.now
        let notices = try await prepare(messages)
        Self.timed(.lookup, since: started)
        guard !notices.isEmpty else { return }
        let drafts = notices.flatMap { notice in
            notice.recipients.map { recipient in
                let text = NotificationPlan.text(
                    notice.plan.kind, for: recipient.role, summary: notice.summary, changedBy: notice.plan.changedBy,
                    previousStartsAt: notice.plan.previousStartsAt, declineReason: notice.plan.declineReason)
                return InboxDraft(
                    source: notice.source, recipient: recipient.userId, tenant: notice.metadata.tenantId, kind: notice.plan.kind,
                    appointment: notice.plan.appointmentId, title: text.title, body: text.body)
            }
        }
        let storeStarted = ContinuousClock.now
        // One round trip and one transaction: the reminders, who wants email, then the
        // notifications (last: theirs is the large answer). Under load every round trip waits
        // for both processes to be scheduled again; four of them were half of a batch's time.
        let asking = Inbox.askingWhoWantsEmail(Set(notices.flatMap { $0.recipients.map(\.userId) }))
        let reminderStatements = try reminders.statements(for: notices.map { ($0.plan, $0.summary, $0.metadata.tenantId) })
        let storing = Inbox.storing(drafts)
        let answers = try await pool.pipeline(reminderStatements + [asking.pipelined] + (storing.map { [$0.pipelined] } ?? []))
        let emailAllowed = try asking.answer(answers[reminderStatements.count])
        let stored = try storing?.answer(answers[reminderStatements.count + 1]) ?? [:]
        Self.timed(.store, since: storeStarted)
        let publishStarted = ContinuousClock.now
        var records: [ProducerRecord] = []
        for notice in notices {
            let mine = notice.recipients.compactMap { stored[InboxKey(source: notice.source, recipient: $0.userId)] }
            records += try CausedRecords.announcements(mine, causedBy: notice.metadata, to: inAppTopic)
            let requests = notice.recipients.filter { emailAllowed.contains($0.userId) }.map { recipient in
                EmailRequested(
                    idempotencyKey: "\(notice.source):\(recipient.userId.canonical)", kind: notice.plan.kind, recipient: recipient,
                    appointment: notice.summary, changedBy: notice.plan.changedBy, previousStartsAt: notice.plan.previousStartsAt,
                    declineReason: notice.plan.declineReason)
            }
            records += try CausedRecords.emails(requests, causedBy: notice.metadata, to: emailTopic)
        }
        // One batch send: the records share the linger window and keep their order per recipient.
        try await producer.send(records)
        Self.timed(.publish, since: publishStarted)
    }

    /// The steps of a batch, timed apart (`carefleet_notification_batch_phase_seconds{phase}`), so
    /// a slow batch says whether PostgreSQL (lookup, store) or the broker (publish: encoding and
    /// every acknowledgement) held it.
    enum Phase: String { case lookup, store, publish }

    static func timed(_ phase: Phase, since start: ContinuousClock.Instant) {
        Metrics.Timer(label: "carefleet_notification_batch_phase_seconds", dimensions: [("phase", phase.rawValue)])
            .record(ContinuousClock.now - start)
    }

    /// Plans the events and looks up, in two queries for the whole batch, the patients of
    /// declines that do not name one and everyone's names and addresses.
    func prepare(_ messages: [IncomingMessage]) async throws -> [Notice] {
        var planned: [(EnvelopeMetadata, NotificationPlan)] = []
        for message in messages {
            if let plan = NotificationPlan.plan(for: try AppointmentEvent(message.decoded)) {
                planned.append((message.decoded.metadata, plan))
            }
        }
        guard !planned.isEmpty else { return [] }
        let directory = AppointmentDirectory(pool: pool)
        let unknownPatients = planned.filter { $0.1.patientId == nil }.map { $0.1.appointmentId }
        let patients = try await directory.patients(ofAppointments: unknownPatients)
        for index in planned.indices where planned[index].1.patientId == nil {
            let (metadata, plan) = planned[index]
            if let owner = patients[plan.appointmentId], owner.tenant == metadata.tenantId { planned[index].1.patientId = owner.patient }
        }
        let people = try await directory.people(planned.flatMap { [$0.1.doctorId, $0.1.patientId].compactMap { $0 } })
        var notices: [Notice] = []
        for (metadata, plan) in planned {
            guard let patientId = plan.patientId, let doctor = people[plan.doctorId], let patient = people[patientId],
                doctor.tenant == metadata.tenantId, patient.tenant == metadata.tenantId
            else {
                logger.warning("notification skipped: doctor or patient unknown", metadata: ["event": "\(metadata.id)"])
                continue
            }
            let summary = AppointmentSummary(
                appointmentId: plan.appointmentId, doctorId: plan.doctorId, doctorName: doctor.name, patientId: patientId,
                patientName: patient.name, startsAt: plan.startsAt ?? metadata.occurredAt,
                endsAt: plan.endsAt ?? plan.startsAt ?? metadata.occurredAt, timeZone: doctor.timeZone ?? "UTC",
                status: plan.status ?? .pending, sequence: plan.sequence)
            let recipients = plan.audience.map { role in
                role == .doctor ? doctor.recipient(as: .doctor) : patient.recipient(as: .patient)
            }
            notices.append(Notice(metadata: metadata, plan: plan, summary: summary, recipients: recipients))
        }
        return notices
    }
}

/// One in-app notification to store.
public struct InboxDraft: Sendable {
    public var source: String
    public var recipient: UUID
    public var tenant: UUID
    public var kind: NotificationKind
    public var appointment: UUID?
    public var title: String
    public var body: String
    var key: InboxKey { InboxKey(source: source, recipient: recipient) }

    public init(source: String, recipient: UUID, tenant: UUID, kind: NotificationKind, appointment: UUID?, title: String, body: String) {
        self.source = source
        self.recipient = recipient
        self.tenant = tenant
        self.kind = kind
        self.appointment = appointment
        self.title = title
        self.body = body
    }
}

/// A notification's identity: its source (event id or reminder key) and recipient.
public struct InboxKey: Hashable, Sendable {
    public var source: String
    public var recipient: UUID

    public init(source: String, recipient: UUID) {
        self.source = source
        self.recipient = recipient
    }
}

/// The in-app notification store (the notification and waitlist workers write it).
public enum Inbox {
    /// A statement and how to read what it answers.
    public struct Statement<Answer>: Sendable {
        public let sql: String
        public let parameters: [any PostgresBindable]
        let read: @Sendable (PostgresRows) throws -> Answer

        public var pipelined: (sql: String, parameters: [any PostgresBindable]) { (sql, parameters) }
        public func answer(_ rows: PostgresRows) throws -> Answer { try read(rows) }

        public func run(on connection: PostgresConnection) async throws -> Answer {
            try read(try await connection.query(sql, parameters))
        }
    }

    /// Stores each notification once per source and recipient, in one statement; returns them as
    /// stored (the first time's, when a source is delivered again).
    public static func store(_ drafts: [InboxDraft], on connection: PostgresConnection) async throws -> [InboxKey: InAppNotificationCreated] {
        guard let statement = storing(drafts) else { return [:] }
        return try await statement.run(on: connection)
    }

    /// The statement of `store`; nil when there is nothing to store.
    public static func storing(_ drafts: [InboxDraft]) -> Statement<[InboxKey: InAppNotificationCreated]>? {
        var seen: Set<InboxKey> = []
        // A statement may not update one row twice: a source delivered twice in a batch is stored once.
        let unique = drafts.filter { seen.insert($0.key).inserted }
        guard !unique.isEmpty else { return nil }
        let sql = """
            INSERT INTO notify.notifications (id, tenant_id, recipient_id, source_key, kind, appointment_id, title, body)
            SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::uuid[], $7::text[], $8::text[])
            ON CONFLICT (source_key, recipient_id) DO UPDATE SET source_key = excluded.source_key
            RETURNING id, recipient_id, source_key, title, body, created_at
            """
        let parameters: [any PostgresBindable] = [
            unique.map { _ in UUID.timeOrdered() }, unique.map(\.tenant), unique.map(\.recipient), unique.map(\.source),
            unique.map(\.kind.rawValue), unique.map(\.appointment), unique.map(\.title), unique.map(\.body),
        ]
        return Statement(sql: sql, parameters: parameters) { rows in
            let drafted = Dictionary(unique.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
            var stored: [InboxKey: InAppNotificationCreated] = [:]
            for row in rows {
                let key = InboxKey(source: try row.decode(String.self, "source_key"), recipient: try row.decode(UUID.self, "recipient_id"))
                guard let draft = drafted[key] else { throw HandlerError.transient("the notification insert returned a row not asked for") }
                stored[key] = InAppNotificationCreated(
                    notificationId: try row.decode(UUID.self, "id"), recipientId: draft.recipient, kind: draft.kind,
                    title: try row.decode(String.self, "title"), body: try row.decode(String.self, "body"), appointmentId: draft.appointment,
                    createdAt: try row.decode(Date.self, "created_at"))
            }
            guard stored.count == unique.count else { throw HandlerError.transient("the notification insert returned too few rows") }
            return stored
        }
    }

    /// Those of `users` whose preference allows email (the default).
    public static func wantingEmail(_ users: Set<UUID>, on connection: PostgresConnection) async throws -> Set<UUID> {
        guard !users.isEmpty else { return [] }
        return try await askingWhoWantsEmail(users).run(on: connection)
    }

    /// The statement of `wantingEmail`.
    public static func askingWhoWantsEmail(_ users: Set<UUID>) -> Statement<Set<UUID>> {
        Statement(
            sql: "SELECT user_id FROM notify.preferences WHERE user_id = ANY($1::uuid[]) AND NOT email_enabled", parameters: [Array(users)]
        ) { rows in users.subtracting(try rows.map { try $0.decode(UUID.self, "user_id") }) }
    }
}

/// What the notification stage publishes after its commit, each payload in an envelope caused by
/// the event it answers: announcements of stored notifications to every ingress's event streams
/// (a redelivered event announces them again, and the streams send each once) and email requests,
/// both keyed by their recipient.
public enum CausedRecords {
    public static func make<Payload: MessagePayload>(
        _ payloads: [Payload], keyedBy recipient: (Payload) -> UUID, causedBy cause: EnvelopeMetadata, to topic: String
    ) throws -> [ProducerRecord] {
        try payloads.map { payload in
            let envelope = Envelope(
                correlationId: cause.correlationId, causationId: cause.id, tenantId: cause.tenantId, actor: .system, payload: payload)
            return ProducerRecord(
                topic: topic, key: recipient(payload).canonical, value: try envelope.encoded(),
                headers: [KafkaHeader(HeaderName.correlationId, cause.correlationId)])
        }
    }

    public static func announcements(_ notifications: [InAppNotificationCreated], causedBy cause: EnvelopeMetadata, to topic: String) throws
        -> [ProducerRecord]
    {
        try make(notifications, keyedBy: \.recipientId, causedBy: cause, to: topic)
    }

    public static func emails(_ requests: [EmailRequested], causedBy cause: EnvelopeMetadata, to topic: String) throws -> [ProducerRecord] {
        try make(requests, keyedBy: \.recipient.userId, causedBy: cause, to: topic)
    }
}

/// Names, addresses and the doctor's time zone (read from the identity and directory schemas).
public struct AppointmentDirectory: Sendable {
    let pool: PostgresPool

    public init(pool: PostgresPool) { self.pool = pool }

    /// A user as notifications need them.
    public struct Person: Sendable {
        public var id: UUID
        public var tenant: UUID
        public var email: String
        public var name: String
        /// A doctor's time zone; nil for everyone else.
        public var timeZone: String?

        public func recipient(as role: Role) -> EmailRecipient { EmailRecipient(userId: id, email: email, name: name, role: role) }
    }

    public func people(_ ids: [UUID]) async throws -> [UUID: Person] {
        guard !ids.isEmpty else { return [:] }
        let rows = try await pool.query(
            """
            SELECT u.id, u.tenant_id, u.email, u.display_name, d.time_zone
            FROM identity.users u LEFT JOIN directory.doctors d ON d.id = u.id
            WHERE u.id = ANY($1::uuid[])
            """, [Array(Set(ids))])
        var people: [UUID: Person] = [:]
        for row in rows {
            let person = Person(
                id: try row.decode(UUID.self, "id"), tenant: try row.decode(UUID.self, "tenant_id"), email: try row.decode(String.self, "email"),
                name: try row.decode(String.self, "display_name"), timeZone: try row.decode(String?.self, "time_zone"))
            people[person.id] = person
        }
        return people
    }

    /// The patient and tenant of each appointment that exists.
    func patients(ofAppointments appointments: [UUID]) async throws -> [UUID: (patient: UUID, tenant: UUID)] {
        guard !appointments.isEmpty else { return [:] }
        let rows = try await pool.query(
            "SELECT id, patient_id, tenant_id FROM booking.appointments WHERE id = ANY($1::uuid[])", [Array(Set(appointments))])
        var owners: [UUID: (patient: UUID, tenant: UUID)] = [:]
        for row in rows {
            owners[try row.decode(UUID.self, "id")] = (try row.decode(UUID.self, "patient_id"), try row.decode(UUID.self, "tenant_id"))
        }
        return owners
    }
}
