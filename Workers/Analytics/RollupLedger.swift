import Contracts
import Foundation
import Postgres

/// Counts appointment events into the rollup tables of one schema: `analytics` for the live
/// worker, a fresh schema for a rebuild. Every figure lands on the appointment's day in the
/// doctor's time zone; an event id counts once.
public struct RollupLedger: Sendable {
    /// The schema holding `daily_rollups`, `daily_declines`, `lead_times` and `counted_events`.
    public let schema: String

    public init(schema: String = "analytics") {
        precondition(schema.allSatisfy { $0.isLowercase || $0.isNumber || $0 == "_" }, "schema names are generated, never input")
        self.schema = schema
    }

    enum Column: String, CaseIterable {
        case requested, booked, confirmed, rejected, completed
        case noShows = "no_shows"
        case cancelledByPatient = "cancelled_by_patient"
        case cancelledByDoctor = "cancelled_by_doctor"
        case cancelledByClinic = "cancelled_by_clinic"
        case bookedMinutes = "booked_minutes"
    }

    /// Counts one event (in the caller's transaction). False when it was counted before.
    @discardableResult
    public func apply(_ event: DecodedMessage, on connection: PostgresConnection) async throws -> Bool {
        try await apply([event], on: connection) == 1
    }

    /// Counts a batch of events in order (in the caller's transaction) with a fixed number of
    /// statements, whatever the batch's size; returns how many had not been counted before.
    /// Every figure lands on the appointment's local day, computed by PostgreSQL from the
    /// doctor's time zone, exactly as one event at a time would.
    public func apply(_ events: [DecodedMessage], on connection: PostgresConnection) async throws -> Int {
        guard !events.isEmpty else { return 0 }
        var claimedIds: Set<UUID> = []
        let claims = events.filter { claimedIds.insert($0.metadata.id).inserted }
        let claimed = Set(
            try await connection.query(
                """
                INSERT INTO \(schema).counted_events (event_id, tenant_id) SELECT * FROM unnest($1::uuid[], $2::uuid[])
                ON CONFLICT DO NOTHING RETURNING event_id
                """, [claims.map(\.metadata.id), claims.map(\.metadata.tenantId)]
            ).map { try $0.decode(UUID.self, "event_id") })
        var tally = Tally()
        var undated: [UUID] = []
        let fresh = try claims.filter { claimed.contains($0.metadata.id) }.map { event in
            let typed = try AppointmentEvent(event)
            if case .declined(let declined) = typed, declined.startsAt == nil { undated.append(declined.appointmentId) }
            return (event.metadata, typed)
        }
        let startTimes = try await startTimes(of: undated, on: connection)
        for (metadata, event) in fresh {
            tally.count(event, metadata: metadata, startsAt: startTimes)
        }
        try await write(tally, on: connection)
        return fresh.count
    }

    /// What a batch adds: rows of the rollups, declines and lead times before their local day is known.
    struct Tally {
        var rollups: [(tenant: UUID, doctor: UUID, at: Date, counts: [Column: Int])] = []
        var declines: [(tenant: UUID, doctor: UUID, at: Date, reason: String)] = []
        var leadTimes: [(event: UUID, tenant: UUID, doctor: UUID, at: Date, minutes: Double)] = []

        mutating func add(_ counts: [Column: Int], tenant: UUID, doctor: UUID, at time: Date) {
            let nonZero = counts.filter { $0.value != 0 }
            if !nonZero.isEmpty { rollups.append((tenant, doctor, time, nonZero)) }
        }

        mutating func count(_ event: AppointmentEvent, metadata: EnvelopeMetadata, startsAt known: [UUID: Date]) {
            let tenant = metadata.tenantId
            func minutes(_ start: Date, _ end: Date) -> Int { Int((end.timeIntervalSince(start) / 60).rounded()) }
            switch event {
            case .booked(let booked):
                let a = booked.appointment
                add([.requested: 1, .booked: 1, .bookedMinutes: minutes(a.startsAt, a.endsAt)], tenant: tenant, doctor: a.doctorId, at: a.startsAt)
                leadTimes.append((metadata.id, tenant, a.doctorId, a.startsAt, a.startsAt.timeIntervalSince(a.requestedAt) / 60))
            case .declined(let declined):
                let at = declined.startsAt ?? known[declined.appointmentId] ?? metadata.occurredAt
                if declined.commandType == RequestAppointment.messageType {
                    add([.requested: 1], tenant: tenant, doctor: declined.doctorId, at: at)
                }
                declines.append((tenant, declined.doctorId, at, declined.reason.rawValue))
            case .confirmed(let confirmed):
                add([.confirmed: 1], tenant: tenant, doctor: confirmed.appointment.doctorId, at: confirmed.appointment.startsAt)
            case .rejected(let rejected):
                let a = rejected.appointment
                add([.rejected: 1, .bookedMinutes: -minutes(a.startsAt, a.endsAt)], tenant: tenant, doctor: a.doctorId, at: a.startsAt)
            case .cancelled(let cancelled):
                let a = cancelled.appointment
                let column: Column =
                    switch cancelled.cancelledBy.role {
                    case .patient: .cancelledByPatient
                    case .doctor: .cancelledByDoctor
                    case .admin, .system, .platform: .cancelledByClinic
                    }
                add([column: 1, .bookedMinutes: -minutes(a.startsAt, a.endsAt)], tenant: tenant, doctor: a.doctorId, at: a.startsAt)
            case .rescheduled(let rescheduled):
                let a = rescheduled.appointment
                add(
                    [.bookedMinutes: -minutes(rescheduled.previousStartsAt, rescheduled.previousEndsAt)], tenant: tenant,
                    doctor: a.doctorId, at: rescheduled.previousStartsAt)
                add([.bookedMinutes: minutes(a.startsAt, a.endsAt)], tenant: tenant, doctor: a.doctorId, at: a.startsAt)
            case .completed(let completed):
                add([.completed: 1], tenant: tenant, doctor: completed.appointment.doctorId, at: completed.appointment.startsAt)
            case .noShow(let noShow):
                add([.noShows: 1], tenant: tenant, doctor: noShow.appointment.doctorId, at: noShow.appointment.startsAt)
            case .noteAdded:
                break  // a note changes no figure of the calendar
            }
        }
    }

