import Foundation

// The writers of the messages on the busy paths: the booking command, its decision, and what the
// notification worker sends for every decision (four envelopes each). Members are written in the
// order of their keys' UTF-8 bytes (upper case before lower case, a prefix before what extends it).
//
// A member added to one of these types must be added here too: `WireWriterTests` compares every
// writer with the tree encoder, on samples whose optionals are all set (it checks that they are),
// and fails until it is.

extension Envelope: WireWritable where Payload: WireWritable {
    public func write(to writer: inout WireWriter) {
        writer.object { writer in
            writer.member("actor", actor)
            writer.member("causationId", causationId)
            writer.member("correlationId", correlationId)
            writer.member("id", id)
            writer.member("occurredAt", occurredAt)
            writer.member("payload", payload)
            writer.member("tenantId", tenantId)
            writer.member("type", type)
            writer.member("version", version)
        }
    }
}

extension Principal: WireWritable {
    public func write(to writer: inout WireWriter) {
        writer.object { writer in
            writer.member("role", role)
            writer.member("userId", userId)
        }
    }
}

extension RequestAppointment: WireWritable {
    public func write(to writer: inout WireWriter) {
        writer.object { writer in
            writer.member("allowOffGrid", allowOffGrid)
            writer.member("appointmentId", appointmentId)
            writer.member("doctorId", doctorId)
            writer.member("endsAt", endsAt)
            writer.member("patientId", patientId)
            writer.member("reason", reason)
            writer.member("startsAt", startsAt)
        }
    }
}

extension AppointmentSnapshot: WireWritable {
    public func write(to writer: inout WireWriter) {
        writer.object { writer in
            writer.member("appointmentId", appointmentId)
            writer.member("doctorId", doctorId)
            writer.member("endsAt", endsAt)
            writer.member("patientId", patientId)
            writer.member("requestedAt", requestedAt)
            writer.member("sequence", sequence)
            writer.member("startsAt", startsAt)
            writer.member("status", status)
        }
    }
}

extension AppointmentBooked: WireWritable {
    public func write(to writer: inout WireWriter) {
        writer.object { writer in
            writer.member("appointment", appointment)
            writer.member("commandId", commandId)
            writer.member("reason", reason)
        }
    }
}

extension AppointmentDeclined: WireWritable {
    public func write(to writer: inout WireWriter) {
        writer.object { writer in
            writer.member("appointmentId", appointmentId)
            writer.member("commandId", commandId)
            writer.member("commandType", commandType)
            writer.member("doctorId", doctorId)
            writer.member("endsAt", endsAt)
            writer.member("patientId", patientId)
            writer.member("reason", reason)
            writer.member("startsAt", startsAt)
        }
    }
}

extension EmailRecipient: WireWritable {
    public func write(to writer: inout WireWriter) {
        writer.object { writer in
            writer.member("email", email)
            writer.member("name", name)
            writer.member("role", role)
            writer.member("userId", userId)
        }
    }
}

extension AppointmentSummary: WireWritable {
    public func write(to writer: inout WireWriter) {
        writer.object { writer in
            writer.member("appointmentId", appointmentId)
            writer.member("doctorId", doctorId)
            writer.member("doctorName", doctorName)
            writer.member("endsAt", endsAt)
            writer.member("patientId", patientId)
            writer.member("patientName", patientName)
            writer.member("sequence", sequence)
            writer.member("startsAt", startsAt)
            writer.member("status", status)
            writer.member("timeZone", timeZone)
        }
    }
}

extension EmailRequested: WireWritable {
    public func write(to writer: inout WireWriter) {
        writer.object { writer in
            writer.member("appointment", appointment)
            writer.member("changedBy", changedBy)
            writer.member("declineReason", declineReason)
            writer.member("idempotencyKey", idempotencyKey)
            writer.member("kind", kind)
            writer.member("link", link)
            writer.member("linkExpiresAt", linkExpiresAt)
            writer.member("previousStartsAt", previousStartsAt)
            writer.member("recipient", recipient)
        }
    }
}

extension InAppNotificationCreated: WireWritable {
    public func write(to writer: inout WireWriter) {
        writer.object { writer in
            writer.member("appointmentId", appointmentId)
            writer.member("body", body)
            writer.member("createdAt", createdAt)
            writer.member("kind", kind)
            writer.member("notificationId", notificationId)
            writer.member("recipientId", recipientId)
            writer.member("title", title)
        }
    }
}
