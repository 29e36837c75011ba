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

    enum Column: String {
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
        let metadata = event.metadata
        let claimed = try await connection.query(
            "INSERT INTO \(schema).counted_events (event_id, tenant_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            [metadata.id, metadata.tenantId])
        guard claimed.affectedRows == 1 else { return false }
        let tenant = metadata.tenantId
        func add(_ changes: [(Column, Int)], doctor: UUID, at time: Date) async throws {
            for (column, amount) in changes where amount != 0 {
                try await bump(column, by: amount, tenant: tenant, doctor: doctor, at: time, on: connection)
            }
        }
        func minutes(_ start: Date, _ end: Date) -> Int { Int((end.timeIntervalSince(start) / 60).rounded()) }

        switch event.payload {
        case let booked as AppointmentBooked:
            let a = booked.appointment
            try await add([(.requested, 1), (.booked, 1), (.bookedMinutes, minutes(a.startsAt, a.endsAt))], doctor: a.doctorId, at: a.startsAt)
            try await connection.query(
                """
                INSERT INTO \(schema).lead_times (event_id, tenant_id, doctor_id, day, minutes)
                SELECT $1, $2, $3, ($4::timestamptz AT TIME ZONE d.time_zone)::date, $5
                FROM directory.doctors d WHERE d.id = $3 AND d.tenant_id = $2
                ON CONFLICT DO NOTHING
                """, [metadata.id, tenant, a.doctorId, a.startsAt, a.startsAt.timeIntervalSince(a.requestedAt) / 60])
        case let declined as AppointmentDeclined:
            var day = declined.startsAt
            if day == nil {
                day = try await connection.query(
                    "SELECT starts_at FROM booking.appointments WHERE id = $1 AND tenant_id = $2", [declined.appointmentId, tenant]
                ).first?.decode(Date.self, 0)
            }
            let at = day ?? metadata.occurredAt
            if declined.commandType == RequestAppointment.messageType {
                try await add([(.requested, 1)], doctor: declined.doctorId, at: at)
            }
            try await connection.query(
                """
                INSERT INTO \(schema).daily_declines (tenant_id, doctor_id, day, reason, declined)
                SELECT $1, d.id, ($3::timestamptz AT TIME ZONE d.time_zone)::date, $4, 1
                FROM directory.doctors d WHERE d.id = $2 AND d.tenant_id = $1
                ON CONFLICT (tenant_id, doctor_id, day, reason) DO UPDATE SET declined = daily_declines.declined + 1
                """, [tenant, declined.doctorId, at, declined.reason.rawValue])
        case let confirmed as AppointmentConfirmed:
            try await add([(.confirmed, 1)], doctor: confirmed.appointment.doctorId, at: confirmed.appointment.startsAt)
        case let rejected as AppointmentRejected:
            let a = rejected.appointment
            try await add([(.rejected, 1), (.bookedMinutes, -minutes(a.startsAt, a.endsAt))], doctor: a.doctorId, at: a.startsAt)
        case let cancelled as AppointmentCancelled:
            let a = cancelled.appointment
            let column: Column =
                switch cancelled.cancelledBy.role {
                case .patient: .cancelledByPatient
                case .doctor: .cancelledByDoctor
                case .admin, .system, .platform: .cancelledByClinic
                }
            try await add([(column, 1), (.bookedMinutes, -minutes(a.startsAt, a.endsAt))], doctor: a.doctorId, at: a.startsAt)
        case let rescheduled as AppointmentRescheduled:
            let a = rescheduled.appointment
            try await add(
                [(.bookedMinutes, -minutes(rescheduled.previousStartsAt, rescheduled.previousEndsAt))], doctor: a.doctorId,
                at: rescheduled.previousStartsAt)
            try await add([(.bookedMinutes, minutes(a.startsAt, a.endsAt))], doctor: a.doctorId, at: a.startsAt)
        case let completed as AppointmentCompleted:
            try await add([(.completed, 1)], doctor: completed.appointment.doctorId, at: completed.appointment.startsAt)
        case let noShow as AppointmentNoShow:
            try await add([(.noShows, 1)], doctor: noShow.appointment.doctorId, at: noShow.appointment.startsAt)
        default:
            break
        }
        return true
    }

    /// Adds `amount` to one column of the doctor's row for the local day of `time` (nothing when
    /// the doctor is not of this tenant).
    private func bump(_ column: Column, by amount: Int, tenant: UUID, doctor: UUID, at time: Date, on connection: PostgresConnection)
        async throws
    {
        let name = column.rawValue
        try await connection.query(
            """
            INSERT INTO \(schema).daily_rollups (tenant_id, doctor_id, day, \(name))
            SELECT $1, d.id, ($3::timestamptz AT TIME ZONE d.time_zone)::date, $4
            FROM directory.doctors d WHERE d.id = $2 AND d.tenant_id = $1
            ON CONFLICT (tenant_id, doctor_id, day) DO UPDATE SET \(name) = daily_rollups.\(name) + excluded.\(name)
            """, [tenant, doctor, time, amount])
    }
}
