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

    /// The statements that keep the schedule of each plan's appointment right, to run in this
    /// order (none when no plan changes a schedule): confirmed appointments get a row per offset
    /// for their start time; any other status, or a new start time, drops unsent rows. At most two
    /// statements for a whole batch.
    ///
    /// The appointment's newest state decides, by its `sequence` (which grows with every change),
    /// not the order events arrive in: an operator may replay an old event after newer ones. In a
    /// batch the plan with the highest sequence wins (the last of equals); across batches an older
    /// event never drops a newer one's rows. The rows an older event adds (for a time since moved
    /// or cancelled) are dropped unsent by the sender, which checks the booking record first.
    func statements(for items: [(plan: NotificationPlan, summary: AppointmentSummary, tenant: UUID)]) throws
        -> [(sql: String, parameters: [any PostgresBindable])]
    {
        var latest: [UUID: (plan: NotificationPlan, summary: AppointmentSummary, tenant: UUID)] = [:]
        var order: [UUID] = []
        for item in items where item.plan.kind != .declined && item.plan.kind != .reminder {
            let appointment = item.plan.appointmentId
            guard let current = latest[appointment] else {
                latest[appointment] = item
                order.append(appointment)
                continue
            }
            if current.summary.sequence <= item.summary.sequence { latest[appointment] = item }
        }
        let changes = order.compactMap { latest[$0] }
        guard !changes.isEmpty else { return [] }
        var statements: [(sql: String, parameters: [any PostgresBindable])] = []
        // A booked event is its appointment's first: nothing can be scheduled for it but by a later
        // event (its confirmation, when a replayed `booked` comes after it), whose reminders it must
        // not drop. Most events of a busy day are bookings, and the delete is the costly statement:
        // on a table not yet analysed (a new database's first minute) PostgreSQL takes the partial
        // index of unsent rows for a selective one and reads every unsent reminder per batch (the
        // booking bench on a fresh fleet: 114 ms a batch, 18 s in all, for nothing deleted).
        let afterBooking = changes.filter { $0.plan.kind != .booked }
        if !afterBooking.isEmpty {
            statements.append(
                (
                    """
                    DELETE FROM notify.reminders r
                    USING unnest($1::uuid[], $2::timestamptz[], $3::boolean[], $4::int[]) AS x(appointment_id, starts_at, drop_all, sequence)
                    WHERE r.appointment_id = x.appointment_id AND r.sent_at IS NULL AND (r.starts_at <> x.starts_at OR x.drop_all)
                        AND coalesce((r.appointment->>'sequence')::int, -1) <= x.sequence
                    """,
                    [
                        afterBooking.map(\.plan.appointmentId), afterBooking.map(\.summary.startsAt),
                        afterBooking.map { $0.plan.status != .confirmed }, afterBooking.map(\.summary.sequence),
                    ]
                ))
        }
        guard !offsets.isEmpty else { return statements }
        var appointments: [UUID] = [], minutes: [Int] = [], starts: [Date] = [], tenants: [UUID] = [], dues: [Date] = []
        var summaries: [String] = []
        let encoder = WireCoding.encoder()
        // A reminder whose time passed before the booking is not sent late.
        let earliest = Date().addingTimeInterval(-60)
        for change in changes where change.plan.status == .confirmed {
            let encoded = String(decoding: try encoder.encode(change.summary), as: UTF8.self)
            for offset in offsets {
                let due = change.summary.startsAt.addingTimeInterval(-Double(offset.components.seconds))
                guard due > earliest else { continue }
                appointments.append(change.plan.appointmentId)
                minutes.append(Int(offset.components.seconds / 60))
                starts.append(change.summary.startsAt)
                tenants.append(change.tenant)
                dues.append(due)
                summaries.append(encoded)
            }
        }
        guard !appointments.isEmpty else { return statements }
        statements.append(
            (
                """
                INSERT INTO notify.reminders (appointment_id, offset_minutes, starts_at, tenant_id, due_at, appointment)
                SELECT a, m, s, t, d, j::jsonb
                FROM unnest($1::uuid[], $2::int[], $3::timestamptz[], $4::uuid[], $5::timestamptz[], $6::text[]) AS x(a, m, s, t, d, j)
                ON CONFLICT DO NOTHING
                """, [appointments, minutes, starts, tenants, dues, summaries]
            ))
        return statements
    }
}

