import Contracts
import Foundation
import Postgres

/// Doctors, their working hours and date overrides, and patients: the `directory` schema,
/// owned by the ingress.
public protocol DirectoryStore: Sendable {
    func doctors(tenant: UUID) async throws -> [Doctor]
    /// Doctors matching the search (all of them without criteria), by name; with the total.
    func searchDoctors(tenant: UUID, _ search: DoctorSearch) async throws -> (items: [Doctor], total: Int)
    func doctor(_ id: UUID, tenant: UUID) async throws -> Doctor?
    /// Creates the doctor's account, their directory record and weekly hours; audited.
    /// Throws `ClinicStoreError.emailTaken`.
    func createDoctor(_ account: NewAccount, profile: Doctor, hours: [WeeklyInterval], audit: AuditEntry) async throws -> Doctor
    func updateDoctor(_ doctor: Doctor) async throws
    func weeklyHours(doctor: UUID, tenant: UUID) async throws -> [WeeklyInterval]
    func setWeeklyHours(_ hours: [WeeklyInterval], doctor: UUID, tenant: UUID) async throws
    func overrides(doctor: UUID, tenant: UUID, from: String, to: String) async throws -> [DateOverride]
    func setOverride(_ override: DateOverride, doctor: UUID, tenant: UUID) async throws
    func removeOverride(date: String, doctor: UUID, tenant: UUID) async throws
    /// Patients of the tenant: all of them, or only these ids.
    func patients(tenant: UUID, only ids: [UUID]?) async throws -> [Patient]
    func patient(_ id: UUID, tenant: UUID) async throws -> Patient?
    func updatePatient(_ patient: Patient) async throws
}

public struct PostgresDirectoryStore: DirectoryStore {
    let pool: PostgresPool

    public init(pool: PostgresPool) {
        self.pool = pool
    }

    static let doctorColumns = """
        d.id, d.tenant_id, d.display_name, array_to_json(d.specialties)::text AS specialties,
        array_to_json(d.languages)::text AS languages, d.bio, d.location, d.time_zone, d.slot_minutes, d.buffer_before_minutes,
        d.buffer_after_minutes, d.minimum_notice_minutes, d.horizon_days, d.requires_confirmation
        """

    static func doctor(from row: PostgresRow) throws -> Doctor {
        Doctor(
            id: try row.decode(UUID.self, "id"), tenantId: try row.decode(UUID.self, "tenant_id"),
            displayName: try row.decode(String.self, "display_name"), specialties: try row.decodeJSON([String].self, "specialties"),
            languages: try row.decodeJSON([String].self, "languages"), bio: try row.decode(String?.self, "bio"),
            location: try row.decode(String?.self, "location"),
            settings: DoctorSettings(
                timeZone: try row.decode(String.self, "time_zone"), slotMinutes: try row.decode(Int.self, "slot_minutes"),
                bufferBeforeMinutes: try row.decode(Int.self, "buffer_before_minutes"),
                bufferAfterMinutes: try row.decode(Int.self, "buffer_after_minutes"),
                minimumNoticeMinutes: try row.decode(Int.self, "minimum_notice_minutes"),
                horizonDays: try row.decode(Int.self, "horizon_days"),
                requiresConfirmation: try row.decode(Bool.self, "requires_confirmation")))
    }

    public func doctors(tenant: UUID) async throws -> [Doctor] {
        try await pool.query(
            "SELECT \(Self.doctorColumns) FROM directory.doctors d WHERE d.tenant_id = $1 ORDER BY d.display_name, d.id", [tenant]
        ).map(Self.doctor(from:))
    }

    public func searchDoctors(tenant: UUID, _ search: DoctorSearch) async throws -> (items: [Doctor], total: Int) {
        let rows = try await pool.query(
            """
            SELECT \(Self.doctorColumns), count(*) OVER () AS total FROM directory.doctors d
            WHERE d.tenant_id = $1
              AND ($2::text IS NULL OR lower($2) = ANY (SELECT lower(s) FROM unnest(d.specialties) AS s))
              AND ($3::text IS NULL OR d.search @@ plainto_tsquery('simple', $3))
              AND ($4::text IS NULL OR lower($4) = ANY (SELECT lower(l) FROM unnest(d.languages) AS l))
            ORDER BY d.display_name, d.id LIMIT $5 OFFSET $6
            """, [tenant, search.specialty, search.text, search.language, search.limit, search.offset])
        return (try rows.map(Self.doctor(from:)), try rows.first?.decode(Int.self, "total") ?? 0)
    }