    /// Start times of appointments whose decline did not carry one (a declined change of an existing appointment).
    private func startTimes(of appointments: [UUID], on connection: PostgresConnection) async throws -> [UUID: Date] {
        guard !appointments.isEmpty else { return [:] }
        var times: [UUID: Date] = [:]
        for row in try await connection.query(
            "SELECT id, starts_at FROM booking.appointments WHERE id = ANY($1::uuid[])", [appointments])
        {
            times[try row.decode(UUID.self, "id")] = try row.decode(Date.self, "starts_at")
        }
        return times
    }

    /// Three statements: rows are summed per doctor and local day in SQL (a doctor of another
    /// tenant matches nothing, so nothing is counted for them).
    private func write(_ tally: Tally, on connection: PostgresConnection) async throws {
        if !tally.rollups.isEmpty {
            let columns = Column.allCases
            var parameters: [any PostgresBindable] = [
                tally.rollups.map(\.tenant), tally.rollups.map(\.doctor), tally.rollups.map(\.at),
            ]
            for column in columns { parameters.append(tally.rollups.map { $0.counts[column] ?? 0 }) }
            let names = columns.map(\.rawValue)
            try await connection.query(
                """
                INSERT INTO \(schema).daily_rollups (tenant_id, doctor_id, day, \(names.joined(separator: ", ")))
                SELECT x.tenant, d.id, (x.at AT TIME ZONE d.time_zone)::date, \(names.map { "sum(x.\($0))" }.joined(separator: ", "))
                FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[], \(names.indices.map { "$\($0 + 4)::int[]" }.joined(separator: ", ")))
                    AS x(tenant, doctor, at, \(names.joined(separator: ", ")))
                JOIN directory.doctors d ON d.id = x.doctor AND d.tenant_id = x.tenant
                GROUP BY 1, 2, 3
                ON CONFLICT (tenant_id, doctor_id, day) DO UPDATE SET
                \(names.map { "\($0) = daily_rollups.\($0) + excluded.\($0)" }.joined(separator: ", "))
                """, parameters)
        }
        if !tally.declines.isEmpty {
            try await connection.query(
                """
                INSERT INTO \(schema).daily_declines (tenant_id, doctor_id, day, reason, declined)
                SELECT x.tenant, d.id, (x.at AT TIME ZONE d.time_zone)::date, x.reason, count(*)
                FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[], $4::text[]) AS x(tenant, doctor, at, reason)
                JOIN directory.doctors d ON d.id = x.doctor AND d.tenant_id = x.tenant
                GROUP BY 1, 2, 3, 4
                ON CONFLICT (tenant_id, doctor_id, day, reason) DO UPDATE SET declined = daily_declines.declined + excluded.declined
                """,
                [tally.declines.map(\.tenant), tally.declines.map(\.doctor), tally.declines.map(\.at), tally.declines.map(\.reason)])
        }
        if !tally.leadTimes.isEmpty {
            try await connection.query(
                """
                INSERT INTO \(schema).lead_times (event_id, tenant_id, doctor_id, day, minutes)
                SELECT x.event, x.tenant, d.id, (x.at AT TIME ZONE d.time_zone)::date, x.minutes
                FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::timestamptz[], $5::float8[]) AS x(event, tenant, doctor, at, minutes)
                JOIN directory.doctors d ON d.id = x.doctor AND d.tenant_id = x.tenant
                ON CONFLICT DO NOTHING
                """,
                [
                    tally.leadTimes.map(\.event), tally.leadTimes.map(\.tenant), tally.leadTimes.map(\.doctor),
                    tally.leadTimes.map(\.at), tally.leadTimes.map(\.minutes),
                ])
        }
    }
}
