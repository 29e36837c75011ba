import Contracts
import Foundation
import Kafka
import Postgres
import TestSupport
import Testing

/// The booking rules as the worker applies them to whole batches (Migrations/SQL/0013): the slot
/// grid, disabled clinics, and decisions in command order within a batch.
@Suite("Booking rules", .serialized, .timeLimit(.minutes(4)))
struct BookingRulesTests {
    // MARK: - Helpers

    /// Publishes commands to appointments.commands as `fleet publish` would (keyed by doctor).
    static func publish(_ fleet: TestFleet, _ commands: [(doctor: UUID, json: Data)]) async throws {
        let producer = try KafkaProducer(config: fleet.kafka)
        for command in commands {
            try await producer.send(ProducerRecord(topic: fleet.commandsTopic, key: command.doctor.canonical, value: command.json))
        }
        await producer.close()
    }

    static func request(
        _ tenant: UUID, by actor: Principal, doctor: UUID, patient: UUID, at start: Date, minutes: Double = 30,
        appointment: UUID = UUID.random(), reason: String? = nil, allowOffGrid: Bool? = nil
    ) -> Envelope<RequestAppointment> {
        Envelope(
            correlationId: "rules-test", tenantId: tenant, actor: actor,
            payload: RequestAppointment(
                appointmentId: appointment, doctorId: doctor, patientId: patient, startsAt: start,
                endsAt: start.addingTimeInterval(minutes * 60), reason: reason, allowOffGrid: allowOffGrid))
    }

