import Contracts
import FleetConfiguration
import Foundation
import Kafka
import Runtime

/// Consumes `appointments.events`: a cancellation, a rejection or a reschedule (its previous
/// time) frees a slot, which is offered to the waitlist; a booking (or a reschedule's new time)
/// takes a slot, which closes its offers; a declined booking of an offer closes that offer and
/// passes the slot on. Booking an offered slot is an ordinary booking request,
/// decided by the booking worker, so an offer never double-books.
public struct WaitlistHandler: BatchMessageHandler, MessageHandler {
    let desk: WaitlistDesk

    public var maxBatchSize: Int { 500 }

    /// Most events concern doctors nobody waits for: one query per batch finds the doctors with
    /// active entries or live offers, and only their events are handled (one at a time, in order).
    /// A freed slot matters where patients wait; a taken one where offers are live, or may be
    /// made by an earlier event of the same batch (where patients wait): both are in the set.
    public func handle(batch messages: [IncomingMessage]) async -> [Result<Void, any Error>] {
        var (events, results) = messages.decoded(as: AppointmentEvent.self)
        let concerned: Set<UUID>
        do {
            concerned = try await desk.concerned(doctors: Set(events.compactMap { Self.relevantDoctor($0.value) }))
        } catch {
            for event in events { results[event.index] = .failure(error) }
            return results
        }
        for (index, message, event) in events where Self.relevantDoctor(event).map(concerned.contains) == true {
            do {
                try await handle(event, message)
            } catch {
                results[index] = .failure(error)
            }
        }
        return results
    }

    /// The doctor whose waitlist an event may touch (nil for events that never do).
    static func relevantDoctor(_ event: AppointmentEvent) -> UUID? {
        switch event {
        case .cancelled, .rejected, .rescheduled, .booked: event.doctorId
        // A declined request may have been made from an offer (its appointment id is the offer's).
        case .declined(let declined) where declined.commandType == RequestAppointment.messageType: event.doctorId
        case .declined, .confirmed, .completed, .noShow, .noteAdded: nil
        }
    }

    public func handle(_ message: IncomingMessage) async throws {
        try await handle(try AppointmentEvent(message.decoded), message)
    }

    func handle(_ event: AppointmentEvent, _ message: IncomingMessage) async throws {
        let cause = message.metadata
        switch event {
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
        case .declined(let event) where event.commandType == RequestAppointment.messageType:
            try await desk.offerDeclined(offer: event.appointmentId, cause: cause)
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
            handler: WaitlistHandler(desk: desk),
            services: [
                PeriodicTask("lapsing waitlist holds and expiring entries", every: tick, logger: environment.logger) {
                    try await desk.lapseHolds()
                    _ = try await desk.expireEntries()
                }
            ])
    }
}