/// Sends due reminders: both parties get an in-app notification and (by preference) an email.
/// Rows are taken with `FOR UPDATE SKIP LOCKED`, so several copies never send the same one; the
/// email key `reminder:<appointment>:<offset>:<start>:<recipient>` makes a retry harmless.
public struct ReminderSender: Service {
    public let pool: PostgresPool
    public let producer: KafkaProducer
    public let emailTopic: String
    public let inAppTopic: String
    public let interval: Duration
    let logger: Logger

    public init(pool: PostgresPool, producer: KafkaProducer, emailTopic: String, inAppTopic: String, interval: Duration, logger: Logger) {
        self.pool = pool
        self.producer = producer
        self.emailTopic = emailTopic
        self.inAppTopic = inAppTopic
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

    /// Sends up to 100 due reminders in one transaction; returns how many were due (sent or dropped).
    ///
    /// A reminder is sent only while the booking worker's record says its appointment is confirmed
    /// for that start. The schedule follows events, and an event can come again out of order (an
    /// operator replays a dead-lettered `confirmed` after the appointment was moved or cancelled):
    /// the row it put back would remind a patient of a time that no longer holds. Such a row is
    /// deleted unsent.
    func sendDue() async throws -> Int {
        try await pool.transaction { connection in
            let rows = try await connection.query(
                """
                SELECT r.appointment_id, r.offset_minutes, r.starts_at, r.tenant_id, r.appointment::text,
                    EXISTS (
                        SELECT 1 FROM booking.appointments a
                        WHERE a.id = r.appointment_id AND a.status = 'confirmed' AND a.starts_at = r.starts_at
                    ) AS holds
                FROM notify.reminders r
                WHERE r.sent_at IS NULL AND r.due_at <= now() ORDER BY r.due_at LIMIT 100 FOR UPDATE OF r SKIP LOCKED
                """)
            let decoder = WireCoding.decoder()
            for row in rows {
                guard try row.decode(Bool.self, 5) else {
                    let appointment = try row.decode(UUID.self, 0)
                    try await connection.query(
                        "DELETE FROM notify.reminders WHERE appointment_id = $1 AND offset_minutes = $2 AND starts_at = $3",
                        [appointment, try row.decode(Int.self, 1), try row.decode(Date.self, 2)])
                    logger.info(
                        "reminder dropped: its appointment is no longer confirmed for that time",
                        metadata: ["appointment": "\(appointment.canonical)"])
                    continue
                }
                let summary = try decoder.decode(AppointmentSummary.self, from: Data(try row.decode(String.self, 4).utf8))
                let tenant = try row.decode(UUID.self, 3)
                let key = "reminder:\(summary.appointmentId.canonical):\(try row.decode(Int.self, 1)):"
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
                let drafts = recipients.map { recipient in
                    let text = NotificationPlan.text(.reminder, for: recipient.role, summary: summary)
                    return InboxDraft(
                        source: key, recipient: recipient.userId, tenant: tenant, kind: .reminder, appointment: summary.appointmentId,
                        title: text.title, body: text.body)
                }
                let stored = try await Inbox.store(drafts, on: connection)
                let allowed = try await Inbox.wantingEmail(Set(recipients.map(\.userId)), on: connection)
                let requests = recipients.filter { allowed.contains($0.userId) }.map {
                    EmailRequested(idempotencyKey: "\(key):\($0.userId.canonical)", kind: .reminder, recipient: $0, appointment: summary)
                }
                let cause = EnvelopeMetadata(
                    id: .timeOrdered(), type: "reminder", version: 1, occurredAt: Date(), correlationId: key, causationId: nil,
                    tenantId: tenant, actor: .system)
                try await producer.send(
                    try CausedRecords.emails(requests, causedBy: cause, to: emailTopic)
                        + CausedRecords.announcements(drafts.compactMap { stored[$0.key] }, causedBy: cause, to: inAppTopic))
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
