import Booking
import Clinic
import Contracts
import Foundation
import Hummingbird

/// Appointment commands (validated, written to Kafka, answered 202) and the reads that follow them.
///
/// The command path is thin: token → validation → the doctor from a short-lived cache (the
/// booking worker decides with the truth) → produce, acknowledged by the broker → 202. Nothing
/// on it waits for PostgreSQL: the command is recorded as issued off the request path, and the
/// booking worker records its decision with who issued it.
struct AppointmentRoutes {
    let services: IngressServices

    /// The busiest body of the API, so it reads itself (below).
    struct RequestBody: WireReadable, Documented {
        var doctorId: UUID
        var startsAt: Date
        /// Default: one slot of the doctor's slot length.
        var endsAt: Date?
        var reason: String?
        /// For admins and doctors booking on a patient's behalf; a patient books for themself.
        var patientId: UUID?
        /// Admins only: book a start that is not on the doctor's slot grid.
        var allowOffGrid: Bool?
        static let schema = Schema.object(
            [
                ("doctorId", .uuid), ("startsAt", .dateTime), ("endsAt", .dateTime), ("reason", .text(Check.textLength)),
                ("patientId", .uuid), ("allowOffGrid", .boolean),
            ], required: ["doctorId", "startsAt"])
    }

    struct ReasonBody: Decodable, Documented {
        var reason: String
        static let schema = Schema.object([("reason", .text(500, minLength: 1))], required: ["reason"])
    }

    struct RescheduleBody: Decodable, Documented {
        var startsAt: Date
        var endsAt: Date?
        var allowOffGrid: Bool?
        static let schema = Schema.object(
            [("startsAt", .dateTime), ("endsAt", .dateTime), ("allowOffGrid", .boolean)], required: ["startsAt"])
    }

    struct NotesBody: Decodable, Documented {
        var notes: String?
        static let schema = Schema.object([("notes", .text(Check.noteLength))])
    }

    struct NoteBody: Decodable, Documented {
        /// Required for a new note; a new version keeps its note's kind.
        var kind: NoteKind?
        var text: String
        /// A new version of this note of the appointment (else a new note).
        var noteId: UUID?
        static let schema = Schema.object(
            [("kind", .oneOf(NoteKind.self)), ("text", .text(AddAppointmentNote.maxLength, minLength: 1)), ("noteId", .uuid)],
            required: ["text"])
    }

    struct Accepted: Encodable, Documented {
        var commandId: UUID
        var appointmentId: UUID
        var status = "pending"
        var commandUrl: String
        /// For a note: the note the command writes a version of.
        var noteId: UUID?
        static let schema = Schema.object(
            [
                ("commandId", .uuid), ("appointmentId", .uuid), ("status", .string(values: ["pending"])), ("commandUrl", .string()),
                ("noteId", .uuid),
            ],
            required: ["commandId", "appointmentId", "status", "commandUrl"])
    }

    struct NoteList: Encodable, Documented {
        var items: [AppointmentNote]
        static let schemaName = "AppointmentNotes"
        static let schema = Schema.object([("items", .array(.ref(AppointmentNote.self)))], required: ["items"])
    }

    struct Page: Encodable, Documented {
        var items: [AppointmentRecord]
        var limit: Int
        var offset: Int
        var total: Int
        static let schemaName = "AppointmentPage"
        static let schema = Schema.object(
            [
                ("items", .array(.ref(AppointmentRecord.self))), ("limit", .integer(minimum: 1, maximum: 200)),
                ("offset", .integer(minimum: 0)), ("total", .integer(minimum: 0)),
            ], required: ["items", "limit", "offset", "total"])
    }

