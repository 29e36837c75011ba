import Contracts
import Foundation
import Postgres

/// Reads and writes of the identity and directory schemas shared by the ingress and `fleet`.
public enum ClinicStore {
    public static func createTenant(name: String, id: UUID = UUID(), on connection: PostgresConnection) async throws
        -> UUID
    {
        try await connection.query(
            "INSERT INTO identity.tenants (id, name) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING", [id, name])
        return id
    }

    public static func tenantExists(_ id: UUID, on connection: PostgresConnection) async throws -> Bool {
        try await !connection.query("SELECT 1 FROM identity.tenants WHERE id = $1", [id]).isEmpty
    }

    /// Creates a user; throws `PostgresError` with `isUniqueViolation` when the email is taken.
    public static func createUser(
        tenantId: UUID, email: String, passwordHash: String, role: Role, displayName: String, id: UUID = UUID(),
        on connection: PostgresConnection
    ) async throws -> User {
        let email = email.lowercased()
        try await connection.query(
            """
            INSERT INTO identity.users (id, tenant_id, email, password_hash, role, display_name)
            VALUES ($1, $2, $3, $4, $5, $6)
            """, [id, tenantId, email, passwordHash, role.rawValue, displayName])
        return User(id: id, tenantId: tenantId, email: email, role: role, displayName: displayName)
    }

    public static func createPatient(_ user: User, on connection: PostgresConnection) async throws {
        try await connection.query(
            "INSERT INTO directory.patients (id, tenant_id, display_name) VALUES ($1, $2, $3)",
            [user.id, user.tenantId, user.displayName])
    }

    public static func createDoctor(
        _ user: User, specialty: String?, settings: DoctorSettings, on connection: PostgresConnection
    ) async throws {
        try await connection.query(
            """
            INSERT INTO directory.doctors (id, tenant_id, display_name, specialty, time_zone, slot_minutes,
                buffer_before_minutes, buffer_after_minutes, minimum_notice_minutes, horizon_days, requires_confirmation)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
            """,
            [
                user.id, user.tenantId, user.displayName, specialty, settings.timeZone, settings.slotMinutes,
                settings.bufferBeforeMinutes, settings.bufferAfterMinutes, settings.minimumNoticeMinutes,
                settings.horizonDays, settings.requiresConfirmation,
            ])
    }

    /// Replaces the doctor's weekly hours.
    public static func setWeeklyHours(
        _ hours: [WeeklyInterval], doctor: UUID, tenant: UUID, on connection: PostgresConnection
    ) async throws {
        try await connection.query("DELETE FROM directory.weekly_hours WHERE doctor_id = $1 AND tenant_id = $2", [doctor, tenant])
        guard !hours.isEmpty else { return }
        try await connection.query(
            """
            INSERT INTO directory.weekly_hours (doctor_id, tenant_id, weekday, starts, ends)
            SELECT $1, $2, w, s::time, e::time FROM unnest($3::int[], $4::text[], $5::text[]) AS u(w, s, e)
            """,
            [doctor, tenant, hours.map(\.weekday), hours.map(\.start.description), hours.map(\.end.description)])
    }

    public static func weeklyHours(doctor: UUID, tenant: UUID, on connection: PostgresConnection) async throws
        -> [WeeklyInterval]
    {
        let rows = try await connection.query(
            """
            SELECT weekday, to_char(starts, 'HH24:MI'), to_char(ends, 'HH24:MI') FROM directory.weekly_hours
            WHERE doctor_id = $1 AND tenant_id = $2 ORDER BY weekday, starts
            """, [doctor, tenant])
        return try rows.compactMap { row in
            guard let start = LocalTime(try row.decode(String.self, 1)), let end = LocalTime(try row.decode(String.self, 2))
            else { return nil }
            return WeeklyInterval(weekday: try row.decode(Int.self, 0), start: start, end: end)
        }
    }

    /// Replaces the override of one date (no hours: a day off).
    public static func setOverride(
        _ override: DateOverride, doctor: UUID, tenant: UUID, on connection: PostgresConnection
    ) async throws {
        try await connection.query(
            "DELETE FROM directory.date_overrides WHERE doctor_id = $1 AND tenant_id = $2 AND day = $3::date",
            [doctor, tenant, override.date])
        if override.hours.isEmpty {
            try await connection.query(
                "INSERT INTO directory.date_overrides (doctor_id, tenant_id, day) VALUES ($1, $2, $3::date)",
                [doctor, tenant, override.date])
        } else {
            try await connection.query(
                """
                INSERT INTO directory.date_overrides (doctor_id, tenant_id, day, starts, ends)
                SELECT $1, $2, $3::date, s::time, e::time FROM unnest($4::text[], $5::text[]) AS u(s, e)
                """,
                [doctor, tenant, override.date, override.hours.map(\.start.description), override.hours.map(\.end.description)])
        }
    }

