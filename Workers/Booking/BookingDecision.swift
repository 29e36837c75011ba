import Contracts
import Foundation

/// One command as `booking.decide` reads it (see Migrations/SQL/0004_booking_rules.sql).
struct DecisionInput: Encodable {
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
            (startsAt, endsAt, reason) = (command.startsAt, command.endsAt, command.reason)
        case let command as CancelAppointment:
            (appointmentId, doctorId, reason) = (command.appointmentId, command.doctorId, command.reason)
        case let command as ConfirmAppointment:
            (appointmentId, doctorId) = (command.appointmentId, command.doctorId)
        case let command as RejectAppointment:
            (appointmentId, doctorId, reason) = (command.appointmentId, command.doctorId, command.reason)
        case let command as RescheduleAppointment:
            (appointmentId, doctorId, startsAt, endsAt) = (command.appointmentId, command.doctorId, command.startsAt, command.endsAt)
        case let command as CompleteAppointment:
            (appointmentId, doctorId, notes) = (command.appointmentId, command.doctorId, command.notes)
        case let command as MarkNoShow:
            (appointmentId, doctorId) = (command.appointmentId, command.doctorId)
        default:
            return nil
        }
    }
}

/// What `booking.decide` answered for one command.
struct DecisionOutput: Decodable {
    enum Outcome: String, Decodable {
        case booked, declined, confirmed, rejected, cancelled, rescheduled, completed
        case noShow = "no_show"
        /// Decided before: `recordedEvent` is the event to publish again.
        case recorded
        /// The same command earlier in this batch.
        case repeated
    }

    struct Snapshot: Decodable {
        var appointmentId: UUID
        var doctorId: UUID
        var patientId: UUID
        var startsAt: Date
        var endsAt: Date
        var status: AppointmentStatus
        var sequence: Int
        var requestedAt: Date

        var contract: AppointmentSnapshot {
            AppointmentSnapshot(
                appointmentId: appointmentId, doctorId: doctorId, patientId: patientId, startsAt: startsAt, endsAt: endsAt,
                status: status, sequence: sequence, requestedAt: requestedAt)
        }
    }

    var commandId: UUID
    var outcome: Outcome
    var declineReason: DeclineReason?
    var appointment: Snapshot?
    var previousStartsAt: Date?
    var previousEndsAt: Date?
    var recordedEvent: String?
}

/// The event a decision becomes, as wire JSON.
enum DecisionEvent {
    static func make(_ decision: DecisionOutput, for command: DecodedMessage, input: DecisionInput, eventId: UUID) throws
        -> (type: String, json: Data)?
    {
        let metadata = command.metadata
        func envelope<P: MessagePayload>(_ payload: P) throws -> (String, Data) {
            let event = Envelope(
                id: eventId, correlationId: metadata.correlationId, causationId: metadata.id, tenantId: metadata.tenantId,
                actor: metadata.actor, payload: payload)
            return (P.messageType, try event.encoded())
        }
        let commandId = metadata.id
        let snapshot = decision.appointment?.contract
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
