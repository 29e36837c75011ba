import Contracts
import Foundation
import Kafka
import Postgres
import Runtime
import TestSupport
import Testing

@Suite("The booking worker", .serialized, .timeLimit(.minutes(4)))
struct BookingWorkerTests {
    @Test func theSameCommandPublishedTwiceBooksOnceAndRepublishesTheRecordedEvent() async throws {
        try await TestFleet.with { fleet in
            let admin = try await fleet.admin()
            let patient = try await fleet.register()
            let doctor = try await fleet.doctor(by: admin)
            let slot = try await fleet.firstFreeSlot(doctor.id, token: patient.accessToken)
            let command = Envelope(
                correlationId: "republish-test", tenantId: Tenants.defaultTenant, actor: Principal(role: .patient, userId: patient.userId),
                payload: RequestAppointment(
                    appointmentId: UUID(), doctorId: doctor.id, patientId: patient.userId,
                    startsAt: try #require(WireCoding.parseTimestamp(slot.startsAt)), endsAt: try #require(WireCoding.parseTimestamp(slot.endsAt)),
                    reason: nil))
            let file = NSTemporaryDirectory() + "command-\(command.id).json"
            try command.encoded().write(to: URL(fileURLWithPath: file))
            defer { try? FileManager.default.removeItem(atPath: file) }
            let environment = ["CAREFLEET_FLEET_NAMESPACE": fleet.namespace.prefix, "CAREFLEET_DATABASE_URL": fleet.databaseURL]
            for _ in 0..<2 {
                let published = try await FleetBinary.run(["publish", fleet.commandsTopic, "--file", file], environment: environment)
                #expect(published.status == 0, "\(published.output)")
            }
            let events = try await TestKafka.consume([fleet.eventsTopic], count: 2, timeout: .seconds(30))
            #expect(events.count == 2)
            #expect(events.count == 2 && events[0].value == events[1].value, "the same recorded event, byte for byte")
            let decoded = try events.map { try Catalogs.appointmentEvents.decode(try #require($0.value)) }
            #expect(decoded.allSatisfy { $0.metadata.causationId == command.id && $0.metadata.type == "appointment.booked" })
            #expect(events.allSatisfy { $0.keyString == doctor.id.uuidString.lowercased() }, "keyed by doctor")
            let appointments = try await fleet.database.query(
                "SELECT count(*) FROM booking.appointments WHERE id = $1", [command.payload.appointmentId])
            #expect(try appointments[0].decode(Int.self, 0) == 1)
        }
    }

    @Test func aBookingWorkerKilledMidStreamLosesNoCommandAndDoubleBooksNothing() async throws {
        try await TestFleet.with(bookingWorker: false) { fleet in
            let admin = try await fleet.admin()
            var doctors: [UUID] = []
            for _ in 0..<4 { doctors.append(try await fleet.doctor(by: admin, slotMinutes: 30).id) }
            var patients: [Session] = []
            for index in 0..<20 { patients.append(try await fleet.register("Streamer \(index)")) }
            var slotsByDoctor: [UUID: [String]] = [:]
            for doctor in doctors {
                slotsByDoctor[doctor] = try await fleet.freeSlots(doctor, token: admin.accessToken, days: 3).map(\.startsAt)
            }
            let environment = [
                "CAREFLEET_DATABASE_URL": fleet.databaseURL, "CAREFLEET_FLEET_NAMESPACE": fleet.namespace.prefix,
                "CAREFLEET_WORKER_SHUTDOWN_DEADLINE": "5s",
            ]
            let first = try await ProgramProcess("booking-worker", environment: environment)
            let total = 2000
            let plan = (0..<total).map { index -> (Session, UUID, String) in
                let doctor = doctors[index % doctors.count]
                let slots = slotsByDoctor[doctor] ?? []
                return (patients[index % patients.count], doctor, slots[(index * 7919) % slots.count])
            }
            let sent = Locked(0)
            let streaming = Task {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for worker in 0..<16 {
                        group.addTask {
                            for index in stride(from: worker, to: total, by: 16) {
                                let (patient, doctor, start) = plan[index]
                                let answer = try await fleet.api.post(
                                    "/v1/appointments", ["doctorId": doctor.uuidString, "startsAt": start], token: patient.accessToken)
                                try #require(answer.status == 202, "\(answer.text)")
                                sent.withLock { $0 += 1 }
                            }
                        }
                    }
                    try await group.waitForAll()
                }
            }
            let decided = { try await fleet.database.query("SELECT count(*) FROM booking.processed_commands")[0].decode(Int.self, 0) }
            try await eventually(timeout: .seconds(90), "a quarter decided") { try await decided() >= total / 4 }
            first.signal(SIGKILL)
            _ = await first.waitForExit(timeout: .seconds(10))
            let atKill = try await decided()
            let second = try await ProgramProcess("booking-worker", environment: environment)
            try await streaming.value
            #expect(sent.value == total)
            try await eventually(timeout: .seconds(120), "every command decided") { try await decided() == total }
            #expect(atKill < total, "killed mid-stream")

            let issued = try await fleet.database.query(
                """
                SELECT count(*) FROM identity.issued_commands c
                WHERE NOT EXISTS (SELECT 1 FROM booking.processed_commands p WHERE p.command_id = c.id)
                """)
            #expect(try issued[0].decode(Int.self, 0) == 0, "every command has an outcome")
            let overlaps = try await fleet.database.query(
                """
                SELECT count(*) FROM booking.appointments a JOIN booking.appointments b
                  ON a.doctor_id = b.doctor_id AND a.id < b.id
                 AND tstzrange(a.starts_at, a.ends_at) && tstzrange(b.starts_at, b.ends_at)
                WHERE a.status IN ('pending', 'confirmed') AND b.status IN ('pending', 'confirmed')
                """)
            #expect(try overlaps[0].decode(Int.self, 0) == 0, "no slot is double booked")
            let booked = try await fleet.database.query("SELECT count(*) FROM booking.appointments")[0].decode(Int.self, 0)
            #expect(booked > 0 && booked < total, "some booked, the colliding ones declined")
            second.signal(SIGTERM)
            #expect(await second.waitForExit(timeout: .seconds(15)) == 0, "\(second.log.suffix(1500))")
        }
    }
}
