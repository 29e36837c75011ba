import Contracts
import Foundation
import Kafka
import Postgres
import TestSupport
import Testing

@Suite("Notifications and email", .timeLimit(.minutes(4)))
struct NotificationTests {
    static func invite(_ mail: ParsedMail) -> (method: String, uid: String, sequence: Int)? {
        guard let part = mail.parts.first(where: { $0.contentType.hasPrefix("text/calendar") }) else { return nil }
        let lines = part.text.components(separatedBy: "\r\n")
        func value(_ name: String) -> String? { lines.first { $0.hasPrefix(name + ":") }.map { String($0.dropFirst(name.count + 1)) } }
        guard let method = value("METHOD"), let uid = value("UID"), let sequence = value("SEQUENCE").flatMap(Int.init) else { return nil }
        return (method, uid, sequence)
    }

    static func notifications(_ fleet: TestFleet, _ session: Session) async throws -> [[String: Any]] {
        try await fleet.api.get("/v1/notifications", token: session.accessToken).json["items"] as? [[String: Any]] ?? []
    }

    @Test func aBookingTellsBothInTheAppAndByEmailWithACalendarInvite() async throws {
        let smtp = try await TestServices.shared().smtpURL
        try await TestFleet.with(workers: .init(notifications: true, smtpURL: smtp)) { fleet in
            let maildir = try await TestMaildir.shared()
            let admin = try await fleet.admin()
            let patient = try await fleet.register("Nora Notified")
            let doctor = try await fleet.doctor(by: admin)
            let slot = try await fleet.firstFreeSlot(doctor.id, token: patient.accessToken)
            let appointment = try await fleet.book(patient, doctor: doctor.id, startsAt: slot.startsAt)

            try await eventually("both are notified in the app") {
                let patientNotes = try await Self.notifications(fleet, patient)
                let doctorNotes = try await Self.notifications(fleet, doctor.session)
                return !patientNotes.isEmpty && !doctorNotes.isEmpty
            }
            #expect(try await Self.notifications(fleet, patient).first?["kind"] as? String == "booked")
            #expect(try await Self.notifications(fleet, doctor.session).first?["appointmentId"] as? String == appointment)

            let patientMail = try #require(try await maildir.waitForMessages(to: patient.email, count: 1).first)
            let doctorMail = try #require(try await maildir.waitForMessages(to: doctor.session.email, count: 1).first)
            let booked = try #require(Self.invite(patientMail))
            #expect(booked.method == "REQUEST")
            #expect(booked.uid == "appointment-\(appointment.lowercased())@carefleet")
            #expect(Self.invite(doctorMail)?.uid == booked.uid)
            #expect(patientMail.header("Subject")?.contains("booked") == true)
            #expect(patientMail.parts.contains { $0.contentType.hasPrefix("text/html") })

            _ = try await fleet.act("cancel", on: appointment, ["reason": "feeling better"], as: patient)
            let afterCancel = try await maildir.waitForMessages(to: patient.email, count: 2)
            #expect(afterCancel.count == 2)
            let cancel = try #require(afterCancel.compactMap(Self.invite).first { $0.method == "CANCEL" })
            #expect(cancel.uid == booked.uid, "the same calendar event")
            #expect(cancel.sequence > booked.sequence)
            #expect(afterCancel.allSatisfy { !($0.header("Subject") ?? "").contains("feeling better") }, "no reason in subjects")
            let doctorNotes = try await Self.notifications(fleet, doctor.session)
            #expect(doctorNotes.contains { ($0["body"] as? String ?? "").contains("cancelled by the patient") })
        }
    }

