import Contracts
import Foundation
import TestSupport
import Testing

/// The waitlist end to end: the ingress, the booking and waitlist workers, PostgreSQL and Kafka.
@Suite("Waitlist", .serialized, .timeLimit(.minutes(5)))
struct WaitlistTests {
    static func join(
        _ fleet: TestFleet, _ patient: Session, doctor: UUID, day: String, earliest: String? = nil, latest: String? = nil
    ) async throws -> String {
        var body: [String: Any] = ["doctorId": doctor.uuidString, "fromDay": day, "toDay": day]
        if let earliest { body["earliest"] = earliest }
        if let latest { body["latest"] = latest }
        let answer = try await fleet.api.post("/v1/waitlist", body, token: patient.accessToken)
        try #require(answer.status == 201, "\(answer.text)")
        return try #require(answer.json["id"] as? String)
    }

    static func offers(_ fleet: TestFleet, _ patient: Session) async throws -> [[String: Any]] {
        let answer = try await fleet.api.get("/v1/waitlist", token: patient.accessToken)
        let entries = answer.json["items"] as? [[String: Any]] ?? []
        return entries.flatMap { $0["offers"] as? [[String: Any]] ?? [] }
    }

    static func notices(_ fleet: TestFleet, _ patient: Session, kind: String) async throws -> [[String: Any]] {
        let items = try await fleet.api.get("/v1/notifications", token: patient.accessToken).json["items"] as? [[String: Any]] ?? []
        return items.filter { $0["kind"] as? String == kind }
    }

    @Test func aCancellationReachesTheWaitlistedPatientWithinASecondAndOnlyInsideTheirWindow() async throws {
        try await TestFleet.with(workers: .init(waitlist: true)) { fleet in
            let admin = try await fleet.admin()
            let doctor = try await fleet.doctor(by: admin, timeZone: "UTC", hours: ("08:00", "18:00"), slotMinutes: 30)
            let booker = try await fleet.register("Booker")
            let waiting = try await fleet.register("Waiting")
            let elsewhere = try await fleet.register("Other Window")
            let day = TestFleet.day(2)
            _ = try await Self.join(fleet, waiting, doctor: doctor.id, day: day)
            // Waits for the same doctor and day, but only early in the morning: 10:00 is outside.
            _ = try await Self.join(fleet, elsewhere, doctor: doctor.id, day: day, earliest: "08:00", latest: "09:00")
            var timings: [Duration] = []
            for hour in ["10:00", "11:00", "12:00"] where timings.allSatisfy({ $0 >= .seconds(1) }) {
                let appointment = try await fleet.book(booker, doctor: doctor.id, startsAt: "\(day)T\(hour):00Z")
                let before = try await Self.notices(fleet, waiting, kind: "waitlist_offer").count
                let started = ContinuousClock.now
                let cancel = try await fleet.api.post(
                    "/v1/appointments/\(appointment)/cancel", ["reason": "cannot come"], token: booker.accessToken)
                try #require(cancel.status == 202)
                try await eventually(timeout: .seconds(10), "the offer reaches the waiting patient") {
                    try await Self.notices(fleet, waiting, kind: "waitlist_offer").count > before
                }
                timings.append(ContinuousClock.now - started)
            }
            let best = try #require(timings.min())
            #expect(best < .seconds(1), "cancellation → offer in the patient's notifications: \(timings)")
            let offers = try await Self.offers(fleet, waiting)
            #expect(offers.count == timings.count)
            #expect(offers.allSatisfy { $0["status"] as? String == "open" })
            #expect(try await Self.notices(fleet, elsewhere, kind: "waitlist_offer").isEmpty, "10:00 and later is outside 08:00–09:00")
            #expect(try await Self.offers(fleet, elsewhere).isEmpty)
            #expect(try await Self.notices(fleet, booker, kind: "waitlist_offer").isEmpty, "not offered back to who cancelled")
        }
    }