    public func doctor(_ id: UUID, tenant: UUID) async throws -> Doctor? {
        try await pool.query(
            "SELECT \(Self.doctorColumns) FROM directory.doctors d WHERE d.id = $1 AND d.tenant_id = $2", [id, tenant]
        ).first.map(Self.doctor(from:))
    }

    public func createDoctor(_ account: NewAccount, profile: Doctor, hours: [WeeklyInterval], audit: AuditEntry) async throws -> Doctor {
        var doctor = profile
        (doctor.id, doctor.tenantId, doctor.displayName) = (account.id, account.tenantId, account.displayName)
        do {
            try await pool.transaction { connection in
                try await PostgresIdentityStore.insert(account, on: connection)
                try await Self.insert(doctor, on: connection)
                try await Self.replaceHours(hours, doctor: doctor.id, tenant: doctor.tenantId, on: connection)
                try await PostgresIdentityStore.insert(audit, on: connection)
            }
        } catch let error as PostgresError where error.isUniqueViolation {
            throw ClinicStoreError.emailTaken
        }
        return doctor
    }

    /// The doctor's directory record, in the caller's transaction (`fleet seed` uses it too).
    static func insert(_ doctor: Doctor, on connection: PostgresConnection) async throws {
        let settings = doctor.settings
        try await connection.query(
            """
            INSERT INTO directory.doctors (id, tenant_id, display_name, specialty, specialties, languages, bio, location, time_zone,
                slot_minutes, buffer_before_minutes, buffer_after_minutes, minimum_notice_minutes, horizon_days, requires_confirmation)
            VALUES ($1, $2, $3, $4, $5::text[], $6::text[], $7, $8, $9, $10, $11, $12, $13, $14, $15)
            """,
            [
                doctor.id, doctor.tenantId, doctor.displayName, doctor.specialties.first, doctor.specialties, doctor.languages, doctor.bio,
                doctor.location, settings.timeZone, settings.slotMinutes, settings.bufferBeforeMinutes, settings.bufferAfterMinutes,
                settings.minimumNoticeMinutes, settings.horizonDays, settings.requiresConfirmation,
            ])
    }

    public func updateDoctor(_ doctor: Doctor) async throws {
        let settings = doctor.settings
        try await pool.query(
            """
            UPDATE directory.doctors SET display_name = $3, specialty = $4, specialties = $5::text[], languages = $6::text[],
                bio = $7, location = $8, time_zone = $9, slot_minutes = $10, buffer_before_minutes = $11,
                buffer_after_minutes = $12, minimum_notice_minutes = $13, horizon_days = $14, requires_confirmation = $15,
                updated_at = now()
            WHERE id = $1 AND tenant_id = $2
            """,
            [
                doctor.id, doctor.tenantId, doctor.displayName, doctor.specialties.first, doctor.specialties, doctor.languages, doctor.bio,
                doctor.location, settings.timeZone, settings.slotMinutes, settings.bufferBeforeMinutes, settings.bufferAfterMinutes,
                settings.minimumNoticeMinutes, settings.horizonDays, settings.requiresConfirmation,
            ])
    }

    public func weeklyHours(doctor: UUID, tenant: UUID) async throws -> [WeeklyInterval] {
        try await pool.query(
            """
            SELECT weekday, to_char(starts, 'HH24:MI') AS starts, to_char(ends, 'HH24:MI') AS ends FROM directory.weekly_hours
            WHERE doctor_id = $1 AND tenant_id = $2 ORDER BY weekday, starts
            """, [doctor, tenant]
        ).map { row in
            WeeklyInterval(
                weekday: try row.decode(Int.self, "weekday"), start: try Self.time(row, "starts"), end: try Self.time(row, "ends"))
        }
    }

    static func time(_ row: PostgresRow, _ column: String) throws -> LocalTime {
        let text = try row.decode(String.self, column)
        // The table's CHECKs keep these in range; `ends` of 24:00 is stored as '24:00:00'.
        guard let time = LocalTime(text) else {
            throw PostgresError(kind: .decoding, message: "column '\(column)': '\(text)' is not a time HH:MM")
        }
        return time
    }

