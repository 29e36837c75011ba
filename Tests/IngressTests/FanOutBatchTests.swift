import Contracts
import Foundation
import Kafka
import Logging
import Postgres
import TestSupport
import Testing

@testable import Analytics
@testable import Notifications
@testable import Runtime

/// The notification and analytics workers take events in batches (a fixed number of statements
/// per batch); a batch with one bad event still gives every other event its result, and a
/// batch counts exactly what one event at a time would.
@Suite("Notification and analytics batches", .timeLimit(.minutes(3)))
struct FanOutBatchTests {
    static func incoming(_ envelopes: [Data], catalog: MessageCatalog, topic: String) throws -> [IncomingMessage] {
        try envelopes.enumerated().map { index, value in
            IncomingMessage(
                decoded: try catalog.decode(value),
                record: KafkaMessage(topic: topic, partition: 0, offset: Int64(index), key: nil, value: value, headers: [], timestamp: nil),
                sourceTopic: topic, stage: 0, attempt: 1)
        }
    }

    static func booked(_ patient: Session, doctor: UUID, day: Int, requestedAt: Date = Date()) throws -> Data {
        let start = Date().addingTimeInterval(Double(day) * 86400).addingTimeInterval(3600)
        return try Envelope(
            correlationId: "batch", tenantId: Tenants.defaultTenant, actor: Principal(role: .patient, userId: patient.userId),
            payload: AppointmentBooked(
                commandId: UUID(),
                appointment: AppointmentSnapshot(
                    appointmentId: UUID(), doctorId: doctor, patientId: patient.userId, startsAt: start,
                    endsAt: start.addingTimeInterval(1800), status: .confirmed, sequence: 0, requestedAt: requestedAt),
                reason: nil)
        ).encoded()
    }

    /// The notification worker's handler on the test fleet's topics, with a reminder an hour ahead.
    static func notificationHandler(_ fleet: TestFleet, producer: KafkaProducer) -> NotificationHandler {
        NotificationHandler(
            pool: fleet.database, producer: producer, emailTopic: fleet.namespace.topicName(Topics.notificationEmail.name),
            inAppTopic: fleet.namespace.topicName(Topics.inAppNotifications.name), reminders: ReminderSchedule(offsets: [.seconds(3600)]),
            logger: Logger(label: "test"))
    }

    /// Notification ids are time-ordered (UUIDv7), so the rows of a batch are added at the end
    /// of the primary key's index: with random ids PostgreSQL spent about twice as long on the insert.
    @Test func storedNotificationsGetTimeOrderedIds() throws {
        let drafts = (0..<50).map { index in
            InboxDraft(
                source: "event-\(index)", recipient: UUID.random(), tenant: UUID.random(), kind: .booked, appointment: nil,
                title: "t", body: "b")
        }
        let statement = try #require(Inbox.storing(drafts))
        let ids = try #require(statement.parameters.first as? [UUID])
        #expect(ids.count == 50)
        #expect(ids.allSatisfy { $0.canonical.dropFirst(14).first == "7" }, "version 7")
        let before = UUID.timeOrdered(at: Date(timeIntervalSince1970: 1_790_000_000))
        let after = UUID.timeOrdered(at: Date(timeIntervalSince1970: 1_790_000_000.002))
        #expect(before.canonical < after.canonical, "a later millisecond sorts after")
        #expect(before.canonical.hasPrefix("01a0c450-6c00-7"), "48 bits of Unix milliseconds, then the version")
        #expect("89ab".contains(before.canonical.dropFirst(19).first ?? "x"), "variant 10")
    }

    @Test func oneBadEventInABatchFailsAloneAndTheOthersAreNotified() async throws {
        try await TestFleet.with(workers: .none) { fleet in
            let admin = try await fleet.admin()
            let patient = try await fleet.register("Batch Patient")
            let doctor = try await fleet.doctor(by: admin)
            let producer = try KafkaProducer(config: fleet.kafka)
            let handler = Self.notificationHandler(fleet, producer: producer)
            var events = try (1...4).map { try Self.booked(patient, doctor: doctor.id, day: $0) }
            // A command where an event belongs: the topic's enum refuses it, so the batch fails.
            let stray = Envelope(
                correlationId: "batch", tenantId: Tenants.defaultTenant, actor: .system,
                payload: CancelAppointment(appointmentId: UUID(), doctorId: doctor.id, reason: "stray"))
            let strayMessage = try Self.incoming([try stray.encoded()], catalog: Catalogs.appointmentCommands, topic: fleet.eventsTopic)
            events.append(events[0])  // the same event twice in one batch
            var batch = try Self.incoming(events, catalog: Catalogs.appointmentEvents, topic: fleet.eventsTopic)
            batch.insert(contentsOf: strayMessage, at: 2)

            let results = await handler.handle(batch: batch)
            await producer.close()
            #expect(results.count == batch.count)
            for (index, result) in results.enumerated() {
                if index == 2 {
                    if case .success = result { Issue.record("the stray command should fail") }
                } else if case .failure(let error) = result {
                    Issue.record("event \(index) failed: \(error)")
                }
            }
            let page = try await fleet.api.get("/v1/notifications?limit=50", token: patient.accessToken)
            #expect((page.json["items"] as? [[String: Any]])?.count == 4, "one notification per event, the repeated one once")
            let reminders = try await fleet.database.query(
                "SELECT count(*) FROM notify.reminders WHERE tenant_id = $1", [Tenants.defaultTenant])
            #expect(try reminders[0].decode(Int.self, 0) == 4, "a reminder per confirmed appointment")
        }
    }