    @Test func anEventDeliveredThreeTimesNotifiesAndEmailsEachRecipientOnce() async throws {
        let smtp = try await TestServices.shared().smtpURL
        try await TestFleet.with(workers: .init(booking: false, notifications: true, smtpURL: smtp)) { fleet in
            let admin = try await fleet.admin()
            let patient = try await fleet.register("Thrice")
            let doctor = try await fleet.doctor(by: admin)
            let start = Date().addingTimeInterval(5 * 86400)
            let event = Envelope(
                correlationId: "thrice", tenantId: Tenants.defaultTenant, actor: Principal(role: .patient, userId: patient.userId),
                payload: AppointmentBooked(
                    commandId: UUID(),
                    appointment: AppointmentSnapshot(
                        appointmentId: UUID(), doctorId: doctor.id, patientId: patient.userId, startsAt: start,
                        endsAt: start.addingTimeInterval(1800), status: .confirmed, sequence: 0, requestedAt: Date()),
                    reason: nil))
            let producer = try KafkaProducer(config: try await TestKafka.config())
            for _ in 0..<3 {
                try await producer.send(
                    ProducerRecord(topic: fleet.eventsTopic, key: doctor.id.uuidString.lowercased(), value: try event.encoded()))
            }
            await producer.close()
            let maildir = try await TestMaildir.shared()
            _ = try await maildir.waitForMessages(to: patient.email, count: 1)
            _ = try await maildir.waitForMessages(to: doctor.session.email, count: 1)
            try await fleet.caughtUp([ConsumerGroups.notification, ConsumerGroups.email])  // every copy handled
            #expect(try maildir.messages(to: patient.email).count == 1)
            #expect(try maildir.messages(to: doctor.session.email).count == 1)
            #expect(try await Self.notifications(fleet, patient).count == 1)
            #expect(try await Self.notifications(fleet, doctor.session).count == 1)
        }
    }

    @Test func everyEmailArrivesOnceAfterTheMailServerWasDownForTwentySeconds() async throws {
        let sink = try await ServicesProcess.start(only: ["smtp"])
        defer { Task { try? await sink.stop() } }
        let smtp = try #require(sink.env["CAREFLEET_SMTP_URL"])
        let maildir = TestMaildir(path: try #require(sink.env["CAREFLEET_MAILDIR"]))
        try await TestFleet.with(workers: .init(notifications: true, smtpURL: smtp)) { fleet in
            let admin = try await fleet.admin()
            var doctors: [(id: UUID, session: Session)] = []
            for _ in 0..<2 { doctors.append(try await fleet.doctor(by: admin, slotMinutes: 15)) }
            var patients: [Session] = []
            for index in 0..<10 { patients.append(try await fleet.register("Outage \(index)")) }
            var slots: [UUID: [String]] = [:]
            for doctor in doctors { slots[doctor.id] = try await fleet.freeSlots(doctor.id, token: admin.accessToken, days: 2).map(\.startsAt) }

            try await sink.control("stop-smtp")
            let outageStarted = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<100 {
                    let doctor = doctors[index % 2]
                    let start = try #require(slots[doctor.id]?[index / 2])
                    let patient = patients[index % patients.count]
                    group.addTask { _ = try await fleet.book(patient, doctor: doctor.id, startsAt: start) }
                }
                try await group.waitForAll()
            }
            let remaining = Duration.seconds(20) - (ContinuousClock.now - outageStarted)
            if remaining > .zero { try await Task.sleep(for: remaining) }
            #expect(try maildir.messages(to: "@").isEmpty, "nothing was delivered while the server was down")
            try await sink.control("start-smtp")

            // 100 bookings: one email to the patient and one to the doctor each.
            let everyone = patients.map(\.email) + doctors.map(\.session.email)
            try await eventually(timeout: .seconds(120), "all 200 emails arrived") {
                try everyone.map { try maildir.messages(to: $0).count }.reduce(0, +) >= 200
            }
            try await fleet.caughtUp([ConsumerGroups.notification, ConsumerGroups.email])
            let keys = try everyone.flatMap { try maildir.messages(to: $0) }.compactMap { $0.header("X-CareFleet-Key") }
            #expect(keys.count == 200)
            #expect(Set(keys).count == 200, "none twice")
        }
    }