    public func setWeeklyHours(_ hours: [WeeklyInterval], doctor: UUID, tenant: UUID) async throws {
        try await pool.transaction { try await Self.replaceHours(hours, doctor: doctor, tenant: tenant, on: $0) }
    }

    static func replaceHours(_ hours: [WeeklyInterval], doctor: UUID, tenant: UUID, on connection: PostgresConnection) async throws {
        try await connection.query("DELETE FROM directory.weekly_hours WHERE doctor_id = $1 AND tenant_id = $2", [doctor, tenant])
        guard !hours.isEmpty else { return }
        try await connection.query(
            """
            INSERT INTO directory.weekly_hours (doctor_id, tenant_id, weekday, starts, ends)
            SELECT $1, $2, w, s::time, e::time FROM unnest($3::int[], $4::text[], $5::text[]) AS u(w, s, e)
            """,
            [doctor, tenant, hours.map(\.weekday), hours.map(\.start.description), hours.map(\.end.description)])
    }

    public func overrides(doctor: UUID, tenant: UUID, from: String, to: String) async throws -> [DateOverride] {
        let rows = try await pool.query(
            """
            SELECT to_char(day, 'YYYY-MM-DD') AS day, to_char(starts, 'HH24:MI') AS starts, to_char(ends, 'HH24:MI') AS ends
            FROM directory.date_overrides
            WHERE doctor_id = $1 AND tenant_id = $2 AND day BETWEEN $3::date AND $4::date ORDER BY day, starts
            """, [doctor, tenant, from, to])
        var byDate: [DateOverride] = []
        for row in rows {
            let date = try row.decode(String.self, "day")
            if byDate.last?.date != date { byDate.append(DateOverride(date: date, hours: [])) }
            if try row.decode(String?.self, "starts") != nil {  // no hours: a day off
                byDate[byDate.count - 1].hours.append(DayHours(start: try Self.time(row, "starts"), end: try Self.time(row, "ends")))
            }
        }
        return byDate
    }

    public func setOverride(_ override: DateOverride, doctor: UUID, tenant: UUID) async throws {
        try await pool.transaction { connection in
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
    }

    public func removeOverride(date: String, doctor: UUID, tenant: UUID) async throws {
        try await pool.query(
            "DELETE FROM directory.date_overrides WHERE doctor_id = $1 AND tenant_id = $2 AND day = $3::date", [doctor, tenant, date])
    }

    static let patientColumns = """
        p.id, p.tenant_id, p.display_name, u.email, p.phone, to_char(p.date_of_birth, 'YYYY-MM-DD') AS date_of_birth,
        p.preferred_language
        """

    static func patient(from row: PostgresRow) throws -> Patient {
        Patient(
            id: try row.decode(UUID.self, "id"), tenantId: try row.decode(UUID.self, "tenant_id"),
            displayName: try row.decode(String.self, "display_name"), email: try row.decode(String?.self, "email"),
            phone: try row.decode(String?.self, "phone"), dateOfBirth: try row.decode(String?.self, "date_of_birth"),
            preferredLanguage: try row.decode(String?.self, "preferred_language"))
    }

    public func patients(tenant: UUID, only ids: [UUID]?) async throws -> [Patient] {
        try await pool.query(
            """
            SELECT \(Self.patientColumns) FROM directory.patients p JOIN identity.users u ON u.id = p.id
            WHERE p.tenant_id = $1 AND ($2::uuid[] IS NULL OR p.id = ANY($2::uuid[])) ORDER BY p.display_name, p.id
            """, [tenant, ids]
        ).map(Self.patient(from:))
    }

    public func patient(_ id: UUID, tenant: UUID) async throws -> Patient? {
        try await pool.query(
            """
            SELECT \(Self.patientColumns) FROM directory.patients p JOIN identity.users u ON u.id = p.id
            WHERE p.id = $1 AND p.tenant_id = $2
            """, [id, tenant]
        ).first.map(Self.patient(from:))
    }

    public func updatePatient(_ patient: Patient) async throws {
        try await pool.query(
            """
            UPDATE directory.patients SET display_name = $3, phone = $4, date_of_birth = $5::date, preferred_language = $6
            WHERE id = $1 AND tenant_id = $2
            """, [patient.id, patient.tenantId, patient.displayName, patient.phone, patient.dateOfBirth, patient.preferredLanguage])
    }
}