    struct CommandStatus: Encodable, Documented {
        var commandId: UUID
        var type: String
        var appointmentId: UUID
        /// pending, done or declined
        var status: String
        var reason: DeclineReason?
        var event: RawJSON?
        static let schema = Schema.object(
            [
                ("commandId", .uuid), ("type", .string()), ("appointmentId", .uuid),
                ("status", .string(values: ["pending", "done", "declined"])), ("reason", .oneOf(DeclineReason.self)),
                ("event", .anyObject),
            ], required: ["commandId", "type", "appointmentId", "status"])
    }

    func add(to routes: Routes) {
        let id = Doc.path("id")
        let accepted = Doc.accepted(Accepted.self, "the command is in Kafka; follow it at commandUrl")
        routes.post(
            "appointments",
            Doc("Request an appointment", tag: "appointments", body: RequestBody.self, answers: [accepted], errors: [403, 404, 409])
        ) { request, context in try await requestAppointment(request, context) }
        routes.get(
            "appointments",
            Doc(
                "Appointments (own, or the tenant's for admins)", tag: "appointments",
                parameters: [
                    Doc.query("status", .oneOf(AppointmentStatus.self)), Doc.query("from", .dateTime, "startsAt at or after"),
                    Doc.query("to", .dateTime, "startsAt before"), Doc.query("limit", .integer(minimum: 1, maximum: 200)),
                    Doc.query("offset", .integer(minimum: 0, maximum: 100_000)), Self.reasonParameter,
                ], answers: [Doc.ok(Page.self, "a page")])
        ) { request, context in try await list(request, context) }
        routes.get(
            "appointments/:id",
            Doc(
                "An appointment; audited", tag: "appointments", parameters: [id, Self.reasonParameter],
                answers: [Doc.ok(AppointmentRecord.self, "the appointment")], errors: [404])
        ) { request, context in try await get(request, context) }
        routes.post(
            "appointments/:id/cancel",
            Doc("Cancel (patient, doctor or admin)", tag: "appointments", body: ReasonBody.self, parameters: [id], answers: [accepted], errors: [403, 404, 409])
        ) { request, context in
            let (caller, appointment) = try await target(context, allowed: [.patient, .doctor, .admin], action: "cancel")
            let body = try await JSONBody.decode(ReasonBody.self, from: request, context: context)
            let reason = try Check.text(body.reason, field: "reason", max: 500)
            return try await issue(
                CancelAppointment(appointmentId: appointment.id, doctorId: appointment.doctorId, reason: reason), appointment, caller, context)
        }
        routes.post(
            "appointments/:id/confirm",
            Doc("Confirm a pending appointment (doctor)", tag: "appointments", parameters: [id], answers: [accepted], errors: [403, 404, 409])
        ) { _, context in
            let (caller, appointment) = try await target(context, allowed: [.doctor, .admin], action: "confirm")
            return try await issue(ConfirmAppointment(appointmentId: appointment.id, doctorId: appointment.doctorId), appointment, caller, context)
        }
        routes.post(
            "appointments/:id/reject",
            Doc(
                "Reject a pending appointment (doctor)", tag: "appointments", body: ReasonBody.self, parameters: [id], answers: [accepted],
                errors: [403, 404, 409])
        ) { request, context in
            let (caller, appointment) = try await target(context, allowed: [.doctor, .admin], action: "reject")
            let body = try await JSONBody.decode(ReasonBody.self, from: request, context: context)
            let reason = try Check.text(body.reason, field: "reason", max: 500)
            return try await issue(
                RejectAppointment(appointmentId: appointment.id, doctorId: appointment.doctorId, reason: reason), appointment, caller, context)
        }
        routes.post(
            "appointments/:id/reschedule",
            Doc(
                "Move to another time", tag: "appointments", body: RescheduleBody.self, parameters: [id], answers: [accepted],
                errors: [403, 404, 409])
        ) { request, context in
            let (caller, appointment) = try await target(context, allowed: [.patient, .doctor, .admin], action: "reschedule")
            let body = try await JSONBody.decode(RescheduleBody.self, from: request, context: context)
            let endsAt = body.endsAt ?? body.startsAt.addingTimeInterval(appointment.endsAt.timeIntervalSince(appointment.startsAt))
            try Check.interval(startsAt: body.startsAt, endsAt: endsAt)
            return try await issue(
                RescheduleAppointment(
                    appointmentId: appointment.id, doctorId: appointment.doctorId, startsAt: body.startsAt, endsAt: endsAt,
                    allowOffGrid: try Self.offGrid(body.allowOffGrid, caller)),
                appointment, caller, context)
        }
        routes.post(
            "appointments/:id/complete",
            Doc(
                "Complete with notes (doctor)", tag: "appointments", body: NotesBody.self, bodyRequired: false, parameters: [id],
                answers: [accepted], errors: [403, 404, 409])
        ) { request, context in
            let (caller, appointment) = try await target(context, allowed: [.doctor, .admin], action: "complete")
            let body = try await JSONBody.decodeIfPresent(NotesBody.self, from: request, context: context)
            let notes = try Check.optionalText(body?.notes, field: "notes", max: Check.noteLength)
            return try await issue(
                CompleteAppointment(appointmentId: appointment.id, doctorId: appointment.doctorId, notes: notes), appointment, caller, context)
        }
        routes.post(
            "appointments/:id/no-show",
            Doc("Mark as no-show (doctor)", tag: "appointments", parameters: [id], answers: [accepted], errors: [403, 404, 409])
        ) { _, context in
            let (caller, appointment) = try await target(context, allowed: [.doctor, .admin], action: "mark as no-show")
            return try await issue(MarkNoShow(appointmentId: appointment.id, doctorId: appointment.doctorId), appointment, caller, context)
        }
        routes.post(
            "appointments/:id/notes",
            Doc(
                "Write a medical note, or a new version of one (the appointment's doctor); never overwrites", tag: "appointments",
                body: NoteBody.self, parameters: [id], answers: [accepted], errors: [403, 404, 409])
        ) { request, context in try await addNote(request, context) }
        routes.get(
            "appointments/:id/notes",
            Doc(
                "The appointment's medical notes with every version (its patient, its doctor, an admin with a reason); audited",
                tag: "appointments", parameters: [id, Doc.header("X-Access-Reason", .text(500, minLength: 1), "why (required of admins)")],
                answers: [Doc.ok(NoteList.self, "the notes, oldest first")], errors: [404])
        ) { request, context in try await notes(request, context) }
        routes.get(
            "commands/:id",
            Doc(
                "A command's outcome: pending, done (with the event) or declined (with the reason)", tag: "appointments",
                parameters: [id], answers: [Doc.ok(CommandStatus.self, "the status")], errors: [404])
        ) { _, context in try await commandStatus(context) }
    }

