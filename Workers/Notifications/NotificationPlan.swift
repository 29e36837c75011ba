import Contracts
import Foundation

/// Who hears of an event, and what it says. Pure: the handler supplies names and addresses.
///   booked → patient and doctor; confirmed, rejected, completed → patient;
///   cancelled, rescheduled → both, saying who did it; declined → patient.
public struct NotificationPlan: Sendable, Equatable {
    public var kind: NotificationKind
    public var audience: [Role]
    public var appointmentId: UUID
    public var doctorId: UUID
    /// Nil for a decline of a command other than a request (the handler looks the patient up).
    public var patientId: UUID?
    public var startsAt: Date?
    public var endsAt: Date?
    public var status: AppointmentStatus?
    public var sequence: Int
    public var changedBy: Role?
    public var previousStartsAt: Date?
    public var declineReason: DeclineReason?

    /// The plan for an event; nil when nobody is told (no-show). Exhaustive: a new event type
    /// does not build until it says who hears of it.
    public static func plan(for event: AppointmentEvent) -> NotificationPlan? {
        func from(_ snapshot: AppointmentSnapshot, _ kind: NotificationKind, _ audience: [Role], changedBy: Role? = nil)
            -> NotificationPlan
        {
            NotificationPlan(
                kind: kind, audience: audience, appointmentId: snapshot.appointmentId, doctorId: snapshot.doctorId,
                patientId: snapshot.patientId, startsAt: snapshot.startsAt, endsAt: snapshot.endsAt, status: snapshot.status,
                sequence: snapshot.sequence, changedBy: changedBy)
        }
        switch event {
        case .booked(let booked):
            return from(booked.appointment, .booked, [.patient, .doctor])
        case .confirmed(let confirmed):
            return from(confirmed.appointment, .confirmed, [.patient])
        case .rejected(let rejected):
            return from(rejected.appointment, .rejected, [.patient])
        case .completed(let completed):
            return from(completed.appointment, .completed, [.patient])
        case .cancelled(let cancelled):
            return from(cancelled.appointment, .cancelled, [.patient, .doctor], changedBy: cancelled.cancelledBy.role)
        case .rescheduled(let rescheduled):
            var plan = from(rescheduled.appointment, .rescheduled, [.patient, .doctor], changedBy: rescheduled.rescheduledBy.role)
            plan.previousStartsAt = rescheduled.previousStartsAt
            return plan
        case .declined(let declined):
            return NotificationPlan(
                kind: .declined, audience: [.patient], appointmentId: declined.appointmentId, doctorId: declined.doctorId,
                patientId: declined.patientId, startsAt: declined.startsAt, endsAt: declined.endsAt, status: nil, sequence: 0,
                changedBy: nil, declineReason: declined.reason)
        case .noShow:
            return nil
        case .noteAdded:
            // The patient sees the note live (the event stream) and in the appointment's notes;
            // a message saying "there is a note" would add nothing, and its text never travels.
            return nil
        }
    }

    /// The in-app title and body for one recipient. No reasons, notes or other medical detail.
    public static func text(
        _ kind: NotificationKind, for role: Role, summary: AppointmentSummary, changedBy: Role? = nil,
        previousStartsAt: Date? = nil, declineReason: DeclineReason? = nil
    ) -> (title: String, body: String) {
        let counterpart = role == .doctor ? summary.patientName : summary.doctorName
        let when = summary.whenText
        switch kind {
        case .booked:
            if role == .doctor { return ("New appointment", "\(summary.patientName) booked \(when).") }
            let waiting = summary.status == .pending ? " It awaits the doctor's confirmation." : ""
            return ("Appointment booked", "With \(summary.doctorName) on \(when).\(waiting)")
        case .confirmed:
            return ("Appointment confirmed", "With \(summary.doctorName) on \(when) is confirmed.")
        case .rejected:
            return ("Appointment request not accepted", "\(summary.doctorName) could not accept \(when).")
        case .completed:
            return ("Appointment completed", "With \(summary.doctorName) on \(when).")
        case .cancelled:
            return ("Appointment cancelled", "With \(counterpart) on \(when), cancelled by \((changedBy ?? .system).byline).")
        case .rescheduled:
            let from = previousStartsAt.map { " from \(summary.localText($0))" } ?? ""
            return ("Appointment moved", "With \(counterpart) moved\(from) to \(when) by \((changedBy ?? .system).byline).")
        case .declined:
            return ("Booking not possible", "With \(summary.doctorName) on \(when): \((declineReason ?? .notAllowed).explanation).")
        case .reminder:
            return ("Appointment reminder", "With \(counterpart) on \(when).")
        case .waitlistOffer:
            return ("A slot on your waitlist is free", "With \(summary.doctorName) on \(when). Book it from your waitlist or the emailed link.")
        case .waitlistGone:
            return ("The slot offered is gone", "With \(summary.doctorName) on \(when): it was booked or the offer lapsed.")
        }
    }
}