    @Test func twoWaitlistedPatientsRacingForTheFreedSlotMakeOneBookingAndOneSlotTaken() async throws {
        let smtp = try await TestServices.shared().smtpURL
        let maildir = try await TestMaildir.shared()
        try await TestFleet.with(workers: .init(smtpURL: smtp, waitlist: true)) { fleet in
            let admin = try await fleet.admin()
            let doctor = try await fleet.doctor(by: admin, timeZone: "UTC", hours: ("08:00", "18:00"), slotMinutes: 30)
            let booker = try await fleet.register("Booker")
            let first = try await fleet.register("First")
            let second = try await fleet.register("Second")
            let day = TestFleet.day(3)
            for patient in [first, second] { _ = try await Self.join(fleet, patient, doctor: doctor.id, day: day) }
            let appointment = try await fleet.book(booker, doctor: doctor.id, startsAt: "\(day)T14:00:00Z")
            try await fleet.act("cancel", on: appointment, ["reason": "cannot come"], as: booker)
            var offered: [String] = []
            try await eventually(timeout: .seconds(10), "both are offered the slot") {
                offered = []
                for patient in [first, second] { offered += try await Self.offers(fleet, patient).compactMap { $0["id"] as? String } }
                return offered.count == 2
            }
            // The emailed one-click link opens a page with the slot and a button.
            let email = try #require(try await maildir.waitForMessages(to: second.email, count: 1).first)
            let text = try #require(email.parts.first { $0.contentType.hasPrefix("text/plain") }?.text)
            let link = try #require(text.split(separator: "\n").first { $0.contains("/waitlist/offer?token=") }).trimmingCharacters(in: .whitespaces)
            let path = String(link.drop { $0 != "/" }.dropFirst(2).drop { $0 != "/" })
            let page = try await fleet.api.get(path)
            #expect(page.status == 200 && page.text.contains("Book this slot"), "\(page.status) \(page.text.prefix(200))")

            let sessions = [first, second]
            let accepted = try await withThrowingTaskGroup(of: (Int, APIClient.Answer).self) { group in
                for index in 0..<2 {
                    let offer = try #require(try await Self.offers(fleet, sessions[index]).first?["id"] as? String)
                    group.addTask {
                        (index, try await fleet.api.post("/v1/waitlist/offers/\(offer)/accept", token: sessions[index].accessToken))
                    }
                }
                return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
            }
            var outcomes: [String] = []
            for index in 0..<2 {
                let answer = try #require(accepted[index])
                try #require(answer.status == 202, "\(answer.text)")
                let outcome = try await fleet.outcome(of: answer.json["commandId"] as? String ?? "", token: sessions[index].accessToken)
                outcomes.append((outcome["status"] as? String ?? "") + ":" + (outcome["reason"] as? String ?? ""))
            }
            #expect(outcomes.sorted() == ["declined:slot_taken", "done:"], "\(outcomes)")
            let slots = try await fleet.database.query(
                "SELECT count(*) FROM booking.appointments WHERE doctor_id = $1 AND starts_at = $2::timestamptz AND status IN ('pending', 'confirmed')",
                [doctor.id, "\(day)T14:00:00Z"])
            #expect(try slots[0].decode(Int.self, 0) == 1, "one booking")
            let loser = sessions[outcomes[0].hasPrefix("done") ? 1 : 0]
            try await eventually(timeout: .seconds(10), "the other is told the slot is gone") {
                try await !Self.notices(fleet, loser, kind: "waitlist_gone").isEmpty
            }
            // The link cannot book any more.
            let token = String(link.split(separator: "token=").last ?? "")
            let late = try await fleet.api.send(
                "POST", "/waitlist/offer", body: Data("token=\(token)".utf8), token: nil,
                headers: ["Content-Type": "application/x-www-form-urlencoded"])
            #expect(late.status == 422)
        }
    }

