import Contracts
import Foundation
import Postgres

/// An appointment as the API shows it.
public struct AppointmentRecord: Codable, Sendable, Equatable {
    public var id: UUID
    public var tenantId: UUID
    public var doctorId: UUID
    public var patientId: UUID
    public var startsAt: Date
    public var endsAt: Date
    public var status: AppointmentStatus
    public var sequence: Int
    public var reason: String?
    public var notes: String?
    public var statusReason: String?
    public var requestedAt: Date
    public var updatedAt: Date

    public init(
        id: UUID, tenantId: UUID, doctorId: UUID, patientId: UUID, startsAt: Date, endsAt: Date, status: AppointmentStatus,
        sequence: Int, reason: String?, notes: String?, statusReason: String?, requestedAt: Date, updatedAt: Date
    ) {
        self.id = id
        self.tenantId = tenantId
        self.doctorId = doctorId
        self.patientId = patientId
        self.startsAt = startsAt
        self.endsAt = endsAt
        self.status = status
        self.sequence = sequence
        self.reason = reason
        self.notes = notes
        self.statusReason = statusReason
        self.requestedAt = requestedAt
        self.updatedAt = updatedAt
    }
}

/// Whose appointments a reader may see: an admin all of the tenant's, a doctor their calendar's,
/// a patient their own.
public enum AppointmentViewer: Sendable, Equatable {
    case admin
    case doctor(UUID)
    case patient(UUID)

    public init?(role: Role, user: UUID) {
        switch role {
        case .admin: self = .admin
        case .doctor: self = .doctor(user)
        case .patient: self = .patient(user)
        case .system, .platform: return nil
        }
    }
}

/// A page of a viewer's appointments: `status`, and `startsAt` in [`from`, `to`).
public struct AppointmentQuery: Sendable, Equatable {
    public var status: AppointmentStatus?
    public var from: Date?
    public var to: Date?
    public var limit: Int
    public var offset: Int

    public init(status: AppointmentStatus? = nil, from: Date? = nil, to: Date? = nil, limit: Int = 50, offset: Int = 0) {
        self.status = status
        self.from = from
        self.to = to
        self.limit = limit
        self.offset = offset
    }
}

/// Reads of the booking worker's `booking.appointments` for the API.
public protocol AppointmentReads: Sendable {
    func appointment(_ id: UUID, tenant: UUID, visibleTo viewer: AppointmentViewer) async throws -> AppointmentRecord?
    func appointments(tenant: UUID, visibleTo viewer: AppointmentViewer, query: AppointmentQuery) async throws
        -> (items: [AppointmentRecord], total: Int)
    /// The patients who have (or had) an appointment with the doctor.
    func patients(ofDoctor doctor: UUID, tenant: UUID) async throws -> [UUID]
    /// The medical notes on an appointment, each with every version (oldest first). The caller
    /// has checked that the reader may see them.
    func notes(onAppointment appointment: UUID, tenant: UUID) async throws -> [AppointmentNote]
    /// The kind of a note of this appointment (its latest version's); nil when it has no such note.
    func noteKind(_ note: UUID, onAppointment appointment: UUID, tenant: UUID) async throws -> NoteKind?
}

/// A medical note with all its versions: nothing is ever overwritten.
public struct AppointmentNote: Codable, Sendable, Equatable {
    public var noteId: UUID
    public var appointmentId: UUID
    /// The latest version's kind, number, text, author and time.
    public var kind: NoteKind
    public var version: Int
    public var text: String
    public var authorId: UUID
    public var createdAt: Date
    /// Every version, oldest first (the last is the one above).
    public var versions: [Version]

    public struct Version: Codable, Sendable, Equatable {
        public var version: Int
        public var kind: NoteKind
        public var text: String
        public var authorId: UUID
        public var createdAt: Date

        public init(version: Int, kind: NoteKind, text: String, authorId: UUID, createdAt: Date) {
            self.version = version
            self.kind = kind
            self.text = text
            self.authorId = authorId
            self.createdAt = createdAt
        }
    }

    /// Nil without versions.
    public init?(noteId: UUID, appointmentId: UUID, versions: [Version]) {
        let ordered = versions.sorted { $0.version < $1.version }
        guard let latest = ordered.last else { return nil }
        self.noteId = noteId
        self.appointmentId = appointmentId
        kind = latest.kind
        version = latest.version
        text = latest.text
        authorId = latest.authorId
        createdAt = latest.createdAt
        self.versions = ordered
    }
}

public struct PostgresAppointmentReads: AppointmentReads {
    let pool: PostgresPool

    public init(pool: PostgresPool) {
        self.pool = pool
    }

    static let columns = """
        a.id, a.tenant_id, a.doctor_id, a.patient_id, a.starts_at, a.ends_at, a.status, a.sequence, a.reason, a.notes,
        a.status_reason, a.requested_at, a.updated_at
        """