    /// The event the worker recorded for `command`, once it decided it.
    static func decision(_ fleet: TestFleet, of command: UUID, timeout: Duration = .seconds(30)) async throws -> AppointmentEvent {
        var json: String?
        try await eventually(timeout: timeout, "command \(command) decided") {
            json = try await fleet.database.query("SELECT event FROM booking.processed_commands WHERE command_id = $1", [command])
                .first?.decode(String.self, 0)
            return json != nil
        }
        return try AppointmentEvent(try Catalogs.appointmentEvents.decode(Data(try #require(json).utf8)))
    }

    static func declineReason(_ event: AppointmentEvent) -> DeclineReason? {
        if case .declined(let declined) = event { return declined.reason }
        return nil
    }

    static func date(_ text: String) throws -> Date { try #require(WireCoding.parseTimestamp(text)) }

    // MARK: - The slot grid

    @Test func aStartOffTheDoctorsSlotGridIsDeclinedUnlessAnAdminBooksIt() async throws {
        try await TestFleet.with { fleet in
            let admin = try await fleet.admin()
            let patient = try await fleet.register("Grid")
            let doctor = try await fleet.doctor(by: admin, slotMinutes: 30)
            let slots = try await fleet.freeSlots(doctor.id, token: patient.accessToken)
            let offGrid = WireCoding.formatTimestamp(try Self.date(slots[2].startsAt).addingTimeInterval(7 * 60))

            let asked = try await fleet.api.post(
                "/v1/appointments", ["doctorId": doctor.id.uuidString, "startsAt": offGrid], token: patient.accessToken)
            #expect(asked.status == 202, "\(asked.text)")
            let declined = try await fleet.outcome(of: asked.json["commandId"] as? String ?? "", token: patient.accessToken)
            #expect(declined["status"] as? String == "declined" && declined["reason"] as? String == "off_grid", "\(declined)")

            // An admin may, and then the two slots the appointment overlaps leave the list.
            let booked = try await fleet.api.post(
                "/v1/appointments",
                ["doctorId": doctor.id.uuidString, "startsAt": offGrid, "patientId": patient.userId.uuidString, "allowOffGrid": true],
                token: admin.accessToken)
            #expect(booked.status == 202, "\(booked.text)")
            let done = try await fleet.outcome(of: booked.json["commandId"] as? String ?? "", token: admin.accessToken)
            #expect(done["status"] as? String == "done", "\(done)")
            let after = try await fleet.freeSlots(doctor.id, token: patient.accessToken).map(\.startsAt)
            #expect(!after.contains(slots[2].startsAt) && !after.contains(slots[3].startsAt))
            #expect(after.contains(slots[1].startsAt) && after.contains(slots[4].startsAt))

            // The worker does not take the flag from anyone else (the ingress refuses it to them too).
            let sneaky = Self.request(
                Tenants.defaultTenant, by: Principal(role: .patient, userId: patient.userId), doctor: doctor.id,
                patient: patient.userId, at: try Self.date(slots[6].startsAt).addingTimeInterval(5 * 60), allowOffGrid: true)
            try await Self.publish(fleet, [(doctor.id, try sneaky.encoded())])
            #expect(Self.declineReason(try await Self.decision(fleet, of: sneaky.id)) == .offGrid)

            // Moving an appointment follows the same rule.
            let appointment = try await fleet.book(patient, doctor: doctor.id, startsAt: slots[8].startsAt)
            let offGridMove = WireCoding.formatTimestamp(try Self.date(slots[10].startsAt).addingTimeInterval(10 * 60))
            let refused = try await fleet.act("reschedule", on: appointment, ["startsAt": offGridMove], as: patient)
            #expect(refused["status"] as? String == "declined" && refused["reason"] as? String == "off_grid", "\(refused)")
            let moved = try await fleet.act("reschedule", on: appointment, ["startsAt": offGridMove, "allowOffGrid": true], as: admin)
            #expect(moved["status"] as? String == "done", "\(moved)")
        }
    }

    @Test func theRulesAcceptEveryListedSlotAndNoOtherStartOfAnOverriddenDay() async throws {
        try await TestFleet.with { fleet in
            let admin = try await fleet.admin()
            let patient = try await fleet.register("Override")
            let doctor = try await fleet.doctor(
                by: admin, timeZone: "America/New_York", hours: ("08:00", "12:00"), slotMinutes: 20,
                extra: ["bufferBeforeMinutes": 5, "bufferAfterMinutes": 5])
            // That day the hours are 13:10–15:00 instead: slots start at 13:10, 13:30, 13:50, 14:10 and
            // 14:30 (one at 14:50 would end after 15:00).
            let day = TestFleet.day(3)
            let set = try await fleet.api.send(
                "PUT", "/v1/doctors/\(doctor.id)/overrides/\(day)", body: Data(#"{"hours":[{"start":"13:10","end":"15:00"}]}"#.utf8),
                token: admin.accessToken, headers: [:])
            try #require(set.status == 200, "\(set.text)")
            let slots = try await fleet.freeSlots(doctor.id, token: patient.accessToken, daysAhead: 3)
            try #require(slots.count == 5, "\(slots)")

            // The first and the last listed slot: both booked. With 5 minutes of buffer on either side
            // they take 13:30 and 14:10 with them; 13:50 stays free.
            for index in [0, 4] {
                _ = try await fleet.book(patient, doctor: doctor.id, startsAt: slots[index].startsAt, endsAt: slots[index].endsAt)
            }
            func ask(_ start: Date, minutes: Double) async throws -> [String: Any] {
                let answer = try await fleet.api.post(
                    "/v1/appointments",
                    [
                        "doctorId": doctor.id.uuidString, "startsAt": WireCoding.formatTimestamp(start),
                        "endsAt": WireCoding.formatTimestamp(start.addingTimeInterval(minutes * 60)),
                    ], token: patient.accessToken)
                try #require(answer.status == 202, "\(answer.text)")
                return try await fleet.outcome(of: answer.json["commandId"] as? String ?? "", token: patient.accessToken)
            }
            let first = try Self.date(slots[0].startsAt)  // 13:10 local
            // 14:00 is on the weekly grid (from 08:00) but not on this day's (from 13:10).
            #expect(try await ask(first.addingTimeInterval(50 * 60), minutes: 20)["reason"] as? String == "off_grid")
            // 14:50 is a whole number of slots from 13:10, but a slot there would end after 15:00:
            // the list does not offer it, and a 10-minute appointment there is off the grid too.
            #expect(try await ask(first.addingTimeInterval(100 * 60), minutes: 10)["reason"] as? String == "off_grid")
            // The weekly hours do not apply that day.
            #expect(try await ask(first.addingTimeInterval(-5 * 3600 - 10 * 60), minutes: 20)["reason"] as? String == "outside_hours")
            // A listed slot next to a booked one is taken (buffers), not off the grid.
            #expect(try await ask(try Self.date(slots[1].startsAt), minutes: 20)["reason"] as? String == "slot_taken")
            let left = try await fleet.freeSlots(doctor.id, token: patient.accessToken, daysAhead: 3).map(\.startsAt)
            #expect(left == [slots[2].startsAt], "\(left)")
        }
    }

    // MARK: - Disabled clinics

    @Test func aDisabledClinicsCommandsAreDeclinedAndItsAppointmentsKept() async throws {
        try await TestFleet.with { fleet in
            let tenant = UUID.random()
            let admin = try await fleet.admin(tenant: tenant)
            let patient = try await fleet.register("Closing", tenant: tenant)
            let doctor = try await fleet.doctor(by: admin)
            let slots = try await fleet.freeSlots(doctor.id, token: patient.accessToken)
            let appointment = try await fleet.book(patient, doctor: doctor.id, startsAt: slots[0].startsAt)

            try await fleet.database.query("UPDATE identity.tenants SET disabled_at = now() WHERE id = $1", [tenant])
            // Its users are signed out, so the commands come as `fleet publish` (or a replay) would send them.
            let actor = Principal(role: .patient, userId: patient.userId)
            let request = Self.request(tenant, by: actor, doctor: doctor.id, patient: patient.userId, at: try Self.date(slots[4].startsAt))
            let cancel = Envelope(
                correlationId: "rules-test", tenantId: tenant, actor: actor,
                payload: CancelAppointment(appointmentId: try #require(UUID(uuidString: appointment)), doctorId: doctor.id, reason: "closing"))
            try await Self.publish(fleet, [(doctor.id, try request.encoded()), (doctor.id, try cancel.encoded())])
            #expect(Self.declineReason(try await Self.decision(fleet, of: request.id)) == .tenantDisabled)
            #expect(Self.declineReason(try await Self.decision(fleet, of: cancel.id)) == .tenantDisabled)
            let kept = try await fleet.database.query("SELECT status FROM booking.appointments WHERE tenant_id = $1", [tenant])
            #expect(try kept.map { try $0.decode(String.self, 0) } == ["confirmed"], "its data stays as it was")

            // Enabled again, it books again.
            try await fleet.database.query("UPDATE identity.tenants SET disabled_at = NULL WHERE id = $1", [tenant])
            let again = Self.request(tenant, by: actor, doctor: doctor.id, patient: patient.userId, at: try Self.date(slots[6].startsAt))
            try await Self.publish(fleet, [(doctor.id, try again.encoded())])
            guard case .booked = try await Self.decision(fleet, of: again.id) else {
                Issue.record("an enabled clinic's request is booked")
                return
            }
        }
    }

    // MARK: - Batches

    /// Everything is queued before the worker starts, so it takes the commands in one or a few
    /// batches; whatever the batches, the outcomes are those of deciding one command after another.
    @Test func commandsQueuedTogetherAreDecidedInTheirOrder() async throws {
        try await TestFleet.with(bookingWorker: false) { fleet in
            let admin = try await fleet.admin()
            let doctor = try await fleet.doctor(by: admin)
            let other = try await fleet.doctor(by: admin)
            let (first, second) = (try await fleet.register("First"), try await fleet.register("Second"))
            let slots = try await fleet.freeSlots(doctor.id, token: admin.accessToken).map { try Self.date($0.startsAt) }
            let tenant = Tenants.defaultTenant
            let firstActor = Principal(role: .patient, userId: first.userId)
            let secondActor = Principal(role: .patient, userId: second.userId)

            let a = Self.request(tenant, by: firstActor, doctor: doctor.id, patient: first.userId, at: slots[0])
            let b = Self.request(tenant, by: secondActor, doctor: doctor.id, patient: second.userId, at: slots[0])
            let elsewhere = Self.request(tenant, by: secondActor, doctor: other.id, patient: second.userId, at: slots[0])
            let cancelA = Envelope(
                correlationId: "rules-test", tenantId: tenant, actor: firstActor,
                payload: CancelAppointment(appointmentId: a.payload.appointmentId, doctorId: doctor.id, reason: "changed my mind"))
            let c = Self.request(tenant, by: secondActor, doctor: doctor.id, patient: second.userId, at: slots[0])
            // The same appointment id as c: decided after c, which holds it by then.
            let sameId = Self.request(
                tenant, by: firstActor, doctor: doctor.id, patient: first.userId, at: slots[3], appointment: c.payload.appointmentId)
            let e = Self.request(tenant, by: firstActor, doctor: doctor.id, patient: first.userId, at: slots[5])
            let moveE = Envelope(
                correlationId: "rules-test", tenantId: tenant, actor: .system,
                payload: RescheduleAppointment(
                    appointmentId: e.payload.appointmentId, doctorId: doctor.id, startsAt: slots[7], endsAt: slots[7].addingTimeInterval(1800)))
            let f = Self.request(tenant, by: secondActor, doctor: doctor.id, patient: second.userId, at: slots[5])
            let queued: [(UUID, Data)] = [
                (doctor.id, try a.encoded()), (doctor.id, try b.encoded()), (other.id, try elsewhere.encoded()),
                (doctor.id, try cancelA.encoded()), (doctor.id, try c.encoded()), (doctor.id, try a.encoded()),
                (doctor.id, try sameId.encoded()), (doctor.id, try e.encoded()), (doctor.id, try moveE.encoded()),
                (doctor.id, try f.encoded()),
            ]
            try await Self.publish(fleet, queued)

            let environment = ["CAREFLEET_DATABASE_URL": fleet.databaseURL, "CAREFLEET_FLEET_NAMESPACE": fleet.namespace.prefix]
            let worker = try await ProgramProcess("booking-worker", environment: environment)
            func outcome(_ id: UUID) async throws -> String {
                switch try await Self.decision(fleet, of: id) {
                case .booked: "booked"
                case .declined(let declined): declined.reason.rawValue
                case .cancelled: "cancelled"
                case .rescheduled: "rescheduled"
                default: "other"
                }
            }
            #expect(try await outcome(a.id) == "booked")
            #expect(try await outcome(b.id) == "slot_taken", "the same slot, later in the batch")
            #expect(try await outcome(elsewhere.id) == "booked", "another doctor's calendar")
            #expect(try await outcome(cancelA.id) == "cancelled")
            #expect(try await outcome(c.id) == "booked", "the slot is free again after the cancel before it")
            #expect(try await outcome(sameId.id) == "invalid_transition", "the appointment exists by then")
            #expect(try await outcome(e.id) == "booked")
            #expect(try await outcome(moveE.id) == "rescheduled")
            #expect(try await outcome(f.id) == "booked", "the slot e left")

            // Ten commands, nine distinct: ten events, the repeated command's twice, byte for byte.
            let events = try await TestKafka.consume([fleet.eventsTopic], count: 10, timeout: .seconds(30))
            #expect(events.count == 10)
            let ofA = try events.filter { try Catalogs.appointmentEvents.decode(try #require($0.value)).metadata.causationId == a.id }
            #expect(ofA.count == 2 && ofA[0].value == ofA[1].value)
            let active = try await fleet.database.query(
                "SELECT count(*) FROM booking.appointments WHERE doctor_id = $1 AND status IN ('pending', 'confirmed')", [doctor.id])
            #expect(try active[0].decode(Int.self, 0) == 3, "c, e (moved) and f")
            worker.signal(SIGTERM)
            #expect(await worker.waitForExit(timeout: .seconds(15)) == 0, "\(worker.log.suffix(1500))")
        }
    }

    /// Text with a NUL character cannot reach PostgreSQL: that command alone is dead-lettered,
    /// the others of its batch are decided.
    @Test func aCommandThatCanNeverBeDecidedIsDeadLetteredWithoutItsBatch() async throws {
        try await TestFleet.with(bookingWorker: false) { fleet in
            let admin = try await fleet.admin()
            let patient = try await fleet.register("Nul")
            let doctor = try await fleet.doctor(by: admin)
            let slots = try await fleet.freeSlots(doctor.id, token: admin.accessToken).map { try Self.date($0.startsAt) }
            let actor = Principal(role: .patient, userId: patient.userId)
            let before = Self.request(Tenants.defaultTenant, by: actor, doctor: doctor.id, patient: patient.userId, at: slots[0])
            let broken = Self.request(
                Tenants.defaultTenant, by: actor, doctor: doctor.id, patient: patient.userId, at: slots[2], reason: "pain\u{0}")
            let after = Self.request(Tenants.defaultTenant, by: actor, doctor: doctor.id, patient: patient.userId, at: slots[4])
            try await Self.publish(
                fleet, [(doctor.id, try before.encoded()), (doctor.id, try broken.encoded()), (doctor.id, try after.encoded())])
            let environment = ["CAREFLEET_DATABASE_URL": fleet.databaseURL, "CAREFLEET_FLEET_NAMESPACE": fleet.namespace.prefix]
            let worker = try await ProgramProcess("booking-worker", environment: environment)
            guard case .booked = try await Self.decision(fleet, of: before.id), case .booked = try await Self.decision(fleet, of: after.id)
            else {
                Issue.record("the commands around the broken one are booked")
                return
            }
            let deadLetters = fleet.namespace.group(ConsumerGroups.booking).deadLetterTopic(of: fleet.commandsTopic)
            let dead = try await TestKafka.consume([deadLetters], count: 1, timeout: .seconds(20))
            #expect(dead.count == 1)
            #expect(dead.first.map { try? Catalogs.appointmentCommands.decode(try #require($0.value)).metadata.id } == broken.id)
            #expect(dead.first?.header(HeaderName.errorClass) == ErrorClass.validation.rawValue)
            worker.signal(SIGTERM)
            #expect(await worker.waitForExit(timeout: .seconds(15)) == 0, "\(worker.log.suffix(1500))")
        }
    }

    /// Random requests with collisions of every kind (same slot, overlapping lengths, buffers, off
    /// the grid with and without an admin): one call for all of them decides exactly as one call
    /// per request, one after another.
    @Test func aBatchDecidesAsOneRequestAfterAnotherWould() async throws {
        try await TestFleet.with(bookingWorker: false) { fleet in
            let admin = try await fleet.admin()
            let patient = try await fleet.register("Random")
            let doctor = try await fleet.doctor(by: admin, slotMinutes: 20, extra: ["bufferBeforeMinutes": 5, "bufferAfterMinutes": 10])
            let base = try Self.date(try await fleet.firstFreeSlot(doctor.id, token: admin.accessToken).startsAt)
            var generator = SystemRandomNumberGenerator()
            let count = 120
            let starts = (0..<count).map { _ in base.addingTimeInterval(Double(Int.random(in: -2..<40, using: &generator)) * 15 * 60) }
            let ends = starts.map { $0.addingTimeInterval(Double(Int.random(in: 1...3, using: &generator)) * 20 * 60) }
            let admins = (0..<count).map { _ in Bool.random(using: &generator) }
            let commandIds = (0..<count).map { _ in UUID.random() }
            let appointmentIds = (0..<count).map { _ in UUID.random() }
            func decide(_ range: Range<Int>, on connection: PostgresConnection) async throws -> [String] {
                let rows = try await connection.query(
                    """
                    SELECT outcome || coalesce(':' || decline_reason, '') FROM booking.decide_batch(
                        $1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::uuid[], $6::timestamptz[], $7::uuid[], $8::uuid[],
                        $9::uuid[], $10::timestamptz[], $11::timestamptz[], $12::text[], $13::text[], $14::boolean[]) ORDER BY n
                    """,
                    [
                        Array(commandIds[range]), range.map { _ in "appointment.request" }, range.map { _ in Tenants.defaultTenant },
                        range.map { admins[$0] ? "admin" : "patient" }, range.map { _ in patient.userId }, range.map { _ in Date() },
                        Array(appointmentIds[range]), range.map { _ in doctor.id }, range.map { _ in patient.userId },
                        Array(starts[range]), Array(ends[range]), range.map { _ in String?.none }, range.map { _ in String?.none },
                        Array(admins[range]),
                    ])
                return try rows.map { try $0.decode(String.self, 0) }
            }
            let (together, oneByOne) = try await fleet.database.withConnection { connection in
                try await connection.execute(script: "BEGIN")
                let together = try await decide(0..<count, on: connection)
                try await connection.execute(script: "ROLLBACK; BEGIN")
                var oneByOne: [String] = []
                for index in 0..<count { oneByOne += try await decide(index..<(index + 1), on: connection) }
                try await connection.execute(script: "ROLLBACK")
                return (together, oneByOne)
            }
            #expect(together == oneByOne)
            #expect(together.contains("booked") && together.contains("declined:slot_taken") && together.contains("declined:off_grid"))
        }
    }

    /// A session's sixth call of a PL/pgSQL function may reuse a generic plan, made as if the
    /// batch held one command: for the decision query that meant nested loops over the batch's
    /// sets (quadratic in its size) and a scan of every doctor of the tenant per command
    /// (auto_explain of the booking bench's batches; Migrations/SQL/0019). Both batch functions
    /// plan their queries for each batch.
    @Test func theBatchDecisionIsPlannedForEachBatchWithItsRealSize() async throws {
        try await TestDatabase.with { url in
            let connection = try await PostgresConnection.connect(url: url)
            let rows = try await connection.query(
                """
                SELECT p.proname, s.setting FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                LEFT JOIN LATERAL unnest(p.proconfig) AS s(setting) ON true
                WHERE n.nspname = 'booking' AND p.proname IN ('decide_batch', 'decide_requests') ORDER BY p.proname
                """)
            let settings = try rows.map { "\(try $0.decode(String.self, 0)) \(try $0.decode(String?.self, 1) ?? "-")" }
            #expect(settings == ["decide_batch plan_cache_mode=force_custom_plan", "decide_requests plan_cache_mode=force_custom_plan"])
        }
    }

    /// A doctor's events leave the worker in the order of their commands, whole batches at a
    /// time: every booking before its cancellation, on one partition. (The worker used to hand
    /// each event of a batch to its own task, and two of them could swap places.)
    @Test func aBatchsEventsArePublishedInCommandOrder() async throws {
        try await TestFleet.with { fleet in
            let admin = try await fleet.admin()
            let patient = try await fleet.register("Ordered")
            let doctor = try await fleet.doctor(by: admin, slotMinutes: 30)
            let slots = try await fleet.freeSlots(doctor.id, token: patient.accessToken, days: 7)
            try #require(slots.count >= 60)
            var records: [ProducerRecord] = []
            var commandIds: [String] = []
            for slot in slots.prefix(150) {
                let appointment = UUID.random()
                let request = Self.request(
                    Tenants.defaultTenant, by: Principal(role: .patient, userId: patient.userId), doctor: doctor.id, patient: patient.userId,
                    at: try Self.date(slot.startsAt), minutes: 30, appointment: appointment)
                let cancel = Envelope(
                    correlationId: "order-test", tenantId: Tenants.defaultTenant, actor: Principal(role: .patient, userId: patient.userId),
                    payload: CancelAppointment(appointmentId: appointment, doctorId: doctor.id, reason: "changed my mind"))
                for (id, json) in [(request.metadata.id, try request.encoded()), (cancel.metadata.id, try cancel.encoded())] {
                    commandIds.append(id.canonical)
                    records.append(ProducerRecord(topic: fleet.commandsTopic, key: doctor.id.canonical, value: json))
                }
            }
            let producer = try KafkaProducer(config: fleet.kafka)
            try await producer.send(records)
            await producer.close()
            // Consumed, not read up to the high watermark: the local broker reports a partition's
            // end after a batch of many records as if it held one.
            let events = try await TestKafka.consume([fleet.eventsTopic], count: commandIds.count, timeout: .seconds(60))
            let published = events.sorted { ($0.partition, $0.offset) < ($1.partition, $1.offset) }.compactMap { message -> String? in
                guard let value = message.value, let envelope = try? JSONSerialization.jsonObject(with: value) as? [String: Any],
                    let payload = envelope["payload"] as? [String: Any]
                else { return nil }
                return payload["commandId"] as? String
            }
            #expect(published == commandIds, "first out of order at \(published.indices.first { $0 >= commandIds.count || published[$0] != commandIds[$0] } ?? -1)")
        }
    }

    // MARK: - The benchmark

    @Test func theBookingBenchPrintsDecidedPerSecondBesideThePostgresCeiling() async throws {
        try await TestFleet.with(workers: .init(notifications: true, analytics: true)) { fleet in
            let json = FileManager.default.temporaryDirectory.appendingPathComponent("bench-booking-\(UUID.random().canonical).json").path
            defer { try? FileManager.default.removeItem(atPath: json) }
            let run = try await FleetBinary.run(
                ["bench", "booking", "--commands", "400", "--doctors", "8", "--ceiling-seconds", "2", "--json", json],
                environment: ["CAREFLEET_DATABASE_URL": fleet.databaseURL, "CAREFLEET_FLEET_NAMESPACE": fleet.namespace.prefix])
            #expect(run.status == 0, "\(run.output)")
            let figures = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any])
            #expect((figures["decidedPerSecond"] as? Double ?? 0) > 0)
            #expect(((figures["ceiling"] as? [String: Any])?["bookingsPerSecond"] as? Double ?? 0) > 0)
            #expect((figures["ratioToCeiling"] as? Double ?? 0) > 0)
            #expect((figures["booked"] as? Int ?? 0) > 300, "on the grid, so the requests that do not collide are booked: \(figures)")
            #expect(run.output.contains("RATIO") && run.output.contains("PostgreSQL ceiling"))
            // The notification and analytics workers handled every event of the burst, timed as decided/s is.
            let downstream = figures["downstream"] as? [[String: Any]] ?? []
            #expect(
                Set(downstream.compactMap { $0["group"] as? String })
                    == [fleet.namespace.groupName(ConsumerGroups.notification.name), fleet.namespace.groupName(ConsumerGroups.analytics.name)])
            #expect(downstream.allSatisfy { ($0["eventsPerSecond"] as? Double ?? 0) > 0 && ($0["ratioToDecided"] as? Double ?? 0) > 0 }, "\(downstream)")
            #expect(run.output.contains("notification-worker (every event handled)"))
        }
    }
}
