import Clinic
import Contracts
import Foundation
import Hummingbird
import Kafka
import Postgres

/// Appointment commands (validated, written to Kafka, answered 202) and the reads that follow them.
struct AppointmentRoutes {
    let services: IngressServices

    struct RequestBody: Decodable {
        var doctorId: UUID
        var startsAt: Date
        /// Default: one slot of the doctor's slot length.
        var endsAt: Date?
        var reason: String?
        /// For admins and doctors booking on a patient's behalf; a patient books for themself.
        var patientId: UUID?
    }

    struct ReasonBody: Decodable {
        var reason: String
    }

    struct RescheduleBody: Decodable {
        var startsAt: Date
        var endsAt: Date?
    }

    struct NotesBody: Decodable {
        var notes: String?
    }

    struct Accepted: Encodable {
        var commandId: UUID
        var appointmentId: UUID
        var status = "pending"
        var commandUrl: String
    }

    struct AppointmentView: Encodable {
        var id: UUID
        var doctorId: UUID
        var patientId: UUID
        var startsAt: Date
        var endsAt: Date
        var status: String
        var sequence: Int
        var reason: String?
        var notes: String?
        var statusReason: String?
        var requestedAt: Date
        var updatedAt: Date
    }

    struct Page: Encodable {
        var items: [AppointmentView]
        var limit: Int
        var offset: Int
        var total: Int
    }

    struct CommandStatus: Encodable {
        var commandId: UUID
        var type: String
        var appointmentId: UUID
        /// pending, done or declined
        var status: String
        var reason: String?
        var event: RawJSON?
    }

