import Contracts
import Foundation
import Postgres
import Synchronization

/// A command the ingress accepted (202), as `GET /v1/commands/{id}` shows it while it is pending.
public struct IssuedCommand: Sendable, Equatable {
    public var id: UUID
    public var tenantId: UUID
    public var issuedBy: UUID
    public var commandType: String
    public var appointmentId: UUID
    public var doctorId: UUID
    public var issuedAt: Date

    public init(id: UUID, tenantId: UUID, issuedBy: UUID, commandType: String, appointmentId: UUID, doctorId: UUID, issuedAt: Date) {
        self.id = id
        self.tenantId = tenantId
        self.issuedBy = issuedBy
        self.commandType = commandType
        self.appointmentId = appointmentId
        self.doctorId = doctorId
        self.issuedAt = issuedAt
    }
}

/// Commands accepted but perhaps not yet decided. Recording never waits for the database: the
/// command is already in Kafka (that is what the 202 promises); this record only lets a client
/// see "pending" before the booking worker, which records who issued what with its decision,
/// has decided. Records are written in batches by `flush()`.
public protocol IssuedCommandLog: Sendable {
    /// Keeps the command for the next flush (never blocks, never fails).
    func record(_ command: IssuedCommand)
    func find(_ id: UUID, tenant: UUID) async throws -> IssuedCommand?
    /// Writes what was recorded since the last flush; what cannot be written stays for the next.
    func flush() async throws
}

public final class PostgresIssuedCommandLog: IssuedCommandLog {
    let pool: PostgresPool
    /// Recorded and not yet written (`waiting`), and being written (`writing`): both stay
    /// visible to `find` until the insert committed. Bounded, so an outage cannot eat the memory.
    private let pending = Mutex(Pending())

    struct Pending {
        var waiting: [IssuedCommand] = []
        var writing: [IssuedCommand] = []
    }
    private let capacity: Int

    public init(pool: PostgresPool, capacity: Int = 100_000) {
        self.pool = pool
        self.capacity = capacity
    }

    public func record(_ command: IssuedCommand) {
        pending.withLock { pending in
            // Past capacity the oldest go first: they are the likeliest to be decided already.
            if pending.waiting.count >= capacity { pending.waiting.removeFirst(pending.waiting.count - capacity + 1) }
            pending.waiting.append(command)
        }
    }

    public func find(_ id: UUID, tenant: UUID) async throws -> IssuedCommand? {
        let unwritten = pending.withLock { pending in
            (pending.waiting.last { $0.id == id } ?? pending.writing.last { $0.id == id }).flatMap { $0.tenantId == tenant ? $0 : nil }
        }
        if let unwritten { return unwritten }
        return try await pool.query(
            """
            SELECT id, tenant_id, issued_by, command_type, appointment_id, doctor_id, issued_at FROM identity.issued_commands
            WHERE id = $1 AND tenant_id = $2
            """, [id, tenant]
        ).first.map { row in
            IssuedCommand(
                id: try row.decode(UUID.self, "id"), tenantId: try row.decode(UUID.self, "tenant_id"),
                issuedBy: try row.decode(UUID.self, "issued_by"), commandType: try row.decode(String.self, "command_type"),
                appointmentId: try row.decode(UUID.self, "appointment_id"), doctorId: try row.decode(UUID.self, "doctor_id"),
                issuedAt: try row.decode(Date.self, "issued_at"))
        }
    }

    /// Command types are `appointment.request` and the like; anything else is not written as is.
    static func safeType(_ type: String) -> String {
        type.allSatisfy({ $0.isASCII && ($0.isLetter || $0 == "." || $0 == "_") }) && !type.isEmpty ? type : "unknown"
    }

    public func flush() async throws {
        let batch = pending.withLock { pending in
            pending.writing = pending.waiting
            pending.waiting.removeAll(keepingCapacity: true)
            return pending.writing
        }
        guard !batch.isEmpty else { return }
        defer { pending.withLock { $0.writing.removeAll(keepingCapacity: true) } }
        do {
            // Array literals written directly: ids, command types and ISO times need no quoting, and
            // quoting thousands of them a second showed in the ingress's profile.
            func literal(_ values: [String]) -> String { "{" + values.joined(separator: ",") + "}" }
            try await pool.query(
                """
                INSERT INTO identity.issued_commands (id, tenant_id, issued_by, command_type, appointment_id, doctor_id, issued_at)
                SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::uuid[], $6::uuid[], $7::timestamptz[])
                ON CONFLICT (id) DO NOTHING
                """,
                [
                    literal(batch.map(\.id.canonical)), literal(batch.map(\.tenantId.canonical)), literal(batch.map(\.issuedBy.canonical)),
                    literal(batch.map { Self.safeType($0.commandType) }), literal(batch.map(\.appointmentId.canonical)),
                    literal(batch.map(\.doctorId.canonical)), literal(batch.map { WireCoding.formatTimestamp($0.issuedAt) }),
                ])
        } catch {
            pending.withLock { pending in
                pending.waiting.insert(contentsOf: batch.suffix(capacity - min(capacity, pending.waiting.count)), at: 0)
            }
            throw error
        }
    }
}