    // MARK: - Commands

    func requestAppointment(_ request: Request, _ context: IngressContext) async throws -> Response {
        let caller = try context.requireUser()
        let body = try await JSONBody.decode(RequestBody.self, from: request, context: context)
        let patientId: UUID
        switch caller.role {
        case .patient:
            if let other = body.patientId, other != caller.id { throw APIError.forbidden("a patient books for themself") }
            patientId = caller.id
        case .doctor, .admin:
            guard let id = body.patientId else { throw APIError.invalid(field: "patientId", "is required when booking for a patient") }
            patientId = id
        case .system, .platform:
            throw APIError.forbidden("operators publish commands with fleet, not through the API")
        }
        guard let doctor = try await services.doctor(body.doctorId, tenant: caller.tenantId) else { throw APIError.notFound("doctor") }
        if caller.role == .doctor, caller.id != doctor.id { throw APIError.forbidden("a doctor books into their own calendar") }
        let endsAt = body.endsAt ?? body.startsAt.addingTimeInterval(Double(doctor.settings.slotMinutes) * 60)
        try Check.interval(startsAt: body.startsAt, endsAt: endsAt)
        let reason = try Check.optionalText(body.reason, field: "reason")
        // Time-ordered, as message ids are: appointments and their reminders are keyed by it.
        let command = RequestAppointment(
            appointmentId: .timeOrdered(), doctorId: doctor.id, patientId: patientId, startsAt: body.startsAt, endsAt: endsAt, reason: reason,
            allowOffGrid: try Self.offGrid(body.allowOffGrid, caller))
        return try await issue(command, appointmentId: command.appointmentId, doctorId: doctor.id, caller: caller, context: context)
    }