    func add(to router: RouterGroup<IngressContext>) {
        router.post("appointments") { request, context in try await requestAppointment(request, context) }
        router.get("appointments") { request, context in try await list(request, context) }
        router.get("appointments/:id") { _, context in try await get(context) }
        router.post("appointments/:id/cancel") { request, context in
            let (caller, appointment) = try await target(context, allowed: [.patient, .doctor, .admin], action: "cancel")
            let body = try await JSONBody.decode(ReasonBody.self, from: request, context: context)
            let reason = try Check.text(body.reason, field: "reason", max: 500)
            return try await issue(
                CancelAppointment(appointmentId: appointment.id, doctorId: appointment.doctorId, reason: reason), appointment, caller, context)
        }
        router.post("appointments/:id/confirm") { _, context in
            let (caller, appointment) = try await target(context, allowed: [.doctor, .admin], action: "confirm")
            return try await issue(ConfirmAppointment(appointmentId: appointment.id, doctorId: appointment.doctorId), appointment, caller, context)
        }
        router.post("appointments/:id/reject") { request, context in
            let (caller, appointment) = try await target(context, allowed: [.doctor, .admin], action: "reject")
            let body = try await JSONBody.decode(ReasonBody.self, from: request, context: context)
            let reason = try Check.text(body.reason, field: "reason", max: 500)
            return try await issue(
                RejectAppointment(appointmentId: appointment.id, doctorId: appointment.doctorId, reason: reason), appointment, caller, context)
        }
        router.post("appointments/:id/reschedule") { request, context in
            let (caller, appointment) = try await target(context, allowed: [.patient, .doctor, .admin], action: "reschedule")
            let body = try await JSONBody.decode(RescheduleBody.self, from: request, context: context)
            let endsAt = body.endsAt ?? body.startsAt.addingTimeInterval(appointment.endsAt.timeIntervalSince(appointment.startsAt))
            try Check.interval(startsAt: body.startsAt, endsAt: endsAt)
            return try await issue(
                RescheduleAppointment(appointmentId: appointment.id, doctorId: appointment.doctorId, startsAt: body.startsAt, endsAt: endsAt),
                appointment, caller, context)
        }
        router.post("appointments/:id/complete") { request, context in
            let (caller, appointment) = try await target(context, allowed: [.doctor, .admin], action: "complete")
            let body = try await JSONBody.decodeIfPresent(NotesBody.self, from: request, context: context)
            let notes = try Check.optionalText(body?.notes, field: "notes", max: 10_000)
            return try await issue(
                CompleteAppointment(appointmentId: appointment.id, doctorId: appointment.doctorId, notes: notes), appointment, caller, context)
        }
        router.post("appointments/:id/no-show") { _, context in
            let (caller, appointment) = try await target(context, allowed: [.doctor, .admin], action: "mark as no-show")
            return try await issue(MarkNoShow(appointmentId: appointment.id, doctorId: appointment.doctorId), appointment, caller, context)
        }
        router.get("commands/:id") { _, context in try await commandStatus(context) }
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
        default:
            guard let id = body.patientId else { throw APIError.invalid(field: "patientId", "is required when booking for a patient") }
            patientId = id
        }
        let doctor = try await services.database.withConnection {
            try await ClinicStore.doctor(body.doctorId, tenant: caller.tenantId, on: $0)
        }
        guard let doctor else { throw APIError.notFound("doctor") }
        if caller.role == .doctor, caller.id != doctor.id { throw APIError.forbidden("a doctor books into their own calendar") }
        if caller.role != .patient {
            let known = try await services.database.query(
                "SELECT 1 FROM directory.patients WHERE id = $1 AND tenant_id = $2", [patientId, caller.tenantId])
            guard !known.isEmpty else { throw APIError.notFound("patient") }
        }
        let endsAt = body.endsAt ?? body.startsAt.addingTimeInterval(Double(doctor.settings.slotMinutes) * 60)
        try Check.interval(startsAt: body.startsAt, endsAt: endsAt)
        let reason = try Check.optionalText(body.reason, field: "reason", max: 2000)
        let command = RequestAppointment(
            appointmentId: UUID(), doctorId: doctor.id, patientId: patientId, startsAt: body.startsAt, endsAt: endsAt, reason: reason)
        return try await issue(command, appointmentId: command.appointmentId, doctorId: doctor.id, caller: caller, context: context)
    }

    /// The appointment an action is on: visible to the caller (else 404), and the caller's role
    /// may take the action (else 403). The booking worker checks the status transition.
    func target(_ context: IngressContext, allowed: Set<Role>, action: String) async throws -> (AuthenticatedUser, AppointmentView) {
        let caller = try context.requireUser()
        let appointment = try await visibleAppointment(try Path.id(context), to: caller)
        guard allowed.contains(caller.role) else { throw APIError.forbidden("a \(caller.role.rawValue) may not \(action) an appointment") }
        return (caller, appointment)
    }

    func issue<P: MessagePayload>(
        _ payload: P, _ appointment: AppointmentView, _ caller: AuthenticatedUser, _ context: IngressContext
    ) async throws -> Response {
        try await issue(payload, appointmentId: appointment.id, doctorId: appointment.doctorId, caller: caller, context: context)
    }

    /// Records the command as issued, publishes it (keyed by doctor) and waits for the broker.
    func issue<P: MessagePayload>(
        _ payload: P, appointmentId: UUID, doctorId: UUID, caller: AuthenticatedUser, context: IngressContext
    ) async throws -> Response {
        let envelope = Envelope(
            correlationId: context.requestId, tenantId: caller.tenantId, actor: caller.principal, payload: payload)
        try await services.database.query(
            """
            INSERT INTO identity.issued_commands (id, tenant_id, issued_by, command_type, appointment_id, doctor_id)
            VALUES ($1, $2, $3, $4, $5, $6)
            """, [envelope.id, caller.tenantId, caller.id, P.messageType, appointmentId, doctorId])
        try await services.producer.send(
            ProducerRecord(
                topic: services.commandsTopic, key: doctorId.uuidString.lowercased(), value: try envelope.encoded(),
                headers: [KafkaHeader(HeaderName.correlationId, context.requestId)]))
        return JSONBody.response(
            status: .accepted,
            Accepted(commandId: envelope.id, appointmentId: appointmentId, commandUrl: "/v1/commands/\(envelope.id.uuidString.lowercased())"))
    }

    /// pending until the booking worker decided; then done (with the event) or declined (with the reason).
    func commandStatus(_ context: IngressContext) async throws -> Response {
        let caller = try context.requireUser()
        let id = try Path.id(context)
        let rows = try await services.database.query(
            """
            SELECT c.command_type, c.appointment_id, p.event_type, p.event
            FROM identity.issued_commands c LEFT JOIN booking.processed_commands p ON p.command_id = c.id
            WHERE c.id = $1 AND c.tenant_id = $2 AND (c.issued_by = $3 OR $4 = 'admin')
            """, [id, caller.tenantId, caller.id, caller.role.rawValue])
        guard let row = rows.first else { throw APIError.notFound("command") }
        var status = CommandStatus(
            commandId: id, type: try row.decode(String.self, 0), appointmentId: try row.decode(UUID.self, 1), status: "pending")
        if let type = try row.decode(String?.self, 2), let event = try row.decode(String?.self, 3) {
            status.event = RawJSON(event)
            if type == AppointmentDeclined.messageType {
                status.status = "declined"
                let decoded = try? Catalogs.appointmentEvents.decode(Data(event.utf8)).payload as? AppointmentDeclined
                status.reason = decoded?.reason.rawValue
            } else {
                status.status = "done"
            }
        }
        return JSONBody.response(status)
    }

    // MARK: - Reads

    static let columns = """
        a.id, a.doctor_id, a.patient_id, a.starts_at, a.ends_at, a.status, a.sequence, a.reason, a.notes, a.status_reason,
        a.requested_at, a.updated_at
        """

    static func view(_ row: PostgresRow) throws -> AppointmentView {
        AppointmentView(
            id: try row.decode(UUID.self, 0), doctorId: try row.decode(UUID.self, 1), patientId: try row.decode(UUID.self, 2),
            startsAt: try row.decode(Date.self, 3), endsAt: try row.decode(Date.self, 4), status: try row.decode(String.self, 5),
            sequence: try row.decode(Int.self, 6), reason: try row.decode(String?.self, 7), notes: try row.decode(String?.self, 8),
            statusReason: try row.decode(String?.self, 9), requestedAt: try row.decode(Date.self, 10),
            updatedAt: try row.decode(Date.self, 11))
    }

    /// Visible: a patient's own, a doctor's own, everything of the tenant for an admin.
    static let visibility = "a.tenant_id = $1 AND ($2 = 'admin' OR ($2 = 'patient' AND a.patient_id = $3) OR ($2 = 'doctor' AND a.doctor_id = $3))"

    func visibleAppointment(_ id: UUID, to caller: AuthenticatedUser) async throws -> AppointmentView {
        let rows = try await services.database.query(
            "SELECT \(Self.columns) FROM booking.appointments a WHERE \(Self.visibility) AND a.id = $4",
            [caller.tenantId, caller.role.rawValue, caller.id, id])
        guard let row = rows.first else { throw APIError.notFound("appointment") }
        return try Self.view(row)
    }

    func get(_ context: IngressContext) async throws -> Response {
        let caller = try context.requireUser()
        return JSONBody.response(try await visibleAppointment(try Path.id(context), to: caller))
    }

    /// `status`, `from`/`to` (ISO-8601 times bounding startsAt), `limit` (≤ 200) and `offset`.
    func list(_ request: Request, _ context: IngressContext) async throws -> Response {
        let caller = try context.requireUser()
        let query = request.uri.queryParameters
        let status = query.get("status")
        if let status, AppointmentStatus(rawValue: status) == nil {
            throw APIError.malformed(field: "status", "status must be one of \(AppointmentStatus.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        func time(_ name: String) throws -> Date? {
            guard let text = query.get(name) else { return nil }
            guard let date = WireCoding.parseTimestamp(text) else { throw APIError.malformed(field: name, "\(name) must be an ISO-8601 time") }
            return date
        }
        let from = try time("from")
        let to = try time("to")
        let limit = min(200, max(1, Int(query.get("limit") ?? "") ?? 50))
        let offset = max(0, Int(query.get("offset") ?? "") ?? 0)
        let filter = """
            \(Self.visibility) AND ($4::text IS NULL OR a.status = $4)
            AND ($5::timestamptz IS NULL OR a.starts_at >= $5) AND ($6::timestamptz IS NULL OR a.starts_at < $6)
            """
        let parameters: [any PostgresBindable] = [caller.tenantId, caller.role.rawValue, caller.id, status, from, to]
        let rows = try await services.database.query(
            "SELECT \(Self.columns) FROM booking.appointments a WHERE \(filter) ORDER BY a.starts_at, a.id LIMIT $7 OFFSET $8",
            parameters + [limit, offset])
        let total = try await services.database.query("SELECT count(*) FROM booking.appointments a WHERE \(filter)", parameters)
        return JSONBody.response(
            Page(items: try rows.map(Self.view), limit: limit, offset: offset, total: try total[0].decode(Int.self, 0)))
    }
}

/// JSON text embedded as is in an answer (a recorded event).
struct RawJSON: Encodable {
    let value: JSONValue?
    init(_ text: String) { value = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) }

    func encode(to encoder: any Encoder) throws {
        try (value ?? .null).encode(to: encoder)
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
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Int.self) { self = .integer(value) }
        else if let value = try? container.decode(Double.self) { self = .number(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([JSONValue].self) { self = .array(value) }
        else { self = .object(try container.decode([String: JSONValue].self)) }
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
