import Foundation

// The messages of each source topic as one enum, so that a consumer `switch`es without a
// `default:`: adding a message type to a topic is a new case, and the build breaks until every
// consumer of that topic says what it does with it. Each topic's decoder (`Catalogs`) is made
// from the same enum's `payloadTypes`; a contract test checks that both list the same types.

/// A message of a topic: an enum with one case per payload type.
public protocol TopicMessage: Sendable {
    /// Every payload type of the topic (decoders are registered from this list).
    static var payloadTypes: [any MessagePayload.Type] { get }
    /// Wraps a decoded payload; throws `unknownType` for a payload of another topic.
    init(payload: any MessagePayload) throws(ContractError)
    /// The payload, whatever the case.
    var payload: any MessagePayload { get }
}

extension TopicMessage {
    public init(_ message: DecodedMessage) throws(ContractError) {
        try self.init(payload: message.payload)
    }
}

/// `appointments.commands`
public enum AppointmentCommand: TopicMessage, Equatable {
    case request(RequestAppointment)
    case cancel(CancelAppointment)
    case confirm(ConfirmAppointment)
    case reject(RejectAppointment)
    case reschedule(RescheduleAppointment)
    case complete(CompleteAppointment)
    case markNoShow(MarkNoShow)
    case addNote(AddAppointmentNote)

    public static let payloadTypes: [any MessagePayload.Type] = [
        RequestAppointment.self, CancelAppointment.self, ConfirmAppointment.self, RejectAppointment.self,
        RescheduleAppointment.self, CompleteAppointment.self, MarkNoShow.self, AddAppointmentNote.self,
    ]

    public init(payload: any MessagePayload) throws(ContractError) {
        switch payload {
        case let command as RequestAppointment: self = .request(command)
        case let command as CancelAppointment: self = .cancel(command)
        case let command as ConfirmAppointment: self = .confirm(command)
        case let command as RejectAppointment: self = .reject(command)
        case let command as RescheduleAppointment: self = .reschedule(command)
        case let command as CompleteAppointment: self = .complete(command)
        case let command as MarkNoShow: self = .markNoShow(command)
        case let command as AddAppointmentNote: self = .addNote(command)
        default: throw .unknownType(type(of: payload).messageType)
        }
    }

    public var payload: any MessagePayload {
        switch self {
        case .request(let command): command
        case .cancel(let command): command
        case .confirm(let command): command
        case .reject(let command): command
        case .reschedule(let command): command
        case .complete(let command): command
        case .markNoShow(let command): command
        case .addNote(let command): command
        }
    }

    /// Every command is about one appointment of one doctor (the key of the topic).
    public var appointmentId: UUID {
        switch self {
        case .request(let command): command.appointmentId
        case .cancel(let command): command.appointmentId
        case .confirm(let command): command.appointmentId
        case .reject(let command): command.appointmentId
        case .reschedule(let command): command.appointmentId
        case .complete(let command): command.appointmentId
        case .markNoShow(let command): command.appointmentId
        case .addNote(let command): command.appointmentId
        }
    }

    public var doctorId: UUID {
        switch self {
        case .request(let command): command.doctorId
        case .cancel(let command): command.doctorId
        case .confirm(let command): command.doctorId
        case .reject(let command): command.doctorId
        case .reschedule(let command): command.doctorId
        case .complete(let command): command.doctorId
        case .markNoShow(let command): command.doctorId
        case .addNote(let command): command.doctorId
        }
    }
}

/// `appointments.events`
public enum AppointmentEvent: TopicMessage, Equatable {
    case booked(AppointmentBooked)
    case declined(AppointmentDeclined)
    case confirmed(AppointmentConfirmed)
    case rejected(AppointmentRejected)
    case cancelled(AppointmentCancelled)
    case rescheduled(AppointmentRescheduled)
    case completed(AppointmentCompleted)
    case noShow(AppointmentNoShow)
    case noteAdded(AppointmentNoteAdded)

    public static let payloadTypes: [any MessagePayload.Type] = [
        AppointmentBooked.self, AppointmentDeclined.self, AppointmentConfirmed.self, AppointmentRejected.self,
        AppointmentCancelled.self, AppointmentRescheduled.self, AppointmentCompleted.self, AppointmentNoShow.self,
        AppointmentNoteAdded.self,
    ]

