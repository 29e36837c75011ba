import Contracts
import Foundation
import Postgres
import TestSupport
import Testing

@Suite("The appointment path end to end", .timeLimit(.minutes(3)))
struct WalkthroughTests {
    @Test func aPatientBooksADoctorConfirmsAndCompletes() async throws {
        try await TestFleet.with { fleet in
            let admin = try await fleet.admin()
            let patient = try await fleet.register("Zoë Patient")
            let me = try await fleet.api.get("/v1/auth/me", token: patient.accessToken)
            #expect(me.json["role"] as? String == "patient")

            // A doctor who confirms each booking.
            let doctor = try await fleet.doctor(by: admin, requiresConfirmation: true)
            let listed = try await fleet.api.get("/v1/doctors", token: patient.accessToken)
            #expect((listed.json["items"] as? [[String: Any]])?.contains { $0["id"] as? String == doctor.id.uuidString.lowercased() } == true)

            let slot = try await fleet.firstFreeSlot(doctor.id, token: patient.accessToken)
            let requested = try await fleet.api.post(
                "/v1/appointments", ["doctorId": doctor.id.uuidString, "startsAt": slot.startsAt, "reason": "check-up"],
                token: patient.accessToken)
            #expect(requested.status == 202, "\(requested.text)")
            let commandId = try #require(requested.json["commandId"] as? String)
            let appointmentId = try #require(requested.json["appointmentId"] as? String)

            let booked = try await fleet.outcome(of: commandId, token: patient.accessToken)
            #expect(booked["status"] as? String == "done")
            #expect((booked["event"] as? [String: Any])?["type"] as? String == "appointment.booked")
            // Time-ordered ids (UUIDv7) for the command, the appointment and the event the booking
            // worker decided: tables are keyed by them, and random keys scatter every batch's rows.
            for id in [commandId, appointmentId, (booked["event"] as? [String: Any])?["id"] as? String ?? "no event id"] {
                #expect(id.dropFirst(14).first == "7", "version 7: \(id)")
            }
            var appointment = try await fleet.api.get("/v1/appointments/\(appointmentId)", token: patient.accessToken)
            #expect(appointment.json["status"] as? String == "pending")
            #expect(appointment.json["startsAt"] as? String == slot.startsAt)
            #expect(appointment.json["endsAt"] as? String == slot.endsAt, "one slot long by default")

            // The slot is no longer offered.
            let slotsAfter = try await fleet.freeSlots(doctor.id, token: patient.accessToken)
            #expect(!slotsAfter.contains { $0.startsAt == slot.startsAt })

            let confirmed = try await fleet.api.post("/v1/appointments/\(appointmentId)/confirm", token: doctor.session.accessToken)
            #expect(confirmed.status == 202)
            #expect(try await fleet.outcome(of: confirmed.json["commandId"] as? String ?? "", token: doctor.session.accessToken)["status"] as? String == "done")
            appointment = try await fleet.api.get("/v1/appointments/\(appointmentId)", token: patient.accessToken)
            #expect(appointment.json["status"] as? String == "confirmed")

            let completed = try await fleet.api.post(
                "/v1/appointments/\(appointmentId)/complete", ["notes": "all well"], token: doctor.session.accessToken)
            #expect(completed.status == 202)
            _ = try await fleet.outcome(of: completed.json["commandId"] as? String ?? "", token: doctor.session.accessToken)
            appointment = try await fleet.api.get("/v1/appointments/\(appointmentId)", token: doctor.session.accessToken)
            #expect(appointment.json["status"] as? String == "completed")
            #expect(appointment.json["notes"] as? String == "all well")
            #expect((appointment.json["sequence"] as? Int) == 2)

            // Each party lists it; the admin sees the tenant's.
            for token in [patient.accessToken, doctor.session.accessToken, admin.accessToken] {
                let page = try await fleet.api.get("/v1/appointments?status=completed", token: token)
                #expect((page.json["items"] as? [[String: Any]])?.map { $0["id"] as? String } == [appointmentId])
            }
        }
    }

    @Test func aDoctorWithoutConfirmationBooksStraightToConfirmed() async throws {
        try await TestFleet.with { fleet in
            let admin = try await fleet.admin()
            let patient = try await fleet.register()
            let doctor = try await fleet.doctor(by: admin)
            let slot = try await fleet.firstFreeSlot(doctor.id, token: patient.accessToken)
            let requested = try await fleet.api.post(
                "/v1/appointments", ["doctorId": doctor.id.uuidString, "startsAt": slot.startsAt], token: patient.accessToken)
            _ = try await fleet.outcome(of: requested.json["commandId"] as? String ?? "", token: patient.accessToken)
            let appointment = try await fleet.api.get("/v1/appointments/\(requested.json["appointmentId"] as? String ?? "")", token: patient.accessToken)
            #expect(appointment.json["status"] as? String == "confirmed")
        }
    }

