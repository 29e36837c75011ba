import Contracts
import Email
import Foundation
import Testing

/// The invite's text escaping and times, written by hand since `replacingOccurrences` (through
/// NSString) was the email worker's largest cost.
@Suite("Calendar invite text")
struct CalendarInviteTests {
    static func summary(patient: String, doctor: String, timeZone: String = "Europe/Berlin") throws -> AppointmentSummary {
        let start = try #require(WireCoding.parseTimestamp("2026-12-01T09:05:00.000Z"))
        return AppointmentSummary(
            appointmentId: UUID.random(), doctorId: UUID.random(), doctorName: doctor, patientId: UUID.random(), patientName: patient,
            startsAt: start, endsAt: start.addingTimeInterval(1800), timeZone: timeZone, status: .confirmed, sequence: 2)
    }

    /// The invite's lines, continuation lines unfolded.
    static func lines(_ invite: String) -> [String] {
        invite.replacingOccurrences(of: "\r\n ", with: "").components(separatedBy: "\r\n")
    }

    @Test func textIsEscapedAsRFC5545Says() throws {
        let summary = try Self.summary(patient: #"Ann; "Nan", Back\slash"#, doctor: "Dr Two\r\nLines")
        let attendee = EmailRecipient(userId: summary.patientId, email: "ann@example.test", name: "Ann, Smith; Jr", role: .patient)
        let lines = Self.lines(CalendarInvite.make(.request, summary: summary, organizer: "clinic@example.test", attendee: attendee))
        #expect(lines.contains(#"SUMMARY:Appointment: Ann\; "Nan"\, Back\\slash with Dr Two\nLines"#), "\(lines)")
        #expect(lines.contains(#"ATTENDEE;CN=Ann\, Smith\; Jr;ROLE=REQ-PARTICIPANT:mailto:ann@example.test"#), "\(lines)")
        // Local time in the doctor's zone (10:05 in Berlin), zero-padded; the times in UTC, compact.
        #expect(lines.contains(#"DESCRIPTION:Tue 1 Dec 2026\, 10:05 (Europe/Berlin)"#), "\(lines)")
        #expect(lines.contains("DTSTART:20261201T090500Z") && lines.contains("DTEND:20261201T093500Z"), "\(lines)")
    }
}
