import Contracts
import Foundation
import Postgres
import TestSupport
import Testing

@Suite("No double booking", .timeLimit(.minutes(3)))
struct ConcurrencyTests {
    /// `count` patients at once, each asking for the interval `interval(index)`; returns the outcomes.
    static func race(
        _ fleet: TestFleet, doctor: UUID, count: Int, _ interval: @escaping @Sendable (Int) -> (String, String)
    ) async throws -> [[String: Any]] {
        let patients = try await withThrowingTaskGroup(of: Session.self) { group in
            for index in 0..<count { group.addTask { try await fleet.register("Racer \(index)") } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let commands = try await withThrowingTaskGroup(of: (String, String).self) { group in
            for (index, patient) in patients.enumerated() {
                group.addTask {
                    let (start, end) = interval(index)
                    let answer = try await fleet.api.post(
                        "/v1/appointments", ["doctorId": doctor.uuidString, "startsAt": start, "endsAt": end],
                        token: patient.accessToken)
                    try #require(answer.status == 202, "\(answer.text)")
                    return (try #require(answer.json["commandId"] as? String), patient.accessToken)
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        var outcomes: [[String: Any]] = []
        for (command, token) in commands { outcomes.append(try await fleet.outcome(of: command, token: token)) }
        return outcomes
    }

    static func activeOverlapping(_ fleet: TestFleet, doctor: UUID, from: String, to: String) async throws -> Int {
        try await fleet.database.query(
            """
            SELECT count(*) FROM booking.appointments
            WHERE doctor_id = $1 AND status IN ('pending', 'confirmed')
              AND tstzrange(starts_at, ends_at) && tstzrange($2::timestamptz, $3::timestamptz)
            """, [doctor, from, to])[0].decode(Int.self, 0)
    }

    @Test func fiftyPatientsForOneSlotMakeOneBookingAndFortyNineDeclines() async throws {
        try await TestFleet.with { fleet in
            let admin = try await fleet.admin()
            let doctor = try await fleet.doctor(by: admin)
            let slot = try await fleet.firstFreeSlot(doctor.id, token: admin.accessToken)
            let outcomes = try await Self.race(fleet, doctor: doctor.id, count: 50) { _ in (slot.startsAt, slot.endsAt) }
            #expect(outcomes.filter { $0["status"] as? String == "done" }.count == 1)
            let declined = outcomes.filter { $0["status"] as? String == "declined" }
            #expect(declined.count == 49)
            #expect(declined.allSatisfy { $0["reason"] as? String == "slot_taken" })
            #expect(try await Self.activeOverlapping(fleet, doctor: doctor.id, from: slot.startsAt, to: slot.endsAt) == 1)
        }
    }

    @Test func partiallyOverlappingRequestsOfDifferentLengthsMakeOneBooking() async throws {
        try await TestFleet.with { fleet in
            let admin = try await fleet.admin()
            let doctor = try await fleet.doctor(by: admin, slotMinutes: 15)
            let slots = try await fleet.freeSlots(doctor.id, token: admin.accessToken)
            // Every request covers the same quarter hour [anchor, anchor + 15 min), so any two overlap.
            let anchor = try #require(WireCoding.parseTimestamp(slots[8].startsAt))
            let outcomes = try await Self.race(fleet, doctor: doctor.id, count: 30) { index in
                let before = Double((index % 4) * 15 * 60)
                let after = Double((index % 3 + 1) * 15 * 60)
                return (WireCoding.formatTimestamp(anchor.addingTimeInterval(-before)), WireCoding.formatTimestamp(anchor.addingTimeInterval(after)))
            }
            #expect(outcomes.filter { $0["status"] as? String == "done" }.count == 1)
            #expect(outcomes.filter { $0["reason"] as? String == "slot_taken" }.count == 29)
            let from = WireCoding.formatTimestamp(anchor.addingTimeInterval(-3600))
            let to = WireCoding.formatTimestamp(anchor.addingTimeInterval(3600))
            #expect(try await Self.activeOverlapping(fleet, doctor: doctor.id, from: from, to: to) == 1)
        }
    }
}
