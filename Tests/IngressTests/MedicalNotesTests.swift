import Contracts
import Foundation
import Kafka
import Postgres
import TestSupport
import Testing

/// Medical notes (issue 15): written by the appointment's doctor as commands through Kafka,
/// stored by the booking worker as versions that are never overwritten, read by the patient, the
/// doctor and admins with a reason, every read in the audit trail. Against the real services.
@Suite("Medical notes", .timeLimit(.minutes(4)))
struct MedicalNotesTests {
    @Test func aDoctorsNotesAreVersionedReadByWhoMayAndAudited() async throws {
        try await TestFleet.with(workers: .init(booking: true, audit: true)) { fleet in
            let admin = try await fleet.admin()
            let patient = try await fleet.register("Noted")
            let stranger = try await fleet.register("Stranger")
            let doctor = try await fleet.doctor(by: admin)
            let colleague = try await fleet.doctor(by: admin)
            let slots = try await fleet.freeSlots(doctor.id, token: patient.accessToken)
            let appointment = try await fleet.book(patient, doctor: doctor.id, startsAt: slots[0].startsAt)
            let path = "/v1/appointments/\(appointment)/notes"

            // A new note, then a new version of it, then a prescription.
            let first = try await fleet.act("notes", on: appointment, ["kind": "consultation", "text": "Sore throat.\nNo fever."], as: doctor.session)
            #expect(first["status"] as? String == "done" && first["type"] as? String == "appointment.add_note", "\(first)")
            let event = try #require(first["event"] as? [String: Any])
            #expect(event["type"] as? String == "appointment.note_added")
            let payload = try #require(event["payload"] as? [String: Any])
            #expect(payload["noteVersion"] as? Int == 1 && payload["kind"] as? String == "consultation")
            #expect(!"\(event)".contains("Sore throat"), "the text stays in the database, never in an event")
            let noteId = try #require(payload["noteId"] as? String)
            let second = try await fleet.act("notes", on: appointment, ["noteId": noteId, "text": "Sore throat. Strep test negative."], as: doctor.session)
            #expect(((second["event"] as? [String: Any])?["payload"] as? [String: Any])?["noteVersion"] as? Int == 2, "\(second)")
            _ = try await fleet.act("notes", on: appointment, ["kind": "prescription", "text": "Ibuprofen 400 mg, 3x daily, 5 days"], as: doctor.session)

            // The patient reads both notes, the first with both versions, nothing overwritten.
            let read = try await fleet.api.get(path, token: patient.accessToken)
            #expect(read.status == 200, "\(read.text)")
            let items = try #require(read.json["items"] as? [[String: Any]])
            #expect(items.count == 2)
            let consultation = try #require(items.first)
            #expect(consultation["noteId"] as? String == noteId && consultation["version"] as? Int == 2)
            #expect(consultation["text"] as? String == "Sore throat. Strep test negative.")
            let versions = try #require(consultation["versions"] as? [[String: Any]])
            #expect(versions.map { $0["version"] as? Int } == [1, 2])
            #expect(versions.first?["text"] as? String == "Sore throat.\nNo fever.")
            #expect(versions.allSatisfy { $0["authorId"] as? String == doctor.id.canonical })
            #expect(items.last?["kind"] as? String == "prescription")
            #expect(try await fleet.api.get(path, token: doctor.session.accessToken).status == 200)

            // Nobody else of the clinic: not another patient, not another doctor; an admin only with a reason.
            #expect(try await fleet.api.get(path, token: stranger.accessToken).status == 404)
            #expect(try await fleet.api.get(path, token: colleague.session.accessToken).status == 404)
            let unexplained = try await fleet.api.get(path, token: admin.accessToken)
            #expect(unexplained.status == 400 && unexplained.errorField == "X-Access-Reason", "\(unexplained.text)")
            let explained = try await fleet.api.send(
                "GET", path, body: nil, token: admin.accessToken, headers: ["X-Access-Reason": "complaint 17 review"])
            #expect(explained.status == 200 && (explained.json["items"] as? [Any])?.count == 2)

            // Only the appointment's doctor writes, with a clear answer for everything else.
            let note = ["kind": "consultation", "text": "x"]
            #expect(try await fleet.api.post(path, note, token: patient.accessToken).status == 403)
            #expect(try await fleet.api.post(path, note, token: colleague.session.accessToken).status == 404)
            #expect(try await fleet.api.post(path, note, token: admin.accessToken).status == 403)
            let noKind = try await fleet.api.post(path, ["text": "x"], token: doctor.session.accessToken)
            #expect(noKind.status == 422 && noKind.errorField == "kind", "\(noKind.text)")
            let otherKind = try await fleet.api.post(path, ["noteId": noteId, "kind": "prescription", "text": "x"], token: doctor.session.accessToken)
            #expect(otherKind.status == 422 && otherKind.errorField == "kind", "\(otherKind.text)")
            #expect(try await fleet.api.post(path, ["noteId": UUID().uuidString, "text": "x"], token: doctor.session.accessToken).status == 404)
            let nul = try await fleet.api.post(path, ["kind": "consultation", "text": "a\u{0}b"], token: doctor.session.accessToken)
            #expect(nul.status == 422 && nul.errorField == "text", "\(nul.text)")
            let long = try await fleet.api.post(
                path, ["kind": "consultation", "text": String(repeating: "ü", count: 20_001)], token: doctor.session.accessToken)
            #expect(long.status == 422 && long.errorField == "text", "\(long.text)")
            let empty = try await fleet.api.post(path, ["kind": "consultation", "text": "  \n "], token: doctor.session.accessToken)
            #expect(empty.status == 422 && empty.errorField == "text", "\(empty.text)")

            // Versions are append-only, whoever asks.
            await #expect(throws: PostgresError.self) { try await fleet.database.query("UPDATE booking.appointment_notes SET body = 'changed'") }
            await #expect(throws: PostgresError.self) { try await fleet.database.query("DELETE FROM booking.appointment_notes") }
            let stored = try await fleet.database.query("SELECT count(*) FROM booking.appointment_notes")[0].decode(Int.self, 0)
            #expect(stored == 3)

            // Every read is in the trail: the patient's, the doctor's and the admin's (with the reason).
            var records: [[String: Any]] = []
            try await eventually(timeout: .seconds(20), "the audit worker wrote the note reads") {
                records = try await fleet.api.get("/v1/audit?subject=\(patient.userId)", token: admin.accessToken).json["items"] as? [[String: Any]] ?? []
                return records.filter { $0["subjectKind"] as? String == "note" }.count >= 6
            }
            let noteReads = records.filter { $0["subjectKind"] as? String == "note" && $0["action"] as? String == "GET /v1/appointments/{id}/notes" }
            #expect(Set(noteReads.compactMap { $0["actorId"] as? String }) == [patient.userId.canonical, doctor.id.canonical, admin.userId.canonical])
            #expect(noteReads.contains { $0["actorId"] as? String == admin.userId.canonical && $0["reason"] as? String == "complaint 17 review" })
        }
    }

