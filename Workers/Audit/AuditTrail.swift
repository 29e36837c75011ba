import Contracts
import Foundation
import Postgres

/// One row of the audit trail: one subject of one read.
public struct AuditRecord: Codable, Sendable, Equatable {
    public var eventId: UUID
    public var tenantId: UUID
    public var actorId: UUID?
    public var actorRole: Role
    public var action: String
    public var subjectKind: AuditSubjectKind
    public var subjectId: UUID
    public var patientId: UUID?
    public var reason: String?
    public var address: String
    public var requestId: String
    public var at: Date

    public init(
        eventId: UUID, tenantId: UUID, actorId: UUID?, actorRole: Role, action: String, subjectKind: AuditSubjectKind, subjectId: UUID,
        patientId: UUID?, reason: String?, address: String, requestId: String, at: Date
    ) {
        self.eventId = eventId
        self.tenantId = tenantId
        self.actorId = actorId
        self.actorRole = actorRole
        self.action = action
        self.subjectKind = subjectKind
        self.subjectId = subjectId
        self.patientId = patientId
        self.reason = reason
        self.address = address
        self.requestId = requestId
        self.at = at
    }

    /// The rows of one access event.
    public static func rows(of access: HealthDataAccessed, _ metadata: EnvelopeMetadata) -> [AuditRecord] {
        access.subjects.map { subject in
            AuditRecord(
                eventId: metadata.id, tenantId: metadata.tenantId, actorId: metadata.actor.userId, actorRole: metadata.actor.role,
                action: access.action, subjectKind: subject.kind, subjectId: subject.id, patientId: subject.patientId,
                reason: access.reason, address: access.address, requestId: access.requestId, at: metadata.occurredAt)
        }
    }
}

/// Which part of the trail: a subject (an appointment, a note, or a patient and everything about
/// them), an actor, a time range.
public struct AuditQuery: Sendable, Equatable {
    public var subject: UUID?
    public var actor: UUID?
    public var from: Date?
    public var to: Date?
    public var limit: Int
    public var offset: Int

    public init(subject: UUID? = nil, actor: UUID? = nil, from: Date? = nil, to: Date? = nil, limit: Int = 100, offset: Int = 0) {
        self.subject = subject
        self.actor = actor
        self.from = from
        self.to = to
        self.limit = limit
        self.offset = offset
    }
}

/// The audit trail (`audit.trail`, the audit worker's schema): appended to by the audit worker,
/// read by admins through the ingress. Nothing changes or removes a row.
public protocol AuditTrail: Sendable {
    /// Appends the rows (a row already there, by event and subject, is not added again).
    func append(_ records: [AuditRecord]) async throws
    /// Newest first, with the total.
    func records(tenant: UUID, _ query: AuditQuery) async throws -> (items: [AuditRecord], total: Int)
}

public struct PostgresAuditTrail: AuditTrail {
    let pool: PostgresPool

    public init(pool: PostgresPool) {
        self.pool = pool
    }

    public func append(_ records: [AuditRecord]) async throws {
        guard !records.isEmpty else { return }
        try await pool.query(
            """
            INSERT INTO audit.trail (event_id, tenant_id, actor_id, actor_role, action, subject_kind, subject_id, patient_id, reason,
                address, request_id, at)
            SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::uuid[], $8::uuid[],
                $9::text[], $10::text[], $11::text[], $12::timestamptz[])
            ON CONFLICT (event_id, subject_kind, subject_id) DO NOTHING
            """,
            [
                records.map(\.eventId), records.map(\.tenantId), records.map(\.actorId), records.map(\.actorRole.rawValue),
                records.map(\.action), records.map(\.subjectKind.rawValue), records.map(\.subjectId), records.map(\.patientId),
                records.map(\.reason), records.map(\.address), records.map(\.requestId), records.map(\.at),
            ])
    }

    public func records(tenant: UUID, _ query: AuditQuery) async throws -> (items: [AuditRecord], total: Int) {
        let rows = try await pool.query(
            """
            SELECT event_id, tenant_id, actor_id, actor_role, action, subject_kind, subject_id, patient_id, reason, address, request_id,
                   at, count(*) OVER () AS total
            FROM audit.trail
            WHERE tenant_id = $1 AND ($2::uuid IS NULL OR subject_id = $2 OR patient_id = $2) AND ($3::uuid IS NULL OR actor_id = $3)
              AND ($4::timestamptz IS NULL OR at >= $4) AND ($5::timestamptz IS NULL OR at < $5)
            ORDER BY at DESC, id DESC LIMIT $6 OFFSET $7
            """, [tenant, query.subject, query.actor, query.from, query.to, query.limit, query.offset])
        let items = try rows.map { row in
            let role = try row.decode(String.self, "actor_role")
            let kind = try row.decode(String.self, "subject_kind")
            guard let actorRole = Role(rawValue: role), let subjectKind = AuditSubjectKind(rawValue: kind) else {
                throw PostgresError(kind: .decoding, message: "audit.trail holds an unknown role or subject kind")
            }
            return AuditRecord(
                eventId: try row.decode(UUID.self, "event_id"), tenantId: try row.decode(UUID.self, "tenant_id"),
                actorId: try row.decode(UUID?.self, "actor_id"), actorRole: actorRole, action: try row.decode(String.self, "action"),
                subjectKind: subjectKind, subjectId: try row.decode(UUID.self, "subject_id"), patientId: try row.decode(UUID?.self, "patient_id"),
                reason: try row.decode(String?.self, "reason"), address: try row.decode(String.self, "address"),
                requestId: try row.decode(String.self, "request_id"), at: try row.decode(Date.self, "at"))
        }
        return (items, try rows.first?.decode(Int.self, "total") ?? 0)
    }
}
