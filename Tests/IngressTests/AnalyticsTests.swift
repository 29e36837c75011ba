import Analytics
import Contracts
import Foundation
import Kafka
import Postgres
import TestSupport
import Testing

@Suite("Analytics", .timeLimit(.minutes(4)))
struct AnalyticsTests {
    /// Figures of one doctor-day as the test counts them from the events, independently of SQL.
    struct Expected: Equatable, CustomStringConvertible {
        var requested = 0, booked = 0, confirmed = 0, rejected = 0, completed = 0, noShows = 0
        var cancelledByPatient = 0, cancelledByDoctor = 0, cancelledByClinic = 0, bookedMinutes = 0
        var declined: [String: Int] = [:]
        var leadTimes: [Double] = []
        var description: String {
            "req \(requested) book \(booked) conf \(confirmed) rej \(rejected) canc \(cancelledByPatient)/\(cancelledByDoctor)/\(cancelledByClinic) "
                + "comp \(completed) ns \(noShows) min \(bookedMinutes) decl \(declined) lead \(leadTimes.count)"
        }
    }

    static func localDay(_ date: Date, _ zone: String) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: zone) ?? calendar.timeZone
        let c = calendar.dateComponents([.year, .month, .day], from: date)
        return String(format: "%04d-%02d-%02d", c.year ?? 0, c.month ?? 0, c.day ?? 0)
    }

    /// Folds the events topic the plain way: what the rollups must equal.
    static func expected(_ events: [DecodedMessage], zone: String, appointmentStarts: [UUID: Date]) -> [String: Expected] {
        var result: [String: Expected] = [:]
        func minutes(_ a: Date, _ b: Date) -> Int { Int((b.timeIntervalSince(a) / 60).rounded()) }
        for event in events {
            switch event.payload {
            case let e as AppointmentBooked:
                let day = localDay(e.appointment.startsAt, zone)
                result[day, default: .init()].requested += 1
                result[day, default: .init()].booked += 1
                result[day, default: .init()].bookedMinutes += minutes(e.appointment.startsAt, e.appointment.endsAt)
                result[day, default: .init()].leadTimes.append(e.appointment.startsAt.timeIntervalSince(e.appointment.requestedAt) / 60)
            case let e as AppointmentDeclined:
                guard let at = e.startsAt ?? appointmentStarts[e.appointmentId] else { continue }
                let day = localDay(at, zone)
                if e.commandType == "appointment.request" { result[day, default: .init()].requested += 1 }
                result[day, default: .init()].declined[e.reason.rawValue, default: 0] += 1
            case let e as AppointmentConfirmed:
                result[localDay(e.appointment.startsAt, zone), default: .init()].confirmed += 1
            case let e as AppointmentRejected:
                let day = localDay(e.appointment.startsAt, zone)
                result[day, default: .init()].rejected += 1
                result[day, default: .init()].bookedMinutes -= minutes(e.appointment.startsAt, e.appointment.endsAt)
            case let e as AppointmentCancelled:
                let day = localDay(e.appointment.startsAt, zone)
                switch e.cancelledBy.role {
                case .patient: result[day, default: .init()].cancelledByPatient += 1
                case .doctor: result[day, default: .init()].cancelledByDoctor += 1
                default: result[day, default: .init()].cancelledByClinic += 1
                }
                result[day, default: .init()].bookedMinutes -= minutes(e.appointment.startsAt, e.appointment.endsAt)
            case let e as AppointmentRescheduled:
                result[localDay(e.previousStartsAt, zone), default: .init()].bookedMinutes -= minutes(e.previousStartsAt, e.previousEndsAt)
                result[localDay(e.appointment.startsAt, zone), default: .init()].bookedMinutes += minutes(e.appointment.startsAt, e.appointment.endsAt)
            case let e as AppointmentCompleted:
                result[localDay(e.appointment.startsAt, zone), default: .init()].completed += 1
            case let e as AppointmentNoShow:
                result[localDay(e.appointment.startsAt, zone), default: .init()].noShows += 1
            default:
                continue
            }
        }
        return result
    }

    static func actual(_ day: [String: Any]) -> Expected {
        let f = day["figures"] as? [String: Any] ?? [:]
        let cancelled = f["cancelled"] as? [String: Any] ?? [:]
        var e = Expected()
        e.requested = f["requested"] as? Int ?? -1
        e.booked = f["booked"] as? Int ?? -1
        e.confirmed = f["confirmed"] as? Int ?? -1
        e.rejected = f["rejected"] as? Int ?? -1
        e.completed = f["completed"] as? Int ?? -1
        e.noShows = f["noShows"] as? Int ?? -1
        e.cancelledByPatient = cancelled["patient"] as? Int ?? -1
        e.cancelledByDoctor = cancelled["doctor"] as? Int ?? -1
        e.cancelledByClinic = cancelled["clinic"] as? Int ?? -1
        e.bookedMinutes = f["bookedMinutes"] as? Int ?? -1
        e.declined = (f["declined"] as? [String: Int]) ?? [:]
        return e
    }

    static func events(_ fleet: TestFleet) async throws -> [KafkaMessage] {
        let config = try await TestKafka.config()
        return try await TopicReader(config: config).readAll(fleet.eventsTopic, admin: try KafkaAdmin(config: config))
    }

    static func counted(_ fleet: TestFleet) async throws -> Int {
        try await fleet.database.query("SELECT count(*) FROM analytics.counted_events")[0].decode(Int.self, 0)
    }

    @Test func rollupsEqualTheEventsCountedByHandAndSurviveRedeliveryAndRebuild() async throws {
        try await TestFleet.with(workers: .init(analytics: true)) { fleet in
            let zone = "Europe/Berlin"
            let admin = try await fleet.admin()
            let doctor = try await fleet.doctor(
                by: admin, timeZone: zone, hours: ("00:00", "24:00"), slotMinutes: 30, requiresConfirmation: true,
                extra: ["minimumNoticeMinutes": 60, "horizonDays": 30])
            var patients: [Session] = []
            for index in 0..<4 { patients.append(try await fleet.register("Analysed \(index)")) }
            let (p1, p2, p3, p4) = (patients[0], patients[1], patients[2], patients[3])
            // A day off on day 6: requests there are outside hours.
            let dayOff = TestFleet.day(6)
            let off = try await fleet.api.send(
                "PUT", "/v1/doctors/\(doctor.id)/overrides/\(dayOff)", body: Data(#"{"hours":[]}"#.utf8), token: admin.accessToken, headers: [:])
            #expect(off.status == 200, "\(off.text)")
            let day2 = try await fleet.freeSlots(doctor.id, token: p1.accessToken, daysAhead: 2).map(\.startsAt)
            let day3 = try await fleet.freeSlots(doctor.id, token: p1.accessToken, daysAhead: 3).map(\.startsAt)
            let day4 = try await fleet.freeSlots(doctor.id, token: p1.accessToken, daysAhead: 4).map(\.startsAt)
            func request(_ patient: Session, _ start: String) async throws -> (String, [String: Any]) {
                let answer = try await fleet.api.post("/v1/appointments", ["doctorId": doctor.id.uuidString, "startsAt": start], token: patient.accessToken)
                #expect(answer.status == 202, "\(answer.text)")
                return (answer.json["appointmentId"] as? String ?? "", try await fleet.outcome(of: answer.json["commandId"] as? String ?? "", token: patient.accessToken))
            }
            func iso(_ seconds: TimeInterval) -> String { WireCoding.formatTimestamp(Date().addingTimeInterval(seconds)) }

            let (first, _) = try await request(p1, day2[10])
            #expect(try await request(p2, day2[10]).1["reason"] as? String == "slot_taken")
            #expect(try await request(p2, "\(dayOff)T10:00:00Z").1["reason"] as? String == "outside_hours")
            #expect(try await request(p3, iso(40 * 86400)).1["reason"] as? String == "beyond_horizon")
            #expect(try await request(p3, iso(20 * 60)).1["reason"] as? String == "too_soon")
            #expect(try await request(p4, iso(-3600)).1["reason"] as? String == "in_the_past")
            _ = try await fleet.act("confirm", on: first, as: doctor.session)
            #expect(try await fleet.act("confirm", on: first, as: doctor.session)["reason"] as? String == "invalid_transition")
            let (rejected, _) = try await request(p3, day2[12])
            _ = try await fleet.act("reject", on: rejected, ["reason": "full"], as: doctor.session)
            let (byPatient, _) = try await request(p4, day3[4])
            _ = try await fleet.act("cancel", on: byPatient, ["reason": "x"], as: p4)
            let (byDoctor, _) = try await request(p2, day3[6])
            _ = try await fleet.act("confirm", on: byDoctor, as: doctor.session)
            _ = try await fleet.act("cancel", on: byDoctor, ["reason": "ill"], as: doctor.session)
            let (byClinic, _) = try await request(p2, day3[7])
            _ = try await fleet.act("cancel", on: byClinic, ["reason": "closed"], as: admin)
            let (done, _) = try await request(p1, day3[8])
            _ = try await fleet.act("confirm", on: done, as: doctor.session)
            _ = try await fleet.act("complete", on: done, ["notes": "fine"], as: doctor.session)
            let (missed, _) = try await request(p2, day4[3])
            _ = try await fleet.act("confirm", on: missed, as: doctor.session)
            _ = try await fleet.act("no-show", on: missed, as: doctor.session)
            let (moved, _) = try await request(p3, day2[20])
            _ = try await fleet.act("confirm", on: moved, as: doctor.session)
            #expect(try await fleet.act("reschedule", on: moved, ["startsAt": day4[9]], as: p3)["status"] as? String == "done")
            // An unknown patient can only come from a command published directly.
            let producer = try KafkaProducer(config: try await TestKafka.config())
            let ghost = Envelope(
                correlationId: "ghost", tenantId: Tenants.defaultTenant, actor: .system,
                payload: RequestAppointment(
                    appointmentId: UUID(), doctorId: doctor.id, patientId: UUID(), startsAt: try #require(WireCoding.parseTimestamp(day2[30])),
                    endsAt: try #require(WireCoding.parseTimestamp(day2[31])), reason: nil))
            try await producer.send(ProducerRecord(topic: fleet.commandsTopic, key: doctor.id.uuidString.lowercased(), value: try ghost.encoded()))
            await producer.close()
            try await eventually(timeout: .seconds(30), "the direct command is decided") {
                try await !fleet.database.query("SELECT 1 FROM booking.processed_commands WHERE command_id = $1", [ghost.id]).isEmpty
            }

            // Everything on the events topic is counted.
            var messages: [KafkaMessage] = []
            try await eventually(timeout: .seconds(30), "the analytics worker counted every event") {
                messages = try await Self.events(fleet)
                return try await Self.counted(fleet) == messages.count && messages.count >= 25
            }
            let decoded = try messages.map { try Catalogs.appointmentEvents.decode(try #require($0.value)) }
            #expect(decoded.contains { ($0.payload as? AppointmentDeclined)?.reason == .unknownPatient })
            let starts = try await fleet.database.query("SELECT id, starts_at FROM booking.appointments")
            var appointmentStarts: [UUID: Date] = [:]
            for row in starts { appointmentStarts[try row.decode(UUID.self, 0)] = try row.decode(Date.self, 1) }
            let expected = Self.expected(decoded, zone: zone, appointmentStarts: appointmentStarts)

            let range = "from=\(TestFleet.day(-1))&to=\(TestFleet.day(45))"
            let report = try await fleet.api.get("/v1/analytics/doctors/\(doctor.id)?\(range)", token: admin.accessToken)
            #expect(report.status == 200, "\(report.text)")
            let days = try #require(report.json["days"] as? [[String: Any]])
            #expect(days.count == 47)
            for day in days {
                let name = try #require(day["day"] as? String)
                var want = expected[name] ?? Expected()
                let got = Self.actual(day)
                let leadTimes = want.leadTimes
                want.leadTimes = []
                #expect(got == want, "\(name): expected \(want), got \(got)")
                let figures = day["figures"] as? [String: Any] ?? [:]
                let lead = figures["leadTime"] as? [String: Any] ?? [:]
                #expect(lead["count"] as? Int == leadTimes.count, "\(name) lead-time count")
                if !leadTimes.isEmpty {
                    let mean = leadTimes.reduce(0, +) / Double(leadTimes.count)
                    #expect(abs((lead["mean"] as? Double ?? -1) - mean) < 0.01, "\(name) lead-time mean")
                }
                let available = figures["availableMinutes"] as? Int
                #expect(available == (name == dayOff ? 0 : 1440), "\(name) available minutes")
            }
            #expect(expected.values.contains { $0.declined.count >= 1 } && expected.count >= 4, "the sequence touched several days")

            // Delivered again, the same events change no figure.
            let before = report.text
            let again = try KafkaProducer(config: try await TestKafka.config())
            for message in messages {
                try await again.send(ProducerRecord(topic: fleet.eventsTopic, key: message.key, value: message.value))
            }
            // And one message that is not an event: dead-lettered live, and skipped (and counted) by a rebuild.
            try await again.send(ProducerRecord(topic: fleet.eventsTopic, key: Data("junk".utf8), value: Data("not an event".utf8)))
            await again.close()
            try await eventually(timeout: .seconds(30), "the copies were read") {
                let lag = try await KafkaAdmin(config: try await TestKafka.config()).lag(
                    group: fleet.namespace.groupName(ConsumerGroups.analytics.name), topics: [fleet.eventsTopic])
                return lag.allSatisfy { $0.lag == 0 }
            }
            // Bound first, so that a failure prints both texts (a `try await` inside #expect hides them).
            let afterRedelivery = try await fleet.api.get("/v1/analytics/doctors/\(doctor.id)?\(range)", token: admin.accessToken).text
            #expect(afterRedelivery == before)

            // A rebuild from the topic gives exactly the live figures (even from damaged tables).
            try await fleet.database.query("UPDATE analytics.daily_rollups SET booked = booked + 100")
            let rebuild = try await FleetBinary.run(
                ["analytics", "rebuild", "--tenant", Tenants.defaultTenant.uuidString],
                environment: ["CAREFLEET_FLEET_NAMESPACE": fleet.namespace.prefix, "CAREFLEET_DATABASE_URL": fleet.databaseURL])
            #expect(rebuild.status == 0, "\(rebuild.output)")
            #expect(rebuild.output.contains("skipped 1 events that do not decode"), "\(rebuild.output)")
            let afterRebuild = try await fleet.api.get("/v1/analytics/doctors/\(doctor.id)?\(range)", token: admin.accessToken).text
            #expect(afterRebuild == before)

            // CSV: parses, and says what the JSON says.
            let csv = try await fleet.api.get("/v1/analytics/doctors/\(doctor.id)?\(range)&format=csv", token: admin.accessToken)
            #expect(csv.headers["content-type"]?.hasPrefix("text/csv") == true)
            let lines = csv.text.components(separatedBy: "\r\n").filter { !$0.isEmpty }
            let header = lines[0].components(separatedBy: ",")
            #expect(lines.count == days.count + 2, "header, one line per day, totals")
            for (line, day) in zip(lines.dropFirst(), days) {
                let fields = line.components(separatedBy: ",")
                #expect(fields.count == header.count)
                let row = Dictionary(uniqueKeysWithValues: zip(header, fields))
                let figures = day["figures"] as? [String: Any] ?? [:]
                #expect(row["day"] == day["day"] as? String)
                #expect(row["booked"] == String(figures["booked"] as? Int ?? -1))
                #expect(row["booked_minutes"] == String(figures["bookedMinutes"] as? Int ?? -1))
                #expect(row["declined_slot_taken"] == String((figures["declined"] as? [String: Int])?["slot_taken"] ?? 0))
                #expect(row["cancelled_by_doctor"] == String((figures["cancelled"] as? [String: Int])?["doctor"] ?? -1))
                #expect(row["available_minutes"] == String(figures["availableMinutes"] as? Int ?? -1))
            }

            // fleet analytics show prints the same totals.
            let show = try await FleetBinary.run(
                ["analytics", "show", "--tenant", Tenants.defaultTenant.uuidString, "--from", TestFleet.day(-1), "--to", TestFleet.day(45), "--csv"],
                environment: ["CAREFLEET_DATABASE_URL": fleet.databaseURL])
            #expect(show.status == 0, "\(show.output)")
            let totals = try #require(lines.last)
            #expect(show.output.contains(String(totals.drop { $0 != "," }.dropFirst().drop { $0 != "," })), "the same totals row")
        }
    }

    /// The next date (after tomorrow) on which Europe/Berlin switches to (`spring`) or from
    /// daylight saving time. Berlin switches at 01:00 UTC, so the UTC date is the local date.
    static func nextSwitch(spring: Bool) -> String {
        let zone = TimeZone(identifier: "Europe/Berlin")!  // a fixed IANA name, always present
        for offset in 2..<400 {
            let date = TestFleet.day(offset)
            guard let early = WireCoding.parseTimestamp(date + "T00:30:00Z"), let late = WireCoding.parseTimestamp(date + "T23:30:00Z")
            else { continue }
            let before = zone.isDaylightSavingTime(for: early)
            let after = zone.isDaylightSavingTime(for: late)
            if before != after, after == spring { return date }
        }
        return "never"
    }

    @Test func utilisationFollowsLocalHoursOnTheDaysTheClocksChange() async throws {
        try await TestFleet.with(workers: .init(analytics: true)) { fleet in
            let admin = try await fleet.admin()
            let doctor = try await fleet.doctor(by: admin, timeZone: "Europe/Berlin", hours: ("00:00", "06:00"), slotMinutes: 30, extra: ["horizonDays": 400])
            let patient = try await fleet.register("Night owl")
            let spring = Self.nextSwitch(spring: true)
            let autumn = Self.nextSwitch(spring: false)
            // Spring forward: 02:00 becomes 03:00, so 00:00–06:00 lasts 300 minutes.
            let springSlots = try await fleet.freeSlots(doctor.id, token: patient.accessToken,
                daysAhead: Self.daysFromToday(spring), days: 1)
            #expect(springSlots.count == 10, "00:00–06:00 less the lost hour: 10 half hours")
            _ = try await fleet.book(patient, doctor: doctor.id, startsAt: springSlots[0].startsAt)
            _ = try await fleet.book(patient, doctor: doctor.id, startsAt: springSlots[5].startsAt)
            _ = try await fleet.book(patient, doctor: doctor.id, startsAt: springSlots[6].startsAt)
            // Fall back: 03:00 becomes 02:00 again, so the same hours last 420 minutes.
            let autumnSlots = try await fleet.freeSlots(doctor.id, token: patient.accessToken,
                daysAhead: Self.daysFromToday(autumn), days: 1)
            _ = try await fleet.book(patient, doctor: doctor.id, startsAt: autumnSlots[0].startsAt)
            try await eventually("counted") { try await Self.counted(fleet) == 4 }
            for (day, available, booked) in [(spring, 300, 90), (autumn, 420, 30)] {
                let report = try await fleet.api.get("/v1/analytics/doctors/\(doctor.id)?from=\(day)&to=\(day)", token: admin.accessToken)
                let figures = try #require((report.json["days"] as? [[String: Any]])?.first?["figures"] as? [String: Any])
                #expect(figures["availableMinutes"] as? Int == available, "\(day)")
                #expect(figures["bookedMinutes"] as? Int == booked, "\(day)")
                let utilisation = try #require(figures["utilisation"] as? Double)
                #expect(abs(utilisation - Double(booked) / Double(available)) < 0.0001, "\(day)")
            }
        }
    }

    static func daysFromToday(_ day: String) -> Int {
        let today = WireCoding.parseTimestamp(TestFleet.day(0) + "T12:00:00Z") ?? Date()
        let target = WireCoding.parseTimestamp(day + "T12:00:00Z") ?? Date()
        return Int((target.timeIntervalSince(today) / 86400).rounded())
    }

    @Test func analyticsAreForTheDoctorThemselfAndTheirClinicsAdminsOnly() async throws {
        try await TestFleet.with(workers: .init(booking: false)) { fleet in
            let admin = try await fleet.admin()
            let doctorA = try await fleet.doctor(by: admin)
            let doctorB = try await fleet.doctor(by: admin)
            let patient = try await fleet.register()
            let range = "from=\(TestFleet.day(0))&to=\(TestFleet.day(6))"
            #expect(try await fleet.api.get("/v1/analytics/doctors/\(doctorA.id)?\(range)", token: doctorA.session.accessToken).status == 200)
            #expect(try await fleet.api.get("/v1/analytics/doctors/\(doctorA.id)?\(range)", token: doctorB.session.accessToken).status == 403)
            #expect(try await fleet.api.get("/v1/analytics/doctors/\(doctorA.id)?\(range)", token: patient.accessToken).status == 403)
            #expect(try await fleet.api.get("/v1/analytics/summary?\(range)", token: patient.accessToken).status == 403)
            #expect(try await fleet.api.get("/v1/analytics/summary?\(range)", token: doctorA.session.accessToken).status == 403)
            let summary = try await fleet.api.get("/v1/analytics/summary?\(range)", token: admin.accessToken)
            #expect((summary.json["doctors"] as? [Any])?.count == 2)

            let otherClinic = try await fleet.admin(tenant: UUID())
            #expect(try await fleet.api.get("/v1/analytics/doctors/\(doctorA.id)?\(range)", token: otherClinic.accessToken).status == 404)
            let theirs = try await fleet.api.get("/v1/analytics/summary?\(range)", token: otherClinic.accessToken)
            #expect((theirs.json["doctors"] as? [Any])?.isEmpty == true)
            #expect(try await fleet.api.get("/v1/analytics/summary?\(range)&format=xml", token: admin.accessToken).errorField == "format")
        }
    }
}