    @Test func aRefusedRecipientIsDeadLetteredAndAReplayDeliversItOnce() async throws {
        let smtp = try await TestServices.shared().smtpURL
        try await TestFleet.with(workers: .init(notifications: true, smtpURL: smtp)) { fleet in
            let maildir = try await TestMaildir.shared()
            let admin = try await fleet.admin()
            let patient = try await fleet.register("Refused")
            let doctor = try await fleet.doctor(by: admin)
            try maildir.refuse(patient.email, code: 550)
            let slot = try await fleet.firstFreeSlot(doctor.id, token: patient.accessToken)
            _ = try await fleet.book(patient, doctor: doctor.id, startsAt: slot.startsAt)

            _ = try await maildir.waitForMessages(to: doctor.session.email, count: 1)
            let dlq = fleet.namespace.group(ConsumerGroups.email).deadLetterTopic(of: fleet.namespace.topicName(Topics.notificationEmail.name))
            var letters: [KafkaMessage] = []
            try await eventually(timeout: .seconds(30), "the refused email is dead-lettered") {
                let config = try await TestKafka.config()
                letters = try await TopicReader(config: config).readAll(dlq, admin: try KafkaAdmin(config: config))
                return letters.count == 1
            }
            #expect(letters.first?.header(HeaderName.errorClass) == "smtp_rejected")
            #expect(letters.first?.header(HeaderName.errorMessage)?.contains("550") == true, "the server's reply is kept")
            #expect(try maildir.messages(to: patient.email).isEmpty)
            #expect(try maildir.messages(to: doctor.session.email).count == 1, "the other recipient got theirs")

            try maildir.accept(patient.email)
            let environment = ["CAREFLEET_FLEET_NAMESPACE": fleet.namespace.prefix, "CAREFLEET_DATABASE_URL": fleet.databaseURL]
            let replay = try await FleetBinary.run(["dlq", "replay", dlq], environment: environment)
            #expect(replay.status == 0, "\(replay.output)")
            #expect(replay.output.contains("replayed 1"))
            _ = try await maildir.waitForMessages(to: patient.email, count: 1)
            let again = try await FleetBinary.run(["dlq", "replay", dlq], environment: environment)
            #expect(again.output.contains("replayed 0"))
            try await fleet.caughtUp([ConsumerGroups.email])
            #expect(try maildir.messages(to: patient.email).count == 1, "delivered exactly once")
        }
    }

