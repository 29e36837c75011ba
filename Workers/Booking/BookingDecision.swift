import Contracts
import Foundation
import Postgres
import Runtime

/// One command as `booking.decide_batch` reads it (see Migrations/SQL/0013_batch_booking.sql).
struct DecisionInput {
    var commandId: UUID
    var type: String
    var tenantId: UUID
    var actorRole: String
    var actorId: UUID?
    var occurredAt: Date
    var appointmentId: UUID
    var doctorId: UUID
    var patientId: UUID?
    var startsAt: Date?
    var endsAt: Date?
    var reason: String?
    var notes: String?
    var allowOffGrid: Bool?

    /// Nil for a message that is not an appointment command.
    init?(_ message: DecodedMessage) {
        let metadata = message.metadata
        commandId = metadata.id
        type = metadata.type
        tenantId = metadata.tenantId
        actorRole = metadata.actor.role.rawValue
        actorId = metadata.actor.userId
        occurredAt = metadata.occurredAt
        switch message.payload {
        case let command as RequestAppointment:
            (appointmentId, doctorId, patientId) = (command.appointmentId, command.doctorId, command.patientId)
            (startsAt, endsAt, reason, allowOffGrid) = (command.startsAt, command.endsAt, command.reason, command.allowOffGrid)
        case let command as CancelAppointment:
            (appointmentId, doctorId, reason) = (command.appointmentId, command.doctorId, command.reason)
        case let command as ConfirmAppointment:
            (appointmentId, doctorId) = (command.appointmentId, command.doctorId)
        case let command as RejectAppointment:
            (appointmentId, doctorId, reason) = (command.appointmentId, command.doctorId, command.reason)
        case let command as RescheduleAppointment:
            (appointmentId, doctorId) = (command.appointmentId, command.doctorId)
            (startsAt, endsAt, allowOffGrid) = (command.startsAt, command.endsAt, command.allowOffGrid)
        case let command as CompleteAppointment:
            (appointmentId, doctorId, notes) = (command.appointmentId, command.doctorId, command.notes)
        case let command as MarkNoShow:
            (appointmentId, doctorId) = (command.appointmentId, command.doctorId)
        default:
            return nil
        }
    }

    /// PostgreSQL text cannot hold a NUL character (and libpq would cut the parameter at it):
    /// such a command could never be decided, and must not take the rest of its batch with it.
    var textFieldWithNul: String? {
        if reason?.utf8.contains(0) == true { return "payload.reason" }
        if notes?.utf8.contains(0) == true { return "payload.notes" }
        return nil
    }
}

/// What `booking.decide_batch` answered for one command: a row of `booking.batch_decision`.
struct DecisionOutput {
    enum Outcome: String {
        case booked, declined, confirmed, rejected, cancelled, rescheduled, completed
        case noShow = "no_show"
        /// Decided before: `recordedEvent` is the event to publish again.
        case recorded
        /// The same command earlier in this batch.
        case repeated
    }

    /// The appointment after the decision, as far as the database knows it.
    struct Appointment {
        var patientId: UUID
        var startsAt: Date
        var endsAt: Date
        var status: AppointmentStatus
        var sequence: Int
        var requestedAt: Date
    }

    /// Position of the command in the batch, from 1.
    var position: Int
    var outcome: Outcome
    var declineReason: DeclineReason?
    var appointment: Appointment?
    var previousStartsAt: Date?
    var previousEndsAt: Date?
    var recordedEvent: String?

    /// The columns of `booking.batch_decision`, in order.
    static let columns =
        "n, outcome, decline_reason, status, sequence, patient_id, starts_at, ends_at, requested_at, previous_starts_at, previous_ends_at, recorded_event"

    init(row: PostgresRow) throws {
        let function = "booking.decide_batch"
        position = try row.decode(Int.self, 0)
        outcome = try DecisionColumns.outcome(row, from: function)
        declineReason = try DecisionColumns.declineReason(row, from: function)
        if outcome != .declined { appointment = try DecisionColumns.appointment(row, from: function) }
        previousStartsAt = try row.decode(Date?.self, 9)
        previousEndsAt = try row.decode(Date?.self, 10)
        recordedEvent = try row.decode(String?.self, 11)
    }
}