    public init(payload: any MessagePayload) throws(ContractError) {
        switch payload {
        case let event as AppointmentBooked: self = .booked(event)
        case let event as AppointmentDeclined: self = .declined(event)
        case let event as AppointmentConfirmed: self = .confirmed(event)
        case let event as AppointmentRejected: self = .rejected(event)
        case let event as AppointmentCancelled: self = .cancelled(event)
        case let event as AppointmentRescheduled: self = .rescheduled(event)
        case let event as AppointmentCompleted: self = .completed(event)
        case let event as AppointmentNoShow: self = .noShow(event)
        case let event as AppointmentNoteAdded: self = .noteAdded(event)
        default: throw .unknownType(type(of: payload).messageType)
        }
    }

    public var payload: any MessagePayload {
        switch self {
        case .booked(let event): event
        case .declined(let event): event
        case .confirmed(let event): event
        case .rejected(let event): event
        case .cancelled(let event): event
        case .rescheduled(let event): event
        case .completed(let event): event
        case .noShow(let event): event
        case .noteAdded(let event): event
        }
    }

    /// The doctor whose calendar the event is about (the key of the topic).
    public var doctorId: UUID {
        switch self {
        case .declined(let event): event.doctorId
        case .booked(let event): event.appointment.doctorId
        case .confirmed(let event): event.appointment.doctorId
        case .rejected(let event): event.appointment.doctorId
        case .cancelled(let event): event.appointment.doctorId
        case .rescheduled(let event): event.appointment.doctorId
        case .completed(let event): event.appointment.doctorId
        case .noShow(let event): event.appointment.doctorId
        case .noteAdded(let event): event.appointment.doctorId
        }
    }

    public var appointmentId: UUID {
        switch self {
        case .declined(let event): event.appointmentId
        case .booked(let event): event.appointment.appointmentId
        case .confirmed(let event): event.appointment.appointmentId
        case .rejected(let event): event.appointment.appointmentId
        case .cancelled(let event): event.appointment.appointmentId
        case .rescheduled(let event): event.appointment.appointmentId
        case .completed(let event): event.appointment.appointmentId
        case .noShow(let event): event.appointment.appointmentId
        case .noteAdded(let event): event.appointment.appointmentId
        }
    }

    /// The id of the command this event decided.
    public var commandId: UUID {
        switch self {
        case .declined(let event): event.commandId
        case .booked(let event): event.commandId
        case .confirmed(let event): event.commandId
        case .rejected(let event): event.commandId
        case .cancelled(let event): event.commandId
        case .rescheduled(let event): event.commandId
        case .completed(let event): event.commandId
        case .noShow(let event): event.commandId
        case .noteAdded(let event): event.commandId
        }
    }

    /// The appointment as it is after the event; nil for a decline (nothing changed).
    public var appointment: AppointmentSnapshot? {
        switch self {
        case .booked(let event): event.appointment
        case .declined: nil
        case .confirmed(let event): event.appointment
        case .rejected(let event): event.appointment
        case .cancelled(let event): event.appointment
        case .rescheduled(let event): event.appointment
        case .completed(let event): event.appointment
        case .noShow(let event): event.appointment
        case .noteAdded(let event): event.appointment
        }
    }
}

/// `notifications.email`
public enum NotificationEmail: TopicMessage, Equatable {
    case appointment(EmailRequested)
    case account(AccountEmailRequested)

    public static let payloadTypes: [any MessagePayload.Type] = [EmailRequested.self, AccountEmailRequested.self]

    public init(payload: any MessagePayload) throws(ContractError) {
        switch payload {
        case let request as EmailRequested: self = .appointment(request)
        case let request as AccountEmailRequested: self = .account(request)
        default: throw .unknownType(type(of: payload).messageType)
        }
    }

    public var payload: any MessagePayload {
        switch self {
        case .appointment(let request): request
        case .account(let request): request
        }
    }

    public var idempotencyKey: String {
        switch self {
        case .appointment(let request): request.idempotencyKey
        case .account(let request): request.idempotencyKey
        }
    }

    public var recipient: EmailRecipient {
        switch self {
        case .appointment(let request): request.recipient
        case .account(let request): request.recipient
        }
    }

    /// The kind as stored with the delivery (`booked`, `verify_email`, …).
    public var kindName: String {
        switch self {
        case .appointment(let request): request.kind.rawValue
        case .account(let request): request.kind.rawValue
        }
    }
}