    /// A rejection and a reschedule free slots too (the reschedule its previous time, while its
    /// new time closes offers of that slot); an entry whose last day has passed expires.
    @Test func rejectionsAndReschedulesFreeSlotsAndPastEntriesExpire() async throws {
        try await TestFleet.with(workers: .init(waitlist: true)) { fleet in
            let admin = try await fleet.admin()
            let doctor = try await fleet.doctor(
                by: admin, timeZone: "UTC", hours: ("08:00", "18:00"), slotMinutes: 30, requiresConfirmation: true)
            let booker = try await fleet.register("Booker")
            let waiting = try await fleet.register("Waiting")
            let day = TestFleet.day(5)
            _ = try await Self.join(fleet, waiting, doctor: doctor.id, day: day)
            let expiring = try await Self.join(fleet, waiting, doctor: doctor.id, day: TestFleet.day(-1))
            let rejected = try await fleet.book(booker, doctor: doctor.id, startsAt: "\(day)T10:00:00Z")
            try await fleet.act("reject", on: rejected, ["reason": "fully booked"], as: doctor.session)
            let moved = try await fleet.book(booker, doctor: doctor.id, startsAt: "\(day)T11:00:00Z")
            try await fleet.act("reschedule", on: moved, ["startsAt": "\(day)T16:00:00Z"], as: booker)
            try await eventually(timeout: .seconds(10), "both freed slots offered") { try await Self.offers(fleet, waiting).count == 2 }
            let starts = try await Self.offers(fleet, waiting).compactMap { $0["startsAt"] as? String }.sorted()
            #expect(starts.map { $0.prefix(16) } == ["\(day)T10:00", "\(day)T11:00"], "\(starts)")
            try await eventually(timeout: .seconds(10), "the entry of yesterday expires") {
                let entries = try await fleet.api.get("/v1/waitlist", token: waiting.accessToken).json["items"] as? [[String: Any]] ?? []
                return entries.first { $0["id"] as? String == expiring }?["status"] as? String == "expired"
            }
            // Someone books the freed 10:00 directly: the offer closes and the waiting patient hears it is gone.
            let other = try await fleet.register("Other")
            _ = try await fleet.book(other, doctor: doctor.id, startsAt: "\(day)T10:00:00Z")
            try await eventually(timeout: .seconds(10), "the 10:00 offer closes") { try await Self.offers(fleet, waiting).count == 1 }
            #expect(try await !Self.notices(fleet, waiting, kind: "waitlist_gone").isEmpty)
        }
    }