/// The columns that `booking.batch_decision` and `booking.note_decision` both start with, in
/// this order: n, outcome, decline_reason, status, sequence, patient_id, starts_at, ends_at,
/// requested_at. Read by position (the batch's rows are many); every text is checked.
enum DecisionColumns {
    static func outcome<Outcome: RawRepresentable<String>>(_ row: PostgresRow, from function: String) throws -> Outcome {
        let text = try row.decode(String.self, 1)
        guard let outcome = Outcome(rawValue: text) else {
            throw PostgresError(kind: .decoding, message: "\(function) answered outcome '\(text.prefix(40))'")
        }
        return outcome
    }

    static func declineReason(_ row: PostgresRow, from function: String) throws -> DeclineReason? {
        guard let text = try row.decode(String?.self, 2) else { return nil }
        guard let reason = DeclineReason(rawValue: text) else {
            throw PostgresError(kind: .decoding, message: "\(function) answered decline reason '\(text.prefix(40))'")
        }
        return reason
    }

    /// The appointment as the row shows it; nil when the row names none (no status).
    static func appointment(_ row: PostgresRow, from function: String) throws -> DecisionOutput.Appointment? {
        guard let text = try row.decode(String?.self, 3) else { return nil }
        guard let status = AppointmentStatus(rawValue: text) else {
            throw PostgresError(kind: .decoding, message: "\(function) answered status '\(text.prefix(40))'")
        }
        return DecisionOutput.Appointment(
            patientId: try row.decode(UUID.self, 5), startsAt: try row.decode(Date.self, 6), endsAt: try row.decode(Date.self, 7),
            status: status, sequence: try row.decode(Int.self, 4), requestedAt: try row.decode(Date.self, 8))
    }
}

/// The event a decision becomes, as wire JSON.
enum DecisionEvent {
    /// The event of a command: caused by it, in its tenant, by its actor.
    static func envelope<P: MessagePayload>(_ payload: P, for command: DecodedMessage, eventId: UUID) throws -> (type: String, json: Data) {
        let metadata = command.metadata
        let event = Envelope(
            id: eventId, correlationId: metadata.correlationId, causationId: metadata.id, tenantId: metadata.tenantId,
            actor: metadata.actor, payload: payload)
        return (P.messageType, try event.encoded())
    }

    static func make(_ decision: DecisionOutput, for command: DecodedMessage, input: DecisionInput, eventId: UUID) throws
        -> (type: String, json: Data)?
    {
        let metadata = command.metadata
        func envelope<P: MessagePayload>(_ payload: P) throws -> (String, Data) {
            try Self.envelope(payload, for: command, eventId: eventId)
        }
        let commandId = metadata.id
        let snapshot = decision.appointment.map {
            AppointmentSnapshot(
                appointmentId: input.appointmentId, doctorId: input.doctorId, patientId: $0.patientId, startsAt: $0.startsAt,
                endsAt: $0.endsAt, status: $0.status, sequence: $0.sequence, requestedAt: $0.requestedAt)
        }
        switch decision.outcome {
        case .declined:
            let request = command.payload as? RequestAppointment
            let reschedule = command.payload as? RescheduleAppointment
            return try envelope(
                AppointmentDeclined(
                    commandId: commandId, commandType: metadata.type, reason: decision.declineReason ?? .invalidTransition,
                    doctorId: input.doctorId, appointmentId: input.appointmentId,
                    patientId: request?.patientId, startsAt: request?.startsAt ?? reschedule?.startsAt,
                    endsAt: request?.endsAt ?? reschedule?.endsAt))
        case .booked:
            guard let snapshot else { return nil }
            return try envelope(
                AppointmentBooked(commandId: commandId, appointment: snapshot, reason: (command.payload as? RequestAppointment)?.reason))
        case .confirmed:
            guard let snapshot else { return nil }
            return try envelope(AppointmentConfirmed(commandId: commandId, appointment: snapshot))
        case .rejected:
            guard let snapshot, let command = command.payload as? RejectAppointment else { return nil }
            return try envelope(AppointmentRejected(commandId: commandId, appointment: snapshot, reason: command.reason))
        case .cancelled:
            guard let snapshot, let command = command.payload as? CancelAppointment else { return nil }
            return try envelope(
                AppointmentCancelled(commandId: commandId, appointment: snapshot, cancelledBy: metadata.actor, reason: command.reason))
        case .rescheduled:
            guard let snapshot, let previousStartsAt = decision.previousStartsAt, let previousEndsAt = decision.previousEndsAt
            else { return nil }
            return try envelope(
                AppointmentRescheduled(
                    commandId: commandId, appointment: snapshot, previousStartsAt: previousStartsAt,
                    previousEndsAt: previousEndsAt, rescheduledBy: metadata.actor))
        case .completed:
            guard let snapshot else { return nil }
            return try envelope(
                AppointmentCompleted(commandId: commandId, appointment: snapshot, notes: (command.payload as? CompleteAppointment)?.notes))
        case .noShow:
            guard let snapshot else { return nil }
            return try envelope(AppointmentNoShow(commandId: commandId, appointment: snapshot))
        case .recorded, .repeated:
            return nil
        }
    }
}

