import Foundation

// Events on `appointments.events`, keyed by doctor id: what the booking worker decided.

public enum AppointmentStatus: String, Codable, Sendable, CaseIterable {
    case pending, confirmed, rejected, cancelled, completed
    case noShow = "no_show"

    /// Statuses that hold the doctor's time (the exclusion constraint covers these).
    public var holdsSlot: Bool { self == .pending || self == .confirmed }
}

/// Why a command was not carried out: a business outcome, not an error.
public enum DeclineReason: String, Codable, Sendable, CaseIterable {
    case slotTaken = "slot_taken"
    case outsideHours = "outside_hours"
    case tooSoon = "too_soon"
    case beyondHorizon = "beyond_horizon"
    case unknownDoctor = "unknown_doctor"
    case unknownPatient = "unknown_patient"
    case unknownAppointment = "unknown_appointment"
    case invalidTransition = "invalid_transition"
    case inThePast = "in_the_past"
    /// The actor may not do this to this appointment (another doctor's, another patient's).
    case notAllowed = "not_allowed"
    /// The start is not on the doctor's slot grid in their time zone (only admins may do that).
    case offGrid = "off_grid"
    /// The clinic's tenant is disabled: it keeps its data but takes no new commands.
    case tenantDisabled = "tenant_disabled"
}

/// The appointment as it is after the event. `sequence` grows with every change
/// (calendar invites use it as their SEQUENCE).
public struct AppointmentSnapshot: Codable, Sendable, Equatable {
    public var appointmentId: UUID
    public var doctorId: UUID
    public var patientId: UUID
    public var startsAt: Date
    public var endsAt: Date
    public var status: AppointmentStatus
    public var sequence: Int
    /// When the patient asked for it (the request command's time): lead time starts here.
    public var requestedAt: Date

    public init(
        appointmentId: UUID, doctorId: UUID, patientId: UUID, startsAt: Date, endsAt: Date,
        status: AppointmentStatus, sequence: Int, requestedAt: Date
    ) {
        self.appointmentId = appointmentId
        self.doctorId = doctorId
        self.patientId = patientId
        self.startsAt = startsAt
        self.endsAt = endsAt
        self.status = status
        self.sequence = sequence
        self.requestedAt = requestedAt
    }
}

public struct AppointmentBooked: MessagePayload {
    public static let messageType = "appointment.booked"
    public static let version = 1
    public var commandId: UUID
    public var appointment: AppointmentSnapshot
    public var reason: String?

    public init(commandId: UUID, appointment: AppointmentSnapshot, reason: String?) {
        self.commandId = commandId
        self.appointment = appointment
        self.reason = reason
    }
}

public struct AppointmentDeclined: MessagePayload {
    public static let messageType = "appointment.declined"
    public static let version = 1
    public var commandId: UUID
    /// The declined command's `type`, e.g. `appointment.request`.
    public var commandType: String
    public var reason: DeclineReason
    public var doctorId: UUID
    public var appointmentId: UUID
    public var patientId: UUID?
    /// The time asked for, for requests and reschedules.
    public var startsAt: Date?
    public var endsAt: Date?

    public init(
        commandId: UUID, commandType: String, reason: DeclineReason, doctorId: UUID, appointmentId: UUID,
        patientId: UUID?, startsAt: Date?, endsAt: Date?
    ) {
        self.commandId = commandId
        self.commandType = commandType
        self.reason = reason
        self.doctorId = doctorId
        self.appointmentId = appointmentId
        self.patientId = patientId
        self.startsAt = startsAt
        self.endsAt = endsAt
    }
}

public struct AppointmentConfirmed: MessagePayload {
    public static let messageType = "appointment.confirmed"
    public static let version = 1
    public var commandId: UUID
    public var appointment: AppointmentSnapshot

    public init(commandId: UUID, appointment: AppointmentSnapshot) {
        self.commandId = commandId
        self.appointment = appointment
    }
}

public struct AppointmentRejected: MessagePayload {
    public static let messageType = "appointment.rejected"
    public static let version = 1
    public var commandId: UUID
    public var appointment: AppointmentSnapshot
    public var reason: String

    public init(commandId: UUID, appointment: AppointmentSnapshot, reason: String) {
        self.commandId = commandId
        self.appointment = appointment
        self.reason = reason
    }
}

public struct AppointmentCancelled: MessagePayload {
    public static let messageType = "appointment.cancelled"
    public static let version = 1
    public var commandId: UUID
    public var appointment: AppointmentSnapshot
    public var cancelledBy: Principal
    public var reason: String

    public init(commandId: UUID, appointment: AppointmentSnapshot, cancelledBy: Principal, reason: String) {
        self.commandId = commandId
        self.appointment = appointment
        self.cancelledBy = cancelledBy
        self.reason = reason
    }
}

public struct AppointmentRescheduled: MessagePayload {
    public static let messageType = "appointment.rescheduled"
    public static let version = 1
    public var commandId: UUID
    public var appointment: AppointmentSnapshot
    public var previousStartsAt: Date
    public var previousEndsAt: Date
    public var rescheduledBy: Principal

    public init(
        commandId: UUID, appointment: AppointmentSnapshot, previousStartsAt: Date, previousEndsAt: Date,
        rescheduledBy: Principal
    ) {
        self.commandId = commandId
        self.appointment = appointment
        self.previousStartsAt = previousStartsAt
        self.previousEndsAt = previousEndsAt
        self.rescheduledBy = rescheduledBy
    }
}

public struct AppointmentCompleted: MessagePayload {
    public static let messageType = "appointment.completed"
    public static let version = 1
    public var commandId: UUID
    public var appointment: AppointmentSnapshot
    public var notes: String?

    public init(commandId: UUID, appointment: AppointmentSnapshot, notes: String?) {
        self.commandId = commandId
        self.appointment = appointment
        self.notes = notes
    }
}

public struct AppointmentNoShow: MessagePayload {
    public static let messageType = "appointment.no_show"
    public static let version = 1
    public var commandId: UUID
    public var appointment: AppointmentSnapshot

    public init(commandId: UUID, appointment: AppointmentSnapshot) {
        self.commandId = commandId
        self.appointment = appointment
    }
}


/// A version of a medical note was stored. The note's text stays in the database: the event says
/// only that there is one (for live updates and the command's outcome).
public struct AppointmentNoteAdded: MessagePayload {
    public static let messageType = "appointment.note_added"
    public static let version = 1
    public var commandId: UUID
    public var appointment: AppointmentSnapshot
    public var noteId: UUID
    /// 1 for a new note, then one more for each later version.
    public var noteVersion: Int
    public var kind: NoteKind

    public init(commandId: UUID, appointment: AppointmentSnapshot, noteId: UUID, noteVersion: Int, kind: NoteKind) {
        self.commandId = commandId
        self.appointment = appointment
        self.noteId = noteId
        self.noteVersion = noteVersion
        self.kind = kind
    }
}
