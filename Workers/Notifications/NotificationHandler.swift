import Contracts
import Foundation
import Kafka
import Logging
import Postgres
import Runtime

/// Consumes `appointments.events`: stores one in-app notification per event and recipient,
/// writes one email request per recipient who wants email, and keeps the reminder schedule.
/// Idempotent without skipping anything: notifications are unique per (event, recipient) and
/// email requests carry the key `<event id>:<recipient id>`, which the email worker sends once.
public struct NotificationHandler: MessageHandler {
    public let pool: PostgresPool
    public let producer: KafkaProducer
    /// `notifications.email` in the fleet's namespace.
    public let emailTopic: String
    public let reminders: ReminderSchedule
    let logger: Logger

    public init(pool: PostgresPool, producer: KafkaProducer, emailTopic: String, reminders: ReminderSchedule, logger: Logger) {
        self.pool = pool
        self.producer = producer
        self.emailTopic = emailTopic
        self.reminders = reminders
        self.logger = logger
    }

    public func handle(_ message: IncomingMessage) async throws {
        guard var plan = NotificationPlan.plan(for: message.decoded) else { return }
        let metadata = message.metadata
        let directory = AppointmentDirectory(pool: pool)
        if plan.patientId == nil {
            plan.patientId = try await directory.patient(ofAppointment: plan.appointmentId, tenant: metadata.tenantId)
        }
        guard let people = try await directory.people(doctor: plan.doctorId, patient: plan.patientId, tenant: metadata.tenantId)
        else {
            logger.warning("notification skipped: doctor or patient unknown", metadata: ["event": "\(metadata.id)"])
            return
        }
        let summary = AppointmentSummary(
            appointmentId: plan.appointmentId, doctorId: plan.doctorId, doctorName: people.doctor.name,
            patientId: people.patient.userId, patientName: people.patient.name, startsAt: plan.startsAt ?? metadata.occurredAt,
            endsAt: plan.endsAt ?? plan.startsAt ?? metadata.occurredAt, timeZone: people.timeZone,
            status: plan.status ?? .pending, sequence: plan.sequence)
        let recipients = plan.audience.map { $0 == .doctor ? people.doctor : people.patient }
        let source = metadata.id.uuidString.lowercased()

        let emailRecipients: [EmailRecipient] = try await pool.transaction { connection in
            for recipient in recipients {
                let text = NotificationPlan.text(
                    plan.kind, for: recipient.role, summary: summary, changedBy: plan.changedBy,
                    previousStartsAt: plan.previousStartsAt, declineReason: plan.declineReason)
                try await Inbox.store(
                    source: source, recipient: recipient.userId, tenant: metadata.tenantId, kind: plan.kind,
                    appointment: plan.appointmentId, title: text.title, body: text.body, on: connection)
            }
            try await reminders.update(for: plan, summary: summary, tenant: metadata.tenantId, on: connection)
            return try await Inbox.wantingEmail(recipients, on: connection)
        }
        let requests = emailRecipients.map { recipient in
            EmailRequested(
                idempotencyKey: "\(source):\(recipient.userId.uuidString.lowercased())", kind: plan.kind, recipient: recipient,
                appointment: summary, changedBy: plan.changedBy, previousStartsAt: plan.previousStartsAt,
                declineReason: plan.declineReason)
        }
        try await EmailRequests.publish(requests, causedBy: message.decoded.metadata, to: emailTopic, with: producer)
    }
}

/// The in-app notification store.
enum Inbox {
    static func store(
        source: String, recipient: UUID, tenant: UUID, kind: NotificationKind, appointment: UUID, title: String, body: String,
        on connection: PostgresConnection
    ) async throws {
        try await connection.query(
            """
            INSERT INTO notify.notifications (id, tenant_id, recipient_id, source_key, kind, appointment_id, title, body)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (source_key, recipient_id) DO NOTHING
            """, [UUID(), tenant, recipient, source, kind.rawValue, appointment, title, body])
    }

    /// The recipients whose preference allows email (the default).
    static func wantingEmail(_ recipients: [EmailRecipient], on connection: PostgresConnection) async throws -> [EmailRecipient] {
        guard !recipients.isEmpty else { return [] }
        let rows = try await connection.query(
            "SELECT user_id FROM notify.preferences WHERE user_id = ANY($1::uuid[]) AND NOT email_enabled",
            [recipients.map(\.userId)])
        let optedOut = Set(try rows.map { try $0.decode(UUID.self, 0) })
        return recipients.filter { !optedOut.contains($0.userId) }
    }
}

/// Writes email requests (keyed by recipient) and waits for the broker.
enum EmailRequests {
    static func publish(
        _ requests: [EmailRequested], causedBy cause: EnvelopeMetadata, to topic: String, with producer: KafkaProducer
    ) async throws {
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for request in requests {
                let envelope = Envelope(
                    correlationId: cause.correlationId, causationId: cause.id, tenantId: cause.tenantId, actor: .system,
                    payload: request)
                let value = try envelope.encoded()
                tasks.addTask {
                    try await producer.send(
                        ProducerRecord(
                            topic: topic, key: request.recipient.userId.uuidString.lowercased(), value: value,
                            headers: [KafkaHeader(HeaderName.correlationId, cause.correlationId)]))
                }
            }
            try await tasks.waitForAll()
        }
    }
}

/// Names, addresses and the doctor's time zone (read from the identity and directory schemas).
struct AppointmentDirectory {
    let pool: PostgresPool

    struct People {
        var doctor: EmailRecipient
        var patient: EmailRecipient
        var timeZone: String
    }

    func people(doctor: UUID, patient: UUID?, tenant: UUID) async throws -> People? {
        guard let patient else { return nil }
        let rows = try await pool.query(
            """
            SELECT u.id, u.email, u.display_name, u.role, d.time_zone
            FROM identity.users u LEFT JOIN directory.doctors d ON d.id = u.id
            WHERE u.tenant_id = $1 AND u.id = ANY($2::uuid[])
            """, [tenant, [doctor, patient]])
        var doctorRecipient: EmailRecipient?
        var patientRecipient: EmailRecipient?
        var timeZone = "UTC"
        for row in rows {
            let id = try row.decode(UUID.self, 0)
            let recipient = EmailRecipient(
                userId: id, email: try row.decode(String.self, 1), name: try row.decode(String.self, 2),
                role: id == doctor ? .doctor : .patient)
            if id == doctor {
                doctorRecipient = recipient
                timeZone = try row.decode(String?.self, 4) ?? timeZone
            }
            if id == patient { patientRecipient = recipient }
        }
        guard let doctorRecipient, let patientRecipient else { return nil }
        return People(doctor: doctorRecipient, patient: patientRecipient, timeZone: timeZone)
    }

    func patient(ofAppointment appointment: UUID, tenant: UUID) async throws -> UUID? {
        try await pool.query(
            "SELECT patient_id FROM booking.appointments WHERE id = $1 AND tenant_id = $2", [appointment, tenant]
        ).first?.decode(UUID.self, 0)
    }
}