    @Test func usersSeeOnlyTheirOwnNotificationsAndCanManageThem() async throws {
        try await TestFleet.with(workers: .init(notifications: true)) { fleet in
            let admin = try await fleet.admin()
            let patient = try await fleet.register("Owner")
            let other = try await fleet.register("Other")
            let doctor = try await fleet.doctor(by: admin)
            let slots = try await fleet.freeSlots(doctor.id, token: patient.accessToken)
            let first = try await fleet.book(patient, doctor: doctor.id, startsAt: slots[0].startsAt)
            _ = try await fleet.book(patient, doctor: doctor.id, startsAt: slots[2].startsAt)
            _ = try await fleet.act("cancel", on: first, ["reason": "no"], as: patient)
            try await eventually("three notifications") { try await Self.notifications(fleet, patient).count == 3 }
            #expect(try await fleet.api.get("/v1/notifications/unread-count", token: patient.accessToken).json["unread"] as? Int == 3)
            #expect(try await Self.notifications(fleet, other).isEmpty)

            let mine = try await Self.notifications(fleet, patient)
            let id = try #require(mine.first?["id"] as? String)
            #expect(try await fleet.api.post("/v1/notifications/\(id)/read", token: other.accessToken).status == 404)
            #expect(try await fleet.api.send("DELETE", "/v1/notifications/\(id)", body: nil, token: other.accessToken, headers: [:]).status == 404)
            #expect(try await fleet.api.get("/v1/notifications/unread-count", token: patient.accessToken).json["unread"] as? Int == 3)

            #expect(try await fleet.api.post("/v1/notifications/\(id)/read", token: patient.accessToken).status == 204)
            #expect(try await fleet.api.get("/v1/notifications/unread-count", token: patient.accessToken).json["unread"] as? Int == 2)
            let unread = try await fleet.api.get("/v1/notifications?unread=true", token: patient.accessToken)
            #expect((unread.json["items"] as? [Any])?.count == 2)
            #expect(try await fleet.api.post("/v1/notifications/read-all", token: patient.accessToken).json["marked"] as? Int == 2)
            #expect(try await fleet.api.get("/v1/notifications/unread-count", token: patient.accessToken).json["unread"] as? Int == 0)
            #expect(try await fleet.api.send("DELETE", "/v1/notifications/\(id)", body: nil, token: patient.accessToken, headers: [:]).status == 204)
            #expect(try await Self.notifications(fleet, patient).count == 2)

            let off = try await fleet.api.send(
                "PUT", "/v1/notifications/preferences", body: Data(#"{"email":false}"#.utf8), token: patient.accessToken, headers: [:])
            #expect(off.json["email"] as? Bool == false)
            #expect(try await fleet.api.get("/v1/notifications/preferences", token: patient.accessToken).json["email"] as? Bool == false)
        }
    }

    @Test func remindersFireOnceForConfirmedAppointmentsAndFollowReschedules() async throws {
        let smtp = try await TestServices.shared().smtpURL
        let offset: TimeInterval = 3600
        try await TestFleet.with(workers: .init(notifications: true, reminderOffsets: [.seconds(Int64(offset))], smtpURL: smtp)) { fleet in
            let maildir = try await TestMaildir.shared()
            let admin = try await fleet.admin()
            // The doctors' zone puts the appointments near local noon. Hours of 00:00–24:00 are one
            // day's: an appointment across local midnight is outside them, and in UTC this test
            // failed when run between 22:55 and 23:00 (declined: outside_hours).
            var utc = Calendar(identifier: .gregorian)
            utc.timeZone = try #require(TimeZone(identifier: "UTC"))
            let shift = 12 - utc.component(.hour, from: Date().addingTimeInterval(offset))
            let zoneName = shift == 0 ? "UTC" : shift > 0 ? "Etc/GMT-\(shift)" : "Etc/GMT+\(-shift)"
            var local = Calendar(identifier: .gregorian)
            local.timeZone = try #require(TimeZone(identifier: zoneName))
            // One doctor per appointment, so that the times can be close without overlapping.
            func doctor() async throws -> (id: UUID, session: Session) {
                try await fleet.doctor(by: admin, timeZone: zoneName, hours: ("00:00", "24:00"), slotMinutes: 5)
            }
            let (keptDoctor, cancelledDoctor, movedDoctor) = (try await doctor(), try await doctor(), try await doctor())
            let kept = try await fleet.register("Kept")
            let cancelled = try await fleet.register("Cancelled")
            let moved = try await fleet.register("Moved")
            let base = Date().addingTimeInterval(offset)
            func at(_ seconds: TimeInterval) -> (String, String) {
                let start = base.addingTimeInterval(seconds)
                return (WireCoding.formatTimestamp(start), WireCoding.formatTimestamp(start.addingTimeInterval(300)))
            }
            // Times seconds from now are off any slot grid: only an admin may book them.
            func book(_ patient: Session, doctor: UUID, _ time: (String, String)) async throws -> String {
                let answer = try await fleet.api.post(
                    "/v1/appointments",
                    [
                        "doctorId": doctor.uuidString, "startsAt": time.0, "endsAt": time.1, "patientId": patient.userId.uuidString,
                        "allowOffGrid": true,
                    ], token: admin.accessToken)
                // Thrown rather than `try #require`: in this nested function the compiler's module
                // pass warned that the macro's `try` covered nothing that throws.
                guard answer.status == 202, let command = answer.json["commandId"] as? String,
                    let appointment = answer.json["appointmentId"] as? String
                else { throw BookingRefused(description: answer.text) }
                let outcome = try await fleet.outcome(of: command, token: admin.accessToken)
                guard outcome["status"] as? String == "done" else { throw BookingRefused(description: "\(outcome)") }
                return appointment
            }
            // Reminder due in 8 s: sent once.
            let keptTime = at(8)
            _ = try await book(kept, doctor: keptDoctor.id, keptTime)
            // Due in 12 s, but cancelled before: never sent.
            let cancelledTime = at(12)
            let cancelledAppointment = try await book(cancelled, doctor: cancelledDoctor.id, cancelledTime)
            _ = try await fleet.act("cancel", on: cancelledAppointment, ["reason": "x"], as: cancelled)
            // Due in 14 s, moved before that to a time due in 22 s: one reminder, for the new time.
            let oldTime = at(14)
            let movedAppointment = try await book(moved, doctor: movedDoctor.id, oldTime)
            let newTime = at(22)
            let outcome = try await fleet.act("reschedule", on: movedAppointment, ["startsAt": newTime.0, "allowOffGrid": true], as: admin)
            #expect(outcome["status"] as? String == "done", "\(outcome)")
            // Then its first event comes again (an operator's replay), after the move was handled: it
            // schedules the old time once more, which no longer holds; the sender must not remind
            // anyone of it. (In one batch with the move it would lose to the move's higher sequence.)
            try await fleet.caughtUp([ConsumerGroups.notification])
            let oldStart = try #require(WireCoding.parseTimestamp(oldTime.0))
            let replayed = Envelope(
                correlationId: "replay", tenantId: Tenants.defaultTenant, actor: Principal(role: .admin, userId: admin.userId),
                payload: AppointmentBooked(
                    commandId: UUID(),
                    appointment: AppointmentSnapshot(
                        appointmentId: try #require(UUID(uuidString: movedAppointment)), doctorId: movedDoctor.id, patientId: moved.userId,
                        startsAt: oldStart, endsAt: oldStart.addingTimeInterval(300), status: .confirmed, sequence: 0, requestedAt: Date()),
                    reason: nil))
            let producer = try KafkaProducer(config: fleet.kafka)
            try await producer.send(ProducerRecord(topic: fleet.eventsTopic, key: movedDoctor.id.canonical, value: try replayed.encoded()))
            await producer.close()
            #expect(Date() < base.addingTimeInterval(-offset + 12), "the cancel and the move happened before their reminders were due")

            func reminders(_ session: Session) throws -> [ParsedMail] {
                try maildir.messages(to: session.email).filter { $0.header("Subject")?.hasPrefix("Reminder") == true }
            }
            try await eventually(timeout: .seconds(30), "the kept appointment's reminder") { try reminders(kept).count == 1 }
            try await eventually(timeout: .seconds(40), "the moved appointment's reminder") { try reminders(moved).count == 1 }
            // Every due reminder is marked sent and its emails are through: a second copy would be here.
            try await eventually(timeout: .seconds(30), "no reminder left to send") {
                try await fleet.database.query("SELECT count(*) FROM notify.reminders WHERE sent_at IS NULL AND due_at <= now()")[0]
                    .decode(Int.self, 0) == 0
            }
            try await fleet.caughtUp([ConsumerGroups.email])
            #expect(try reminders(kept).count == 1, "once")
            #expect(try reminders(moved).count == 1, "only for the new time")
            let oldTimeRows = try await fleet.database.query(
                "SELECT count(*) FROM notify.reminders WHERE appointment_id = $1 AND starts_at = $2",
                [try #require(UUID(uuidString: movedAppointment)), oldStart])
            #expect(try oldTimeRows[0].decode(Int.self, 0) == 0, "the replayed old time's reminder was dropped unsent")
            #expect(try reminders(cancelled).isEmpty, "none for a cancelled appointment")
            #expect(try reminders(keptDoctor.session).count == 1, "the doctor is reminded too")
            #expect(try await Self.notifications(fleet, kept).filter { $0["kind"] as? String == "reminder" }.count == 1)
            let reminderMail = try #require(try reminders(moved).first)
            let newStart = try #require(WireCoding.parseTimestamp(newTime.0))
            let newClock = String(format: "%02d:%02d", local.component(.hour, from: newStart), local.component(.minute, from: newStart))
            let reminderText = reminderMail.parts.first { $0.contentType.hasPrefix("text/plain") }?.text ?? ""
            #expect(reminderText.contains(newClock), "the reminder names the new time \(newClock): \(reminderText)")
        }
    }
}

/// A booking the reminder test needed was not made: what the API answered.
struct BookingRefused: Error, CustomStringConvertible {
    let description: String
}