    /// `allowOffGrid` is an admin's to ask for; anyone else asking is told so.
    static func offGrid(_ asked: Bool?, _ caller: AuthenticatedUser) throws -> Bool? {
        guard asked == true else { return nil }
        guard caller.role == .admin else { throw APIError.forbidden("only an admin may book off the doctor's slot grid") }
        return true
    }

    /// The appointment an action is on: visible to the caller (else 404), and the caller's role
    /// may take the action (else 403). The booking worker checks the status transition.
    func target(_ context: IngressContext, allowed: Set<Role>, action: String) async throws -> (AuthenticatedUser, AppointmentRecord) {
        let caller = try context.requireUser()
        let appointment = try await visibleAppointment(try Path.id(context), to: caller)
        guard allowed.contains(caller.role) else { throw APIError.forbidden("a \(caller.role.rawValue) may not \(action) an appointment") }
        return (caller, appointment)
    }

    func issue<P: MessagePayload>(
        _ payload: P, _ appointment: AppointmentRecord, _ caller: AuthenticatedUser, _ context: IngressContext
    ) async throws -> Response {
        try await issue(payload, appointmentId: appointment.id, doctorId: appointment.doctorId, caller: caller, context: context)
    }

    /// Only the appointment's own doctor writes on it (another doctor does not see it: 404); a
    /// new version names a note of this appointment and keeps its kind. The booking worker
    /// numbers the version and checks again.
    func addNote(_ request: Request, _ context: IngressContext) async throws -> Response {
        let (caller, appointment) = try await target(context, allowed: [.doctor], action: "write notes on")
        let body = try await JSONBody.decode(NoteBody.self, from: request, context: context)
        let text = try Check.text(body.text, field: "text", max: AddAppointmentNote.maxLength)
        if appointment.status == .rejected || appointment.status == .cancelled {
            throw APIError.conflict("invalid_transition", "the appointment was \(appointment.status.rawValue): it takes no notes")
        }
        let kind: NoteKind
        let noteId: UUID
        if let existing = body.noteId {
            guard let existingKind = try await services.appointments.noteKind(existing, onAppointment: appointment.id, tenant: caller.tenantId)
            else { throw APIError.notFound("note") }
            if let asked = body.kind, asked != existingKind {
                throw APIError.invalid(field: "kind", "must stay \(existingKind.rawValue): a new version keeps its note's kind")
            }
            (kind, noteId) = (existingKind, existing)
        } else {
            guard let asked = body.kind else { throw APIError.invalid(field: "kind", "is required for a new note") }
            (kind, noteId) = (asked, .random())
        }
        let command = AddAppointmentNote(appointmentId: appointment.id, doctorId: appointment.doctorId, noteId: noteId, kind: kind, text: text)
        return try await issue(command, appointmentId: appointment.id, doctorId: appointment.doctorId, caller: caller, context: context, noteId: noteId)
    }

