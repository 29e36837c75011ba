import Contracts
import Foundation
import Kafka
import Logging
import Postgres
import Runtime
import ServiceLifecycle

/// Reminders before confirmed appointments: kept in `notify.reminders` as events arrive, and
/// sent by `ReminderSender` when due (so they survive restarts and are sent once, whichever copy
/// of the worker gets there first).
public struct ReminderSchedule: Sendable {
    /// How long before the start each reminder goes out (default: 24 hours).
    public let offsets: [Duration]

    public init(offsets: [Duration]) {
        self.offsets = offsets
    }

    /// Keeps the schedule of the plan's appointment right: confirmed appointments get a row per
    /// offset for their start time; any other status, or a new start time, drops unsent rows.
    func update(for plan: NotificationPlan, summary: AppointmentSummary, tenant: UUID, on connection: PostgresConnection)
        async throws
    {
        guard plan.kind != .declined, plan.kind != .reminder else { return }
        try await connection.query(
            "DELETE FROM notify.reminders WHERE appointment_id = $1 AND sent_at IS NULL AND (starts_at <> $2 OR $3)",
            [plan.appointmentId, summary.startsAt, plan.status != .confirmed])
        guard plan.status == .confirmed, !offsets.isEmpty else { return }
        let encoded = String(decoding: try WireCoding.encoder().encode(summary), as: UTF8.self)
        for offset in offsets {
            let minutes = Int(offset.components.seconds / 60)
            let due = summary.startsAt.addingTimeInterval(-Double(offset.components.seconds))
            // A reminder whose time passed before the booking is not sent late.
            guard due > Date().addingTimeInterval(-60) else { continue }
            try await connection.query(
                """
                INSERT INTO notify.reminders (appointment_id, offset_minutes, starts_at, tenant_id, due_at, appointment)
                VALUES ($1, $2, $3, $4, $5, $6::jsonb) ON CONFLICT DO NOTHING
                """, [plan.appointmentId, minutes, summary.startsAt, tenant, due, encoded])
        }
    }
}

/// Sends due reminders: both parties get an in-app notification and (by preference) an email.
/// Rows are taken with `FOR UPDATE SKIP LOCKED`, so several copies never send the same one; the
/// email key `reminder:<appointment>:<offset>:<start>:<recipient>` makes a retry harmless.
public struct ReminderSender: Service {
    public let pool: PostgresPool
    public let producer: KafkaProducer
    public let emailTopic: String
    public let interval: Duration
    let logger: Logger

    public init(pool: PostgresPool, producer: KafkaProducer, emailTopic: String, interval: Duration, logger: Logger) {
        self.pool = pool
        self.producer = producer
        self.emailTopic = emailTopic
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            do {
                while try await sendDue() == 100 {}
            } catch {
                logger.warning("sending reminders failed; trying again", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: interval)
        }
    }

    /// Sends up to 100 due reminders in one transaction; returns how many.
    func sendDue() async throws -> Int {
        try await pool.transaction { connection in
            let rows = try await connection.query(
                """
                SELECT appointment_id, offset_minutes, starts_at, tenant_id, appointment::text FROM notify.reminders
                WHERE sent_at IS NULL AND due_at <= now() ORDER BY due_at LIMIT 100 FOR UPDATE SKIP LOCKED
                """)
            let decoder = WireCoding.decoder()
            for row in rows {
                let summary = try decoder.decode(AppointmentSummary.self, from: Data(try row.decode(String.self, 4).utf8))
                let tenant = try row.decode(UUID.self, 3)
                let key = "reminder:\(summary.appointmentId.uuidString.lowercased()):\(try row.decode(Int.self, 1)):"
                    + "\(Int(try row.decode(Date.self, 2).timeIntervalSince1970))"
                let people = try await connection.query(
                    "SELECT id, email, display_name, role FROM identity.users WHERE tenant_id = $1 AND id = ANY($2::uuid[])",
                    [tenant, [summary.doctorId, summary.patientId]])
                var recipients: [EmailRecipient] = []
                for person in people {
                    let id = try person.decode(UUID.self, 0)
                    recipients.append(
                        EmailRecipient(
                            userId: id, email: try person.decode(String.self, 1), name: try person.decode(String.self, 2),
                            role: id == summary.doctorId ? .doctor : .patient))
                }
                for recipient in recipients {
                    let text = NotificationPlan.text(.reminder, for: recipient.role, summary: summary)
                    try await Inbox.store(
                        source: key, recipient: recipient.userId, tenant: tenant, kind: .reminder,
                        appointment: summary.appointmentId, title: text.title, body: text.body, on: connection)
                }
                let requests = try await Inbox.wantingEmail(recipients, on: connection).map {
                    EmailRequested(
                        idempotencyKey: "\(key):\($0.userId.uuidString.lowercased())", kind: .reminder, recipient: $0, appointment: summary)
                }
                let cause = EnvelopeMetadata(
                    id: UUID(), type: "reminder", version: 1, occurredAt: Date(), correlationId: key, causationId: nil,
                    tenantId: tenant, actor: .system)
                try await EmailRequests.publish(requests, causedBy: cause, to: emailTopic, with: producer)
                try await connection.query(
                    """
                    UPDATE notify.reminders SET sent_at = now()
                    WHERE appointment_id = $1 AND offset_minutes = $2 AND starts_at = $3
                    """, [summary.appointmentId, try row.decode(Int.self, 1), try row.decode(Date.self, 2)])
            }
            return rows.count
        }
    }
}
