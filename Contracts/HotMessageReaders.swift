import Foundation

// The readers of the messages on the busy paths: every message's envelope, the booking command,
// its decision, and the email request (the types `HotMessageWriters.swift` writes). Each reads
// its members in declaration order, as the synthesized `init(from:)` does, so that a message
// with two faults is refused for the same one.
//
// A member added to one of these types must be added here too (it would not compile otherwise,
// unless it has a default); `WireReaderTests` compares every reader with `init(from:)`, on
// samples and on each member missing, null or of the wrong kind.

extension EnvelopeMetadata: WireReadable {
    public init(wire reader: WireReader) throws {
        self.init(
            id: try reader.required("id"), type: try reader.required("type"), version: try reader.required("version"),
            occurredAt: try reader.required("occurredAt"), correlationId: try reader.required("correlationId"),
            causationId: try reader.optional("causationId"), tenantId: try reader.required("tenantId"), actor: try reader.required("actor"))
    }
}

extension Principal: WireReadable {
    public init(wire reader: WireReader) throws {
        self.init(role: try reader.required("role"), userId: try reader.optional("userId"))
    }
}

extension RequestAppointment: WireReadable {
    public init(wire reader: WireReader) throws {
        self.init(
            appointmentId: try reader.required("appointmentId"), doctorId: try reader.required("doctorId"),
            patientId: try reader.required("patientId"), startsAt: try reader.required("startsAt"), endsAt: try reader.required("endsAt"),
            reason: try reader.optional("reason"), allowOffGrid: try reader.optional("allowOffGrid"))
    }
}

extension AppointmentSnapshot: WireReadable {
    public init(wire reader: WireReader) throws {
        self.init(
            appointmentId: try reader.required("appointmentId"), doctorId: try reader.required("doctorId"),
            patientId: try reader.required("patientId"), startsAt: try reader.required("startsAt"), endsAt: try reader.required("endsAt"),
            status: try reader.required("status"), sequence: try reader.required("sequence"), requestedAt: try reader.required("requestedAt"))
    }
}

extension AppointmentBooked: WireReadable {
    public init(wire reader: WireReader) throws {
        self.init(commandId: try reader.required("commandId"), appointment: try reader.required("appointment"), reason: try reader.optional("reason"))
    }
}

extension AppointmentDeclined: WireReadable {
    public init(wire reader: WireReader) throws {
        self.init(
            commandId: try reader.required("commandId"), commandType: try reader.required("commandType"), reason: try reader.required("reason"),
            doctorId: try reader.required("doctorId"), appointmentId: try reader.required("appointmentId"),
            patientId: try reader.optional("patientId"), startsAt: try reader.optional("startsAt"), endsAt: try reader.optional("endsAt"))
    }
}

extension EmailRecipient: WireReadable {
    public init(wire reader: WireReader) throws {
        self.init(userId: try reader.required("userId"), email: try reader.required("email"), name: try reader.required("name"), role: try reader.required("role"))
    }
}

extension AppointmentSummary: WireReadable {
    public init(wire reader: WireReader) throws {
        self.init(
            appointmentId: try reader.required("appointmentId"), doctorId: try reader.required("doctorId"),
            doctorName: try reader.required("doctorName"), patientId: try reader.required("patientId"),
            patientName: try reader.required("patientName"), startsAt: try reader.required("startsAt"), endsAt: try reader.required("endsAt"),
            timeZone: try reader.required("timeZone"), status: try reader.required("status"), sequence: try reader.required("sequence"))
    }
}

extension EmailRequested: WireReadable {
    public init(wire reader: WireReader) throws {
        self.init(
            idempotencyKey: try reader.required("idempotencyKey"), kind: try reader.required("kind"), recipient: try reader.required("recipient"),
            appointment: try reader.required("appointment"), changedBy: try reader.optional("changedBy"),
            previousStartsAt: try reader.optional("previousStartsAt"), declineReason: try reader.optional("declineReason"),
            link: try reader.optional("link"), linkExpiresAt: try reader.optional("linkExpiresAt"))
    }
}