    @Test func rescheduleIntoATakenSlotIsDeclinedAndCancelFreesTheSlot() async throws {
        try await TestFleet.with { fleet in
            let admin = try await fleet.admin()
            let first = try await fleet.register("First")
            let second = try await fleet.register("Second")
            let doctor = try await fleet.doctor(by: admin)
            let slots = try await fleet.freeSlots(doctor.id, token: first.accessToken)
            let a = try await fleet.book(first, doctor: doctor.id, startsAt: slots[0].startsAt)
            let b = try await fleet.book(second, doctor: doctor.id, startsAt: slots[2].startsAt)

            let moved = try await fleet.api.post(
                "/v1/appointments/\(b)/reschedule", ["startsAt": slots[0].startsAt], token: second.accessToken)
            #expect(moved.status == 202)
            let outcome = try await fleet.outcome(of: moved.json["commandId"] as? String ?? "", token: second.accessToken)
            #expect(outcome["status"] as? String == "declined")
            #expect(outcome["reason"] as? String == "slot_taken")
            let unchanged = try await fleet.api.get("/v1/appointments/\(b)", token: second.accessToken)
            #expect(unchanged.json["startsAt"] as? String == slots[2].startsAt)
            #expect(unchanged.json["status"] as? String == "confirmed")

            let cancelled = try await fleet.api.post("/v1/appointments/\(a)/cancel", ["reason": "travelling"], token: first.accessToken)
            #expect(try await fleet.outcome(of: cancelled.json["commandId"] as? String ?? "", token: first.accessToken)["status"] as? String == "done")
            #expect(try await fleet.api.get("/v1/appointments/\(a)", token: first.accessToken).json["status"] as? String == "cancelled")

            let third = try await fleet.register("Third")
            let rebooked = try await fleet.book(third, doctor: doctor.id, startsAt: slots[0].startsAt)
            #expect(try await fleet.api.get("/v1/appointments/\(rebooked)", token: third.accessToken).json["status"] as? String == "confirmed")

            // And the second patient can now move into a free slot.
            let again = try await fleet.api.post(
                "/v1/appointments/\(b)/reschedule", ["startsAt": slots[4].startsAt], token: second.accessToken)
            #expect(try await fleet.outcome(of: again.json["commandId"] as? String ?? "", token: second.accessToken)["status"] as? String == "done")
            #expect(try await fleet.api.get("/v1/appointments/\(b)", token: second.accessToken).json["startsAt"] as? String == slots[4].startsAt)
        }
    }

    @Test func buffersKeepTheDoctorsTimeBeforeAndAfterEachAppointmentFree() async throws {
        try await TestFleet.with { fleet in
            let admin = try await fleet.admin()
            let patient = try await fleet.register()
            let doctor = try await fleet.doctor(
                by: admin, slotMinutes: 30, extra: ["bufferBeforeMinutes": 5, "bufferAfterMinutes": 10])
            let slots = try await fleet.freeSlots(doctor.id, token: patient.accessToken)
            let first = try #require(WireCoding.parseTimestamp(slots[4].startsAt))
            func at(_ minutes: Double) -> String { WireCoding.formatTimestamp(first.addingTimeInterval(minutes * 60)) }
            _ = try await fleet.book(patient, doctor: doctor.id, startsAt: at(0), endsAt: at(30))
            // Times off the slot grid, booked by an admin (who may), so that only the buffers decide.
            func adminBooks(_ start: Double, _ end: Double) async throws -> [String: Any] {
                let answer = try await fleet.api.post(
                    "/v1/appointments",
                    [
                        "doctorId": doctor.id.uuidString, "patientId": patient.userId.uuidString, "startsAt": at(start), "endsAt": at(end),
                        "allowOffGrid": true,
                    ], token: admin.accessToken)
                return try await fleet.outcome(of: answer.json["commandId"] as? String ?? "", token: admin.accessToken)
            }
            // Back to back would leave no room for 10 min after and 5 min before: 15 min are needed.
            for (start, end) in [(30.0, 60.0), (44, 74), (-44, -14)] {
                #expect(try await adminBooks(start, end)["reason"] as? String == "slot_taken", "\(start)…\(end) min")
            }
            #expect(try await adminBooks(45, 75)["status"] as? String == "done")
            #expect(try await adminBooks(-45, -15)["status"] as? String == "done")
            let free = Set(try await fleet.freeSlots(doctor.id, token: patient.accessToken).map(\.startsAt))
            #expect(!free.contains(at(30)) && !free.contains(at(60)), "slots touching a booking are not offered")
            #expect(free.contains(at(90)), "75 + 10 min after + 5 min before: the 90 slot is exactly far enough")
            #expect(try await adminBooks(85, 115)["reason"] as? String == "slot_taken", "10 min after the last one is inside its buffers")
        }
    }
}