    public static func removeOverride(date: String, doctor: UUID, tenant: UUID, on connection: PostgresConnection)
        async throws
    {
        try await connection.query(
            "DELETE FROM directory.date_overrides WHERE doctor_id = $1 AND tenant_id = $2 AND day = $3::date",
            [doctor, tenant, date])
    }

    public static func overrides(doctor: UUID, tenant: UUID, from: String, to: String, on connection: PostgresConnection)
        async throws -> [DateOverride]
    {
        let rows = try await connection.query(
            """
            SELECT to_char(day, 'YYYY-MM-DD'), to_char(starts, 'HH24:MI'), to_char(ends, 'HH24:MI')
            FROM directory.date_overrides
            WHERE doctor_id = $1 AND tenant_id = $2 AND day BETWEEN $3::date AND $4::date ORDER BY day, starts
            """, [doctor, tenant, from, to])
        var byDate: [(String, [DayHours])] = []
        for row in rows {
            let date = try row.decode(String.self, 0)
            if byDate.last?.0 != date { byDate.append((date, [])) }
            if let start = try row.decode(String?.self, 1).flatMap(LocalTime.init),
                let end = try row.decode(String?.self, 2).flatMap(LocalTime.init)
            {
                byDate[byDate.count - 1].1.append(DayHours(start: start, end: end))
            }
        }
        return byDate.map { DateOverride(date: $0.0, hours: $0.1) }
    }

    static let doctorColumns = """
        d.id, d.tenant_id, d.display_name, d.specialty, d.time_zone, d.slot_minutes, d.buffer_before_minutes,
        d.buffer_after_minutes, d.minimum_notice_minutes, d.horizon_days, d.requires_confirmation
        """

    static func doctor(from row: PostgresRow) throws -> Doctor {
        Doctor(
            id: try row.decode(UUID.self, 0), tenantId: try row.decode(UUID.self, 1), displayName: try row.decode(String.self, 2),
            specialty: try row.decode(String?.self, 3),
            settings: DoctorSettings(
                timeZone: try row.decode(String.self, 4), slotMinutes: try row.decode(Int.self, 5),
                bufferBeforeMinutes: try row.decode(Int.self, 6), bufferAfterMinutes: try row.decode(Int.self, 7),
                minimumNoticeMinutes: try row.decode(Int.self, 8), horizonDays: try row.decode(Int.self, 9),
                requiresConfirmation: try row.decode(Bool.self, 10)))
    }

    public static func doctor(_ id: UUID, tenant: UUID, on connection: PostgresConnection) async throws -> Doctor? {
        let rows = try await connection.query(
            "SELECT \(doctorColumns) FROM directory.doctors d WHERE d.id = $1 AND d.tenant_id = $2", [id, tenant])
        return try rows.first.map(doctor(from:))
    }

    public static func doctors(tenant: UUID, on connection: PostgresConnection) async throws -> [Doctor] {
        let rows = try await connection.query(
            "SELECT \(doctorColumns) FROM directory.doctors d WHERE d.tenant_id = $1 ORDER BY d.display_name, d.id", [tenant])
        return try rows.map(doctor(from:))
    }

    public static func updateDoctor(_ doctor: Doctor, on connection: PostgresConnection) async throws {
        let settings = doctor.settings
        try await connection.query(
            """
            UPDATE directory.doctors SET display_name = $3, specialty = $4, time_zone = $5, slot_minutes = $6,
                buffer_before_minutes = $7, buffer_after_minutes = $8, minimum_notice_minutes = $9, horizon_days = $10,
                requires_confirmation = $11, updated_at = now()
            WHERE id = $1 AND tenant_id = $2
            """,
            [
                doctor.id, doctor.tenantId, doctor.displayName, doctor.specialty, settings.timeZone, settings.slotMinutes,
                settings.bufferBeforeMinutes, settings.bufferAfterMinutes, settings.minimumNoticeMinutes,
                settings.horizonDays, settings.requiresConfirmation,
            ])
    }
}