    /// The booking worker decides with the truth: a note published past the API by another doctor,
    /// or on a cancelled appointment, is declined; the same command delivered twice stores one version.
    @Test func theWorkerDeclinesWhatTheAPIWouldRefuseAndStoresARedeliveredNoteOnce() async throws {
        try await TestFleet.with(workers: .bookingOnly) { fleet in
            let admin = try await fleet.admin()
            let patient = try await fleet.register("Twice")
            let doctor = try await fleet.doctor(by: admin)
            let colleague = try await fleet.doctor(by: admin)
            let slots = try await fleet.freeSlots(doctor.id, token: patient.accessToken)
            let kept = try await fleet.book(patient, doctor: doctor.id, startsAt: slots[0].startsAt)
            let cancelled = try await fleet.book(patient, doctor: doctor.id, startsAt: slots[2].startsAt)
            _ = try await fleet.act("cancel", on: cancelled, ["reason": "moved away"], as: patient)
            let refused = try await fleet.api.post(
                "/v1/appointments/\(cancelled)/notes", ["kind": "consultation", "text": "late"], token: doctor.session.accessToken)
            #expect(refused.status == 409, "\(refused.text)")

            let keptId = try #require(UUID(uuidString: kept)), cancelledId = try #require(UUID(uuidString: cancelled))
            func note(_ appointment: UUID, by author: UUID, noteId: UUID = UUID()) -> Envelope<AddAppointmentNote> {
                Envelope(
                    correlationId: "direct", tenantId: Tenants.defaultTenant, actor: Principal(role: .doctor, userId: author),
                    payload: AddAppointmentNote(appointmentId: appointment, doctorId: doctor.id, noteId: noteId, kind: .consultation, text: "direct"))
            }
            let byColleague = note(keptId, by: colleague.id)
            let onCancelled = note(cancelledId, by: doctor.id)
            let twice = note(keptId, by: doctor.id)
            let producer = try KafkaProducer(config: try await TestKafka.config())
            for envelope in [byColleague, onCancelled, twice, twice] {
                try await producer.send(ProducerRecord(topic: fleet.commandsTopic, key: doctor.id.canonical, value: try envelope.encoded()))
            }
            await producer.close()
            try await eventually(timeout: .seconds(30), "the three commands are decided") {
                try await fleet.database.query(
                    "SELECT 1 FROM booking.processed_commands WHERE command_id = ANY($1::uuid[])", [[byColleague.id, onCancelled.id, twice.id]]
                ).count == 3
            }
            let reasons = try await fleet.database.query(
                "SELECT command_id, event_type, event::jsonb #>> '{payload,reason}' AS reason FROM booking.processed_commands WHERE command_id = ANY($1::uuid[])",
                [[byColleague.id, onCancelled.id, twice.id]])
            var outcome: [UUID: String] = [:]
            for row in reasons {
                outcome[try row.decode(UUID.self, "command_id")] = try row.decode(String?.self, "reason") ?? row.decode(String.self, "event_type")
            }
            #expect(outcome[byColleague.id] == "not_allowed")
            #expect(outcome[onCancelled.id] == "invalid_transition")
            #expect(outcome[twice.id] == "appointment.note_added")
            let versions = try await fleet.database.query(
                "SELECT version FROM booking.appointment_notes WHERE note_id = $1", [twice.payload.noteId]
            ).map { try $0.decode(Int.self, 0) }
            #expect(versions == [1])
        }
    }
}
