import Foundation

// Commands on `appointments.commands`, keyed by doctor id. The envelope's `actor` says who
// issued the command; the booking worker decides each into one event.

/// Ask for an appointment. The ingress chooses `appointmentId`, so the client can follow it.
public struct RequestAppointment: MessagePayload {
    public static let messageType = "appointment.request"
    public static let version = 1
    public var appointmentId: UUID
    public var doctorId: UUID
    public var patientId: UUID
    public var startsAt: Date
    public var endsAt: Date
    /// Free text from the patient. Medical detail: never in an email subject.
    public var reason: String?
    /// Book a start that is not on the doctor's slot grid. Honoured for admins (and operators)
    /// only: anyone else's off-grid request is declined `off_grid`.
    public var allowOffGrid: Bool?

    public init(
        appointmentId: UUID, doctorId: UUID, patientId: UUID, startsAt: Date, endsAt: Date, reason: String?,
        allowOffGrid: Bool? = nil
    ) {
        self.appointmentId = appointmentId
        self.doctorId = doctorId
        self.patientId = patientId
        self.startsAt = startsAt
        self.endsAt = endsAt
        self.reason = reason
        self.allowOffGrid = allowOffGrid
    }

    public func validate() throws(ContractError) {
        try Validation.interval(startsAt, endsAt)
        try Validation.text(reason, field: "payload.reason")
    }
}

public struct CancelAppointment: MessagePayload {
    public static let messageType = "appointment.cancel"
    public static let version = 1
    public var appointmentId: UUID
    public var doctorId: UUID
    public var reason: String

    public init(appointmentId: UUID, doctorId: UUID, reason: String) {
        self.appointmentId = appointmentId
        self.doctorId = doctorId
        self.reason = reason
    }

    public func validate() throws(ContractError) { try Validation.text(reason, field: "payload.reason") }
}

public struct ConfirmAppointment: MessagePayload {
    public static let messageType = "appointment.confirm"
    public static let version = 1
    public var appointmentId: UUID
    public var doctorId: UUID

    public init(appointmentId: UUID, doctorId: UUID) {
        self.appointmentId = appointmentId
        self.doctorId = doctorId
    }
}

public struct RejectAppointment: MessagePayload {
    public static let messageType = "appointment.reject"
    public static let version = 1
    public var appointmentId: UUID
    public var doctorId: UUID
    public var reason: String

    public init(appointmentId: UUID, doctorId: UUID, reason: String) {
        self.appointmentId = appointmentId
        self.doctorId = doctorId
        self.reason = reason
    }

    public func validate() throws(ContractError) { try Validation.text(reason, field: "payload.reason") }
}

public struct RescheduleAppointment: MessagePayload {
    public static let messageType = "appointment.reschedule"
    public static let version = 1
    public var appointmentId: UUID
    public var doctorId: UUID
    public var startsAt: Date
    public var endsAt: Date
    /// As for a request: admins (and operators) may move an appointment off the slot grid.
    public var allowOffGrid: Bool?

    public init(appointmentId: UUID, doctorId: UUID, startsAt: Date, endsAt: Date, allowOffGrid: Bool? = nil) {
        self.appointmentId = appointmentId
        self.doctorId = doctorId
        self.startsAt = startsAt
        self.endsAt = endsAt
        self.allowOffGrid = allowOffGrid
    }

    public func validate() throws(ContractError) { try Validation.interval(startsAt, endsAt) }
}

public struct CompleteAppointment: MessagePayload {
    public static let messageType = "appointment.complete"
    public static let version = 1
    public var appointmentId: UUID
    public var doctorId: UUID
    /// The doctor's notes. Medical detail: never in an email subject.
    public var notes: String?

    public init(appointmentId: UUID, doctorId: UUID, notes: String?) {
        self.appointmentId = appointmentId
        self.doctorId = doctorId
        self.notes = notes
    }

    public func validate() throws(ContractError) { try Validation.text(notes, field: "payload.notes", limit: 10_000) }
}

public struct MarkNoShow: MessagePayload {
    public static let messageType = "appointment.mark_no_show"
    public static let version = 1
    public var appointmentId: UUID
    public var doctorId: UUID

    public init(appointmentId: UUID, doctorId: UUID) {
        self.appointmentId = appointmentId
        self.doctorId = doctorId
    }
}

/// What a medical note is.
public enum NoteKind: String, Codable, Sendable, CaseIterable {
    case consultation, prescription
}

/// A doctor writes a note on their own appointment: a new note (`noteId` not seen before), or a
/// new version of one of its notes. Notes are never overwritten: every version is kept.
public struct AddAppointmentNote: MessagePayload {
    public static let messageType = "appointment.add_note"
    public static let version = 1
    /// The longest note accepted (characters).
    public static let maxLength = 20_000
    public var appointmentId: UUID
    public var doctorId: UUID
    public var noteId: UUID
    public var kind: NoteKind
    /// Medical detail: stored, never in an event, an email or a log line.
    public var text: String

    public init(appointmentId: UUID, doctorId: UUID, noteId: UUID, kind: NoteKind, text: String) {
        self.appointmentId = appointmentId
        self.doctorId = doctorId
        self.noteId = noteId
        self.kind = kind
        self.text = text
    }

    public func validate() throws(ContractError) {
        guard !text.isEmpty else { throw .invalid(field: "payload.text", reason: "must not be empty") }
        // Counted in code points, as PostgreSQL's length() and JSON Schema's maxLength count.
        guard text.unicodeScalars.count <= Self.maxLength else {
            throw .invalid(field: "payload.text", reason: "longer than \(Self.maxLength) characters")
        }
    }
}

/// Contract rules shared by several payloads.
enum Validation {
    static let maxAppointmentLength: TimeInterval = 12 * 3600

    static func interval(_ startsAt: Date, _ endsAt: Date) throws(ContractError) {
        guard endsAt > startsAt else { throw .invalid(field: "payload.endsAt", reason: "must be after startsAt") }
        guard endsAt.timeIntervalSince(startsAt) <= maxAppointmentLength else {
            throw .invalid(field: "payload.endsAt", reason: "an appointment lasts at most 12 hours")
        }
    }

    static func text(_ value: String?, field: String, limit: Int = 2_000) throws(ContractError) {
        guard let value else { return }
        guard value.count <= limit else { throw .invalid(field: field, reason: "longer than \(limit) characters") }
    }
}