    /// A replayed `booked` event, its appointment confirmed since, leaves the confirmation's
    /// reminders alone: it is the appointment's first event, and the schedule follows the later one.
    @Test func aReplayedBookingKeepsTheRemindersItsConfirmationScheduled() async throws {
        try await TestFleet.with(workers: .none) { fleet in
            let admin = try await fleet.admin()
            let patient = try await fleet.register("Reminded Patient")
            let doctor = try await fleet.doctor(by: admin)
            let producer = try KafkaProducer(config: fleet.kafka)
            let handler = Self.notificationHandler(fleet, producer: producer)
            // Whole seconds: the wire carries milliseconds, and the rows are looked up by their start.
            let start = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 + 2 * 86400).rounded())
            let pending = AppointmentSnapshot(
                appointmentId: UUID(), doctorId: doctor.id, patientId: patient.userId, startsAt: start, endsAt: start.addingTimeInterval(1800),
                status: .pending, sequence: 0, requestedAt: Date())
            var confirmed = pending
            confirmed.status = .confirmed
            confirmed.sequence = 1
            let booking = try Envelope(
                correlationId: "replay", tenantId: Tenants.defaultTenant, actor: Principal(role: .patient, userId: patient.userId),
                payload: AppointmentBooked(commandId: UUID(), appointment: pending, reason: nil)
            ).encoded()
            let confirmation = try Envelope(
                correlationId: "replay", tenantId: Tenants.defaultTenant, actor: Principal(role: .doctor, userId: doctor.id),
                payload: AppointmentConfirmed(commandId: UUID(), appointment: confirmed)
            ).encoded()
            func handle(_ event: Data) async throws {
                for result in await handler.handle(batch: try Self.incoming([event], catalog: Catalogs.appointmentEvents, topic: fleet.eventsTopic)) {
                    try result.get()
                }
            }
            func unsentReminders() async throws -> Int {
                try await fleet.database.query(
                    "SELECT count(*) FROM notify.reminders WHERE appointment_id = $1 AND sent_at IS NULL", [pending.appointmentId]
                )[0].decode(Int.self, 0)
            }
            try await handle(booking)
            #expect(try await unsentReminders() == 0, "a pending appointment has no reminder")
            try await handle(confirmation)
            #expect(try await unsentReminders() == 1)
            try await handle(booking)
            #expect(try await unsentReminders() == 1, "the replayed booking did not drop the confirmed appointment's reminder")

            // Moved a day later; then the old confirmation comes again. The newer reminder stays.
            var moved = confirmed
            moved.startsAt = start.addingTimeInterval(86400)
            moved.endsAt = moved.startsAt.addingTimeInterval(1800)
            moved.sequence = 2
            try await handle(
                try Envelope(
                    correlationId: "replay", tenantId: Tenants.defaultTenant, actor: Principal(role: .doctor, userId: doctor.id),
                    payload: AppointmentRescheduled(
                        commandId: UUID(), appointment: moved, previousStartsAt: start, previousEndsAt: confirmed.endsAt,
                        rescheduledBy: Principal(role: .doctor, userId: doctor.id))
                ).encoded())
            func unsentReminders(at time: Date) async throws -> Int {
                try await fleet.database.query(
                    "SELECT count(*) FROM notify.reminders WHERE appointment_id = $1 AND starts_at = $2 AND sent_at IS NULL",
                    [pending.appointmentId, time]
                )[0].decode(Int.self, 0)
            }
            #expect(try await unsentReminders(at: moved.startsAt) == 1)
            #expect(try await unsentReminders(at: start) == 0)
            try await handle(confirmation)
            #expect(try await unsentReminders(at: moved.startsAt) == 1, "the replayed confirmation did not drop the newer time's reminder")
            await producer.close()
        }
    }

    @Test func aBatchCountsWhatOneEventAtATimeCounts() async throws {
        try await TestFleet.with(workers: .none) { fleet in
            let admin = try await fleet.admin()
            let patient = try await fleet.register("Counted")
            let doctor = try await fleet.doctor(by: admin)
            var events: [Data] = []
            for day in 1...6 { events.append(try Self.booked(patient, doctor: doctor.id, day: day % 3 + 1)) }
            events.append(events[1])
            let messages = try Self.incoming(events, catalog: Catalogs.appointmentEvents, topic: fleet.eventsTopic)
            let together = RollupLedger(schema: "analytics")
            let counted = try await fleet.database.transaction { try await together.apply(messages.map(\.decoded), on: $0) }
            #expect(counted == 6, "the repeated event counts once")

            try await fleet.database.withConnection { try await $0.execute(script: "CREATE SCHEMA one_by_one") }
            for table in ["daily_rollups", "daily_declines", "lead_times", "counted_events"] {
                try await fleet.database.query("CREATE TABLE one_by_one.\(table) (LIKE analytics.\(table) INCLUDING ALL)")
            }
            let single = RollupLedger(schema: "one_by_one")
            for message in messages {
                _ = try await fleet.database.transaction { try await single.apply(message.decoded, on: $0) }
            }
            func rows(_ schema: String) async throws -> [String] {
                try await fleet.database.query(
                    "SELECT day::text || ':' || requested || ':' || booked || ':' || booked_minutes FROM \(schema).daily_rollups ORDER BY day"
                ).map { try $0.decode(String.self, 0) }
            }
            let batched = try await rows("analytics")
            #expect(batched.count == 3)
            #expect(batched == (try await rows("one_by_one")))
        }
    }
}