    static func record(from row: PostgresRow) throws -> AppointmentRecord {
        let statusText = try row.decode(String.self, "status")
        guard let status = AppointmentStatus(rawValue: statusText) else {
            throw PostgresError(kind: .decoding, message: "booking.appointments.status holds '\(statusText.prefix(20))'")
        }
        return AppointmentRecord(
            id: try row.decode(UUID.self, "id"), tenantId: try row.decode(UUID.self, "tenant_id"),
            doctorId: try row.decode(UUID.self, "doctor_id"), patientId: try row.decode(UUID.self, "patient_id"),
            startsAt: try row.decode(Date.self, "starts_at"), endsAt: try row.decode(Date.self, "ends_at"), status: status,
            sequence: try row.decode(Int.self, "sequence"), reason: try row.decode(String?.self, "reason"),
            notes: try row.decode(String?.self, "notes"), statusReason: try row.decode(String?.self, "status_reason"),
            requestedAt: try row.decode(Date.self, "requested_at"), updatedAt: try row.decode(Date.self, "updated_at"))
    }

    /// `$1` tenant, `$2` viewer kind, `$3` viewer id.
    static let visibility = """
        a.tenant_id = $1 AND ($2 = 'admin' OR ($2 = 'patient' AND a.patient_id = $3) OR ($2 = 'doctor' AND a.doctor_id = $3))
        """

    static func parameters(_ viewer: AppointmentViewer) -> (String, UUID?) {
        switch viewer {
        case .admin: ("admin", nil)
        case .doctor(let id): ("doctor", id)
        case .patient(let id): ("patient", id)
        }
    }

    public func appointment(_ id: UUID, tenant: UUID, visibleTo viewer: AppointmentViewer) async throws -> AppointmentRecord? {
        let (kind, viewerId) = Self.parameters(viewer)
        return try await pool.query(
            "SELECT \(Self.columns) FROM booking.appointments a WHERE \(Self.visibility) AND a.id = $4",
            [tenant, kind, viewerId, id]
        ).first.map(Self.record(from:))
    }

    public func appointments(tenant: UUID, visibleTo viewer: AppointmentViewer, query: AppointmentQuery) async throws
        -> (items: [AppointmentRecord], total: Int)
    {
        let (kind, viewerId) = Self.parameters(viewer)
        let filter = """
            \(Self.visibility) AND ($4::text IS NULL OR a.status = $4)
            AND ($5::timestamptz IS NULL OR a.starts_at >= $5) AND ($6::timestamptz IS NULL OR a.starts_at < $6)
            """
        let parameters: [any PostgresBindable] = [tenant, kind, viewerId, query.status?.rawValue, query.from, query.to]
        let rows = try await pool.query(
            """
            SELECT \(Self.columns), count(*) OVER () AS total FROM booking.appointments a WHERE \(filter)
            ORDER BY a.starts_at, a.id LIMIT $7 OFFSET $8
            """, parameters + [query.limit, query.offset])
        let items = try rows.map(Self.record(from:))
        if let first = rows.first { return (items, try first.decode(Int.self, "total")) }
        // An empty page (e.g. an offset past the end) still says how many there are.
        let total = try await pool.query("SELECT count(*) AS total FROM booking.appointments a WHERE \(filter)", parameters)
        return (items, try total.first?.decode(Int.self, "total") ?? 0)
    }

    public func notes(onAppointment appointment: UUID, tenant: UUID) async throws -> [AppointmentNote] {
        let rows = try await pool.query(
            """
            SELECT note_id, version, kind, body, author_id, created_at FROM booking.appointment_notes
            WHERE tenant_id = $1 AND appointment_id = $2
            ORDER BY min(created_at) OVER (PARTITION BY note_id), note_id, version
            """, [tenant, appointment])
        var order: [UUID] = []
        var versions: [UUID: [AppointmentNote.Version]] = [:]
        for row in rows {
            let kindText = try row.decode(String.self, "kind")
            guard let kind = NoteKind(rawValue: kindText) else {
                throw PostgresError(kind: .decoding, message: "booking.appointment_notes.kind holds '\(kindText.prefix(20))'")
            }
            let noteId = try row.decode(UUID.self, "note_id")
            if versions[noteId] == nil { order.append(noteId) }
            versions[noteId, default: []].append(
                .init(
                    version: try row.decode(Int.self, "version"), kind: kind, text: try row.decode(String.self, "body"),
                    authorId: try row.decode(UUID.self, "author_id"), createdAt: try row.decode(Date.self, "created_at")))
        }
        // The oldest note first (by its first version).
        return order.compactMap { AppointmentNote(noteId: $0, appointmentId: appointment, versions: versions[$0] ?? []) }
    }

    public func noteKind(_ note: UUID, onAppointment appointment: UUID, tenant: UUID) async throws -> NoteKind? {
        let rows = try await pool.query(
            """
            SELECT kind FROM booking.appointment_notes WHERE tenant_id = $1 AND appointment_id = $2 AND note_id = $3
            ORDER BY version DESC LIMIT 1
            """, [tenant, appointment, note])
        guard let row = rows.first else { return nil }
        let kindText = try row.decode(String.self, "kind")
        guard let kind = NoteKind(rawValue: kindText) else {
            throw PostgresError(kind: .decoding, message: "booking.appointment_notes.kind holds '\(kindText.prefix(20))'")
        }
        return kind
    }

    public func patients(ofDoctor doctor: UUID, tenant: UUID) async throws -> [UUID] {
        try await pool.query(
            "SELECT DISTINCT patient_id FROM booking.appointments WHERE tenant_id = $1 AND doctor_id = $2", [tenant, doctor]
        ).map { try $0.decode(UUID.self, "patient_id") }
    }
}