    /// The patient and the doctor of the appointment read its notes; an admin only with a stated
    /// reason; nobody else of the clinic sees the appointment at all (404). Every read is audited.
    func notes(_ request: Request, _ context: IngressContext) async throws -> Response {
        let caller = try context.requireUser()
        let reason = try AccessAudit.reason(request, required: caller.role == .admin)
        let appointment = try await visibleAppointment(try Path.id(context), to: caller)
        let notes = try await services.appointments.notes(onAppointment: appointment.id, tenant: caller.tenantId)
        try await AccessAudit.record(
            [AuditSubject(kind: .appointment, id: appointment.id, patientId: appointment.patientId)]
                + notes.map { AuditSubject(kind: .note, id: $0.noteId, patientId: appointment.patientId) },
            action: "GET /v1/appointments/{id}/notes", reason: reason, caller: caller, context: context, services: services)
        return try JSONBody.response(NoteList(items: notes))
    }

    /// Publishes the command (keyed by doctor) and waits for the broker's acknowledgement. If the
    /// broker does not take it the client gets a 503 and nothing says "pending".
    func issue<P: MessagePayload>(
        _ payload: P, appointmentId: UUID, doctorId: UUID, caller: AuthenticatedUser, context: IngressContext, noteId: UUID? = nil
    ) async throws -> Response {
        let envelope = Envelope(correlationId: context.requestId, tenantId: caller.tenantId, actor: caller.principal, payload: payload)
        try await services.outbox.publish(command: envelope, doctor: doctorId)
        services.issuedCommands.record(
            IssuedCommand(
                id: envelope.id, tenantId: caller.tenantId, issuedBy: caller.id, commandType: P.messageType,
                appointmentId: appointmentId, doctorId: doctorId, issuedAt: envelope.occurredAt))
        let id = envelope.id.canonical
        return try JSONBody.response(
            status: .accepted,
            Accepted(commandId: envelope.id, appointmentId: appointmentId, commandUrl: "/v1/commands/\(id)", noteId: noteId))
    }

    /// pending until the booking worker decided; then done (with the event) or declined (with the reason).
    func commandStatus(_ context: IngressContext) async throws -> Response {
        let caller = try context.requireUser()
        let id = try Path.id(context)
        if let outcome = try await services.outcomes.outcome(of: id, tenant: caller.tenantId) {
            guard caller.role == .admin || outcome.issuedBy == caller.id else { throw APIError.notFound("command") }
            if outcome.declineReason == nil { services.slotsChanged(doctor: outcome.event.doctorId) }
            return try JSONBody.response(
                CommandStatus(
                    commandId: id, type: outcome.commandType, appointmentId: outcome.appointmentId,
                    status: outcome.declineReason == nil ? "done" : "declined", reason: outcome.declineReason,
                    event: RawJSON(outcome.eventJSON)))
        }
        guard let issued = try await services.issuedCommands.find(id, tenant: caller.tenantId),
            caller.role == .admin || issued.issuedBy == caller.id
        else { throw APIError.notFound("command") }
        return try JSONBody.response(
            CommandStatus(commandId: id, type: issued.commandType, appointmentId: issued.appointmentId, status: "pending"))
    }

    // MARK: - Reads

    func visibleAppointment(_ id: UUID, to caller: AuthenticatedUser) async throws -> AppointmentRecord {
        guard let viewer = AppointmentViewer(role: caller.role, user: caller.id),
            let appointment = try await services.appointments.appointment(id, tenant: caller.tenantId, visibleTo: viewer)
        else { throw APIError.notFound("appointment") }
        return appointment
    }

    static let reasonParameter = Doc.header("X-Access-Reason", .text(500, minLength: 1), "why (recorded in the audit trail)")

    func get(_ request: Request, _ context: IngressContext) async throws -> Response {
        let caller = try context.requireUser()
        let reason = try AccessAudit.reason(request, required: false)
        let appointment = try await visibleAppointment(try Path.id(context), to: caller)
        try await AccessAudit.record(
            [AuditSubject(kind: .appointment, id: appointment.id, patientId: appointment.patientId)], action: "GET /v1/appointments/{id}",
            reason: reason, caller: caller, context: context, services: services)
        return try JSONBody.response(appointment)
    }