    /// A clinic offering one by one (15-minute holds), a doctor, two patients waiting for a day
    /// in that order, and a slot of that day freed by a cancellation, offered to the first.
    static func oneByOneSlotFreed(_ fleet: TestFleet, day: String, at time: String) async throws
        -> (first: Session, next: Session, offer: [String: Any], doctor: UUID)
    {
        let admin = try await fleet.admin()
        let settings = try await fleet.api.send(
            "PUT", "/v1/waitlist/settings", body: Data(#"{"mode":"one_by_one","holdMinutes":15}"#.utf8), token: admin.accessToken,
            headers: ["Content-Type": "application/json"])
        try #require(settings.status == 200, "\(settings.text)")
        let doctor = try await fleet.doctor(by: admin, timeZone: "UTC", hours: ("08:00", "18:00"), slotMinutes: 30)
        let booker = try await fleet.register("Booker")
        let first = try await fleet.register("Longest Waiting")
        let next = try await fleet.register("Next")
        for patient in [first, next] { _ = try await Self.join(fleet, patient, doctor: doctor.id, day: day) }
        let appointment = try await fleet.book(booker, doctor: doctor.id, startsAt: "\(day)T\(time):00Z")
        try await fleet.act("cancel", on: appointment, ["reason": "cannot come"], as: booker)
        try await eventually(timeout: .seconds(10), "the longest waiting is offered the slot") {
            try await Self.offers(fleet, first).count == 1
        }
        return (first, next, try #require(try await Self.offers(fleet, first).first), doctor.id)
    }

    @Test func oneByOneOffersTheNextPatientOnlyWhenTheHoldLapses() async throws {
        try await TestFleet.with(workers: .init(waitlist: true)) { fleet in
            let (longest, next, held, _) = try await Self.oneByOneSlotFreed(fleet, day: TestFleet.day(4), at: "09:30")
            let expires = try #require(WireCoding.parseTimestamp(held["expiresAt"] as? String ?? ""))
            #expect(abs(expires.timeIntervalSinceNow - 15 * 60) < 60, "held for 15 minutes")
            try await Task.sleep(for: .seconds(1))
            #expect(try await Self.offers(fleet, next).isEmpty, "nobody else while the hold lasts")
            // Fifteen minutes later (the clock moved on in the database):
            try await fleet.database.query(
                "UPDATE booking.waitlist_offers SET hold_until = now(), expires_at = now() WHERE id = $1::uuid", [held["id"] as? String ?? ""])
            try await eventually(timeout: .seconds(10), "the next patient is offered the slot") {
                try await Self.offers(fleet, next).count == 1
            }
            #expect(try await Self.offers(fleet, longest).isEmpty, "the lapsed offer cannot be booked")
            try await eventually(timeout: .seconds(10), "the first is told it lapsed") {
                try await !Self.notices(fleet, longest, kind: "waitlist_gone").isEmpty
            }
            // A worker killed after the lapse committed and before anyone was told: neither
            // notification exists and the lapse is not marked told. The next tick tells both.
            try await eventually(timeout: .seconds(10), "the lapse is marked told") {
                try await fleet.database.query(
                    "SELECT 1 FROM booking.waitlist_offers WHERE id = $1::uuid AND lapse_told_at IS NOT NULL", [held["id"] as? String ?? ""]
                ).count == 1
            }
            try await fleet.database.transaction { connection in
                try await connection.query(
                    "UPDATE booking.waitlist_offers SET lapse_told_at = NULL WHERE id = $1::uuid", [held["id"] as? String ?? ""])
                try await connection.query(
                    "DELETE FROM notify.notifications WHERE recipient_id = ANY($1::uuid[]) AND kind IN ('waitlist_gone', 'waitlist_offer')",
                    [[longest.userId, next.userId]])
            }
            try await eventually(timeout: .seconds(10), "both are told again after the interrupted telling") {
                let gone = try await Self.notices(fleet, longest, kind: "waitlist_gone").count
                let offered = try await Self.notices(fleet, next, kind: "waitlist_offer").count
                return gone == 1 && offered == 1
            }
        }
    }

    /// An offer's booking declined for another reason than a taken slot (here the doctor's
    /// notice grew after the offer) closes the offer and passes the slot on; before, the offer
    /// stayed `claimed` and, one by one, held the slot from everyone else for good.
    @Test func anOffersDeclinedBookingPassesTheSlotToTheNextPatient() async throws {
        try await TestFleet.with(workers: .init(waitlist: true)) { fleet in
            let (first, next, offered, doctor) = try await Self.oneByOneSlotFreed(fleet, day: TestFleet.day(5), at: "10:30")
            let offer = try #require(offered["id"] as? String)
            // Meanwhile the clinic asks for a week's notice: the slot can no longer be booked by a request.
            try await fleet.database.query("UPDATE directory.doctors SET minimum_notice_minutes = 10080 WHERE id = $1", [doctor])
            let accepted = try await fleet.api.post("/v1/waitlist/offers/\(offer)/accept", token: first.accessToken)
            try #require(accepted.status == 202, "\(accepted.text)")
            let outcome = try await fleet.outcome(of: accepted.json["commandId"] as? String ?? "", token: first.accessToken)
            #expect(outcome["status"] as? String == "declined" && outcome["reason"] as? String == "too_soon", "\(outcome)")
            try await eventually(timeout: .seconds(10), "the next in line is offered the slot") {
                try await Self.offers(fleet, next).count == 1
            }
            let closed = try await fleet.database.query("SELECT status FROM booking.waitlist_offers WHERE id = $1::uuid", [offer])
            #expect(try closed.first?.decode(String.self, 0) == "gone")
            #expect(try await Self.offers(fleet, first).isEmpty, "the declined offer is not shown as bookable")
            let entries = try await fleet.api.get("/v1/waitlist", token: first.accessToken).json["items"] as? [[String: Any]] ?? []
            #expect(entries.first?["status"] as? String == "active", "the first still waits for another slot")
        }
    }
}

/// Joining the waitlist: who may, and what a window may be.
@Suite("Waitlist routes (in process)")
struct WaitlistRouteTests {
    static func world() async throws -> (RouteTests.Harness, doctor: UUID) {
        let harness = RouteTests.Harness()
        try await harness.world.account("patient@wait.test", role: .patient)
        try await harness.world.account("admin@wait.test", role: .admin)
        let doctor = try await harness.world.account("doctor@wait.test", role: .doctor)
        return (harness, doctor.id)
    }

    @Test(
        "a window that is not one is refused naming the field",
        arguments: [
            (#""fromDay":"2026-13-01","toDay":"2026-12-20""#, "fromDay"), (#""fromDay":"2026-12-20","toDay":"2026-12-19""#, "toDay"),
            (#""fromDay":"2020-01-01","toDay":"2020-01-02""#, "toDay"), (#""fromDay":"2027-01-01","toDay":"2028-06-01""#, "toDay"),
            (#""fromDay":"2026-12-20","toDay":"2026-12-21","earliest":"12:00","latest":"11:00""#, "latest"),
            (#""fromDay":"2026-12-20","toDay":"2026-12-21","earliest":"24:00""#, "earliest"),
            (#""fromDay":"2026-12-20","toDay":"2026-12-21","latest":"25:00""#, "latest"),
            (#""fromDay":"0000-01-01","toDay":"2026-12-21""#, "fromDay"),
        ])
    func refusedWindows(fields: String, field: String) async throws {
        let (harness, doctor) = try await Self.world()
        try await harness.run { client in
            let token = try await client.token("patient@wait.test").access
            let answer = try await client.send(.post, "/v1/waitlist", json: #"{"doctorId":"\#(doctor)",\#(fields)}"#, token: token)
            #expect(answer.status == 422 || answer.status == 400, "\(fields): \(answer.text)")
            #expect(answer.field == field, "\(fields): \(answer.text)")
        }
    }

    @Test func onlyPatientsJoinEachSeesOnlyTheirOwnAndAdminsSetTheMode() async throws {
        let (harness, doctor) = try await Self.world()
        try await harness.world.account("other@wait.test", role: .patient)
        try await harness.run { client in
            let patient = try await client.token("patient@wait.test").access
            let other = try await client.token("other@wait.test").access
            let admin = try await client.token("admin@wait.test").access
            let day = TestFleet.day(3)
            let body = #"{"doctorId":"\#(doctor)","fromDay":"\#(day)","toDay":"\#(day)"}"#
            #expect(try await client.send(.post, "/v1/waitlist", json: body, token: admin).status == 403)
            let unknown = #"{"doctorId":"\#(UUID())","fromDay":"\#(day)","toDay":"\#(day)"}"#
            #expect(try await client.send(.post, "/v1/waitlist", json: unknown, token: patient).status == 404)
            let joined = try await client.send(.post, "/v1/waitlist", json: body, token: patient)
            #expect(joined.status == 201, "\(joined.text)")
            #expect(joined.json["earliest"] as? String == "00:00" && joined.json["latest"] as? String == "24:00")
            let id = try #require(joined.json["id"] as? String)
            #expect((try await client.send(.get, "/v1/waitlist", token: other).json["items"] as? [Any])?.isEmpty == true)
            #expect(try await client.send(.delete, "/v1/waitlist/\(id)", token: other).status == 404, "not theirs")
            #expect(try await client.send(.delete, "/v1/waitlist/\(id)", token: patient).status == 204)
            #expect(try await client.send(.delete, "/v1/waitlist/\(id)", token: patient).status == 404, "left already")
            for _ in 0..<10 { #expect(try await client.send(.post, "/v1/waitlist", json: body, token: patient).status == 201) }
            let over = try await client.send(.post, "/v1/waitlist", json: body, token: patient)
            #expect(over.status == 409 && over.code == "too_many_entries")
            #expect(try await client.send(.put, "/v1/waitlist/settings", json: #"{"mode":"one_by_one","holdMinutes":20}"#, token: patient).status == 403)
            let set = try await client.send(.put, "/v1/waitlist/settings", json: #"{"mode":"one_by_one","holdMinutes":20}"#, token: admin)
            #expect(set.status == 200)
            #expect(try await client.send(.get, "/v1/waitlist/settings", token: admin).json["mode"] as? String == "one_by_one")
            let bad = try await client.send(.put, "/v1/waitlist/settings", json: #"{"mode":"one_by_one","holdMinutes":0}"#, token: admin)
            #expect(bad.field == "holdMinutes")
            let accept = try await client.send(.post, "/v1/waitlist/offers/\(UUID())/accept", token: patient)
            #expect(accept.status == 409 && accept.code == "offer_unavailable")
        }
    }
}