/// What `booking.add_notes` answered for one note command: a row of `booking.note_decision`.
struct NoteOutput {
    enum Outcome: String {
        case noteAdded = "note_added"
        case declined
        /// Stored before: `recordedEvent` is the event to publish again.
        case recorded
    }

    /// Position of the command in the run, from 1.
    var position: Int
    var outcome: Outcome
    var declineReason: DeclineReason?
    /// The appointment the note is on, when it was found.
    var appointment: DecisionOutput.Appointment?
    var noteVersion: Int?
    var recordedEvent: String?

    /// The columns of `booking.note_decision`, in order.
    static let columns =
        "n, outcome, decline_reason, status, sequence, patient_id, starts_at, ends_at, requested_at, note_version, recorded_event"

    init(row: PostgresRow) throws {
        let function = "booking.add_notes"
        position = try row.decode(Int.self, 0)
        outcome = try DecisionColumns.outcome(row, from: function)
        declineReason = try DecisionColumns.declineReason(row, from: function)
        appointment = try DecisionColumns.appointment(row, from: function)
        noteVersion = try row.decode(Int?.self, 9)
        recordedEvent = try row.decode(String?.self, 10)
    }
}

/// The event a note command becomes, as wire JSON: `appointment.note_added` (without the text)
/// or `appointment.declined`.
enum NoteEvent {
    static func make(_ output: NoteOutput, for command: DecodedMessage, note: AddAppointmentNote, eventId: UUID) throws
        -> (type: String, json: Data)
    {
        let metadata = command.metadata
        if output.outcome == .noteAdded, let appointment = output.appointment, let version = output.noteVersion {
            let snapshot = AppointmentSnapshot(
                appointmentId: note.appointmentId, doctorId: note.doctorId, patientId: appointment.patientId,
                startsAt: appointment.startsAt, endsAt: appointment.endsAt, status: appointment.status, sequence: appointment.sequence,
                requestedAt: appointment.requestedAt)
            return try DecisionEvent.envelope(
                AppointmentNoteAdded(commandId: metadata.id, appointment: snapshot, noteId: note.noteId, noteVersion: version, kind: note.kind),
                for: command, eventId: eventId)
        }
        guard output.outcome == .declined else {
            throw HandlerError.transient("booking.add_notes answered \(output.outcome) without its appointment or version")
        }
        return try DecisionEvent.envelope(
            AppointmentDeclined(
                commandId: metadata.id, commandType: metadata.type, reason: output.declineReason ?? .invalidTransition,
                doctorId: note.doctorId, appointmentId: note.appointmentId, patientId: nil, startsAt: nil, endsAt: nil),
            for: command, eventId: eventId)
    }
}
