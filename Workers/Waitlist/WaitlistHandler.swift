import Contracts
import FleetConfiguration
import Foundation
import Kafka
import Runtime

/// Consumes `appointments.events`: a cancellation, a rejection or a reschedule (its previous
/// time) frees a slot, which is offered to the waitlist; a booking (or a reschedule's new time)
/// takes a slot, which closes its offers. Booking an offered slot is an ordinary booking request,
/// decided by the booking worker, so an offer never double-books.
public struct WaitlistHandler: MessageHandler {
    let desk: WaitlistDesk

    public func handle(_ message: IncomingMessage) async throws {
        let cause = message.metadata
        switch try AppointmentEvent(message.decoded) {
        case .cancelled(let event):
            try await desk.offerFreedSlot(Self.slot(event.appointment, cause), excluding: event.appointment.patientId, cause: cause)
        case .rejected(let event):
            try await desk.offerFreedSlot(Self.slot(event.appointment, cause), excluding: event.appointment.patientId, cause: cause)
        case .rescheduled(let event):
            var freed = Self.slot(event.appointment, cause)
            (freed.startsAt, freed.endsAt) = (event.previousStartsAt, event.previousEndsAt)
            try await desk.slotTaken(Self.slot(event.appointment, cause), appointment: event.appointment.appointmentId, cause: cause)
            try await desk.offerFreedSlot(freed, excluding: event.appointment.patientId, cause: cause)
        case .booked(let event):
            try await desk.slotTaken(Self.slot(event.appointment, cause), appointment: event.appointment.appointmentId, cause: cause)
        case .declined, .confirmed, .completed, .noShow, .noteAdded:
            return
        }
    }

    static func slot(_ appointment: AppointmentSnapshot, _ cause: EnvelopeMetadata) -> WaitlistDesk.Slot {
        WaitlistDesk.Slot(tenant: cause.tenantId, doctor: appointment.doctorId, startsAt: appointment.startsAt, endsAt: appointment.endsAt)
    }
}

/// The waitlist worker as its executable and the tests build it. Keys: `waitlist.link.secret`
/// (signs the one-click links; required), `ingress.public.url` (where links point),
/// `waitlist.tick` (how often lapsed holds and past entries are looked for, default 15s).
public enum WaitlistWorker {
    public static func setup(_ environment: WorkerEnvironment) throws -> WorkerSetup {
        guard let pool = environment.database else { throw ConfigError("database.url is required") }
        let config = environment.config
        let secret = try config.require("waitlist.link.secret")
        guard secret.utf8.count >= 32 else { throw ConfigError("waitlist.link.secret must be at least 32 bytes") }
        let desk = WaitlistDesk(
            pool: pool, producer: try KafkaProducer(config: environment.kafka, logger: environment.logger),
            links: WaitlistLinks(secret: secret, publicURL: config.string("ingress.public.url", default: "http://127.0.0.1:8080")),
            emailTopic: environment.namespace.topicName(Topics.notificationEmail.name),
            inAppTopic: environment.namespace.topicName(Topics.inAppNotifications.name), logger: environment.logger)
        let tick = try config.duration("waitlist.tick", default: .seconds(15))
        return WorkerSetup(
            handler: OneAtATime(WaitlistHandler(desk: desk)),
            services: [
                PeriodicTask("lapsing waitlist holds and expiring entries", every: tick, logger: environment.logger) {
                    try await desk.lapseHolds()
                    _ = try await desk.expireEntries()
                }
            ])
    }
}
