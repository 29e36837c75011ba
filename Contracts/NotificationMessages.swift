import Foundation

// Messages on `notifications.email`, keyed by recipient user id: one email to send.

/// What a notification is about. Subjects and texts are chosen per kind, never from free text.
public enum NotificationKind: String, Codable, Sendable, CaseIterable {
    case booked, confirmed, rejected, cancelled, rescheduled, completed, declined, reminder
    /// A waitlisted patient is offered a freed slot (with a one-click booking link).
    case waitlistOffer = "waitlist_offer"
    /// The slot offered is gone (someone booked it first, or the hold lapsed).
    case waitlistGone = "waitlist_gone"
}

public struct EmailRecipient: Codable, Sendable, Equatable {
    public var userId: UUID
    public var email: String
    public var name: String
    public var role: Role

    public init(userId: UUID, email: String, name: String, role: Role) {
        self.userId = userId
        self.email = email
        self.name = name
        self.role = role
    }
}

/// The appointment as an email shows it (names and the doctor's time zone included, so the
/// email worker needs no lookups).
public struct AppointmentSummary: Codable, Sendable, Equatable {
    public var appointmentId: UUID
    public var doctorId: UUID
    public var doctorName: String
    public var patientId: UUID
    public var patientName: String
    public var startsAt: Date
    public var endsAt: Date
    /// The doctor's IANA time zone: times are shown there.
    public var timeZone: String
    public var status: AppointmentStatus
    /// Grows with every change; the calendar invite's SEQUENCE.
    public var sequence: Int

    public init(
        appointmentId: UUID, doctorId: UUID, doctorName: String, patientId: UUID, patientName: String, startsAt: Date,
        endsAt: Date, timeZone: String, status: AppointmentStatus, sequence: Int
    ) {
        self.appointmentId = appointmentId
        self.doctorId = doctorId
        self.doctorName = doctorName
        self.patientId = patientId
        self.patientName = patientName
        self.startsAt = startsAt
        self.endsAt = endsAt
        self.timeZone = timeZone
        self.status = status
        self.sequence = sequence
    }
}

/// Send one email. `idempotencyKey` is the same however often the request is written: an email
/// whose key was delivered is not sent again.
public struct EmailRequested: MessagePayload {
    public static let messageType = "notification.email_requested"
    public static let version = 1
    public var idempotencyKey: String
    public var kind: NotificationKind
    public var recipient: EmailRecipient
    public var appointment: AppointmentSummary
    /// Who made the change (for cancelled and rescheduled: "cancelled by the clinic").
    public var changedBy: Role?
    /// Rescheduled: where it was before.
    public var previousStartsAt: Date?
    /// Declined: why, as a code (`slot_taken` …).
    public var declineReason: DeclineReason?
    /// A waitlist offer: the one-click link that books the slot; until when it works.
    public var link: String?
    public var linkExpiresAt: Date?

    public init(
        idempotencyKey: String, kind: NotificationKind, recipient: EmailRecipient, appointment: AppointmentSummary,
        changedBy: Role? = nil, previousStartsAt: Date? = nil, declineReason: DeclineReason? = nil, link: String? = nil,
        linkExpiresAt: Date? = nil
    ) {
        self.idempotencyKey = idempotencyKey
        self.kind = kind
        self.recipient = recipient
        self.appointment = appointment
        self.changedBy = changedBy
        self.previousStartsAt = previousStartsAt
        self.declineReason = declineReason
        self.link = link
        self.linkExpiresAt = linkExpiresAt
    }

    public func validate() throws(ContractError) {
        try EmailValidation.key(idempotencyKey)
        try EmailValidation.address(recipient.email)
        if kind == .waitlistOffer, link == nil {
            throw .invalid(field: "payload.link", reason: "a waitlist offer needs its booking link")
        }
    }
}

extension AppointmentSummary {
    /// `Tue 1 Dec 2026, 10:00` in the doctor's time zone.
    public func localText(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: timeZone) ?? TimeZone(identifier: "UTC") ?? calendar.timeZone
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .weekday], from: date)
        let weekdays = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        let weekday = weekdays[((parts.weekday ?? 1) - 1 + 7) % 7]
        let month = months[((parts.month ?? 1) - 1 + 12) % 12]
        let (hour, minute) = (parts.hour ?? 0, parts.minute ?? 0)
        let time = (hour < 10 ? "0\(hour)" : "\(hour)") + ":" + (minute < 10 ? "0\(minute)" : "\(minute)")
        return "\(weekday) \(parts.day ?? 1) \(month) \(parts.year ?? 1970), \(time)"
    }

    /// `Tue 1 Dec 2026, 10:00 (Europe/Berlin)`
    public var whenText: String { "\(localText(startsAt)) (\(timeZone))" }
}

extension DeclineReason {
    /// Why, in words a patient understands.
    public var explanation: String {
        switch self {
        case .slotTaken: "the time is no longer free"
        case .outsideHours: "the doctor does not work at that time"
        case .tooSoon: "it is too close to now for this doctor"
        case .beyondHorizon: "it is too far ahead for this doctor"
        case .unknownDoctor: "the doctor is not available"
        case .unknownPatient: "the patient record was not found"
        case .unknownAppointment: "the appointment was not found"
        case .invalidTransition: "the appointment is no longer in a state that allows it"
        case .inThePast: "the time is in the past"
        case .notAllowed: "this is not allowed"
        case .offGrid: "the time is not one of the doctor's bookable slots"
        case .tenantDisabled: "the clinic is not taking bookings"
        }
    }
}

extension Role {
    /// `the patient`, `the doctor`, `the clinic`.
    public var byline: String {
        switch self {
        case .patient: "the patient"
        case .doctor: "the doctor"
        case .admin, .system: "the clinic"
        case .platform: "the platform operator"
        }
    }
}

// Messages on `notifications.inapp`, keyed by recipient user id: an in-app notification the
// notification worker stored, published after its transaction committed, so that every copy of
// the ingress can push it to its recipient's open event streams.

public struct InAppNotificationCreated: MessagePayload {
    public static let messageType = "notification.in_app_created"
    public static let version = 1
    public var notificationId: UUID
    public var recipientId: UUID
    public var kind: NotificationKind
    public var title: String
    public var body: String
    public var appointmentId: UUID?
    public var createdAt: Date

    public init(
        notificationId: UUID, recipientId: UUID, kind: NotificationKind, title: String, body: String, appointmentId: UUID?, createdAt: Date
    ) {
        self.notificationId = notificationId
        self.recipientId = recipientId
        self.kind = kind
        self.title = title
        self.body = body
        self.appointmentId = appointmentId
        self.createdAt = createdAt
    }
}

/// `notifications.inapp`
public enum InAppNotificationMessage: TopicMessage, Equatable {
    case created(InAppNotificationCreated)

    public static let payloadTypes: [any MessagePayload.Type] = [InAppNotificationCreated.self]

    public init(payload: any MessagePayload) throws(ContractError) {
        switch payload {
        case let created as InAppNotificationCreated: self = .created(created)
        default: throw .unknownType(type(of: payload).messageType)
        }
    }

    public var payload: any MessagePayload {
        switch self {
        case .created(let created): created
        }
    }
}