    /// `status`, `from`/`to` (ISO-8601 times bounding startsAt), `limit` (1…200) and `offset`.
    func list(_ request: Request, _ context: IngressContext) async throws -> Response {
        let caller = try context.requireUser()
        let parameters = QueryParameters(request)
        let query = AppointmentQuery(
            status: try parameters.choice("status", AppointmentStatus.self), from: try parameters.instant("from"),
            to: try parameters.instant("to"), limit: try parameters.int("limit", default: 50, in: 1...200),
            offset: try parameters.int("offset", default: 0, in: 0...100_000))
        guard let viewer = AppointmentViewer(role: caller.role, user: caller.id) else { throw APIError.forbidden("no appointments") }
        let reason = try AccessAudit.reason(request, required: false)
        let page = try await services.appointments.appointments(tenant: caller.tenantId, visibleTo: viewer, query: query)
        try await AccessAudit.record(
            page.items.map { AuditSubject(kind: .appointment, id: $0.id, patientId: $0.patientId) }, action: "GET /v1/appointments",
            reason: reason, caller: caller, context: context, services: services)
        return try JSONBody.response(Page(items: page.items, limit: query.limit, offset: query.offset, total: page.total))
    }
}

extension AppointmentRecord: Documented {
    static var schemaName: String { "Appointment" }
    static var schema: Schema {
        .object(
            [
                ("id", .uuid), ("tenantId", .uuid), ("doctorId", .uuid), ("patientId", .uuid), ("startsAt", .dateTime),
                ("endsAt", .dateTime), ("status", .oneOf(AppointmentStatus.self)), ("sequence", .integer(minimum: 0)),
                ("reason", .string()), ("notes", .string()), ("statusReason", .string()), ("requestedAt", .dateTime),
                ("updatedAt", .dateTime),
            ],
            required: ["id", "tenantId", "doctorId", "patientId", "startsAt", "endsAt", "status", "sequence", "requestedAt", "updatedAt"])
    }
}

/// JSON text embedded as is in an answer (a recorded event), parsed so it nests as an object.
struct RawJSON: Encodable {
    let value: JSONValue
    init(_ text: String) {
        // The text is the booking worker's own wire JSON; if it ever fails to parse, say so in it.
        value = (try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))) ?? .object(["unreadable": .bool(true)])
    }

    func encode(to encoder: any Encoder) throws {
        try value.encode(to: encoder)
    }
}

/// Any JSON value, decoded and encoded without a schema.
indirect enum JSONValue: Codable, Sendable {
    case null
    case bool(Bool)
    case integer(Int)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .integer(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }
}

extension AppointmentNote: Documented {
    static var schemaName: String { "AppointmentNote" }
    static var schema: Schema {
        let version = Schema.object(
            [("version", .integer(minimum: 1)), ("kind", .oneOf(NoteKind.self)), ("text", .string()), ("authorId", .uuid), ("createdAt", .dateTime)],
            required: ["version", "kind", "text", "authorId", "createdAt"])
        return .object(
            [
                ("noteId", .uuid), ("appointmentId", .uuid), ("kind", .oneOf(NoteKind.self)), ("version", .integer(minimum: 1)),
                ("text", .string()), ("authorId", .uuid), ("createdAt", .dateTime), ("versions", .array(version)),
            ],
            required: ["noteId", "appointmentId", "kind", "version", "text", "authorId", "createdAt", "versions"])
    }
}

/// In an extension, so that the body keeps its memberwise initializer.
extension AppointmentRoutes.RequestBody {
    /// In declaration order, as `init(from:)` would read it, with its errors (`FastPathTests`).
    init(wire reader: WireReader) throws {
        self.init(
            doctorId: try reader.required("doctorId"), startsAt: try reader.required("startsAt"), endsAt: try reader.optional("endsAt"),
            reason: try reader.optional("reason"), patientId: try reader.optional("patientId"), allowOffGrid: try reader.optional("allowOffGrid"))
    }
}
