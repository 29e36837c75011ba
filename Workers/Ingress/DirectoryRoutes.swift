import Clinic
import Contracts
import Foundation
import Hummingbird
import Postgres

/// Doctors, admins, patients, working hours, date overrides and free slots.
struct DirectoryRoutes {
    let services: IngressServices

    struct NewDoctor: Decodable {
        var email: String
        var password: String
        var displayName: String
        var specialty: String?
        var timeZone: String
        var slotMinutes: Int?
        var bufferBeforeMinutes: Int?
        var bufferAfterMinutes: Int?
        var minimumNoticeMinutes: Int?
        var horizonDays: Int?
        var requiresConfirmation: Bool?
        var hours: [WeeklyInterval]?
    }

    struct DoctorChange: Decodable {
        var displayName: String?
        var specialty: String?
        var timeZone: String?
        var slotMinutes: Int?
        var bufferBeforeMinutes: Int?
        var bufferAfterMinutes: Int?
        var minimumNoticeMinutes: Int?
        var horizonDays: Int?
        var requiresConfirmation: Bool?
    }

    struct NewAdmin: Decodable {
        var email: String
        var password: String
        var displayName: String
    }

    struct HoursBody: Codable {
        var hours: [WeeklyInterval]
    }

    struct OverrideBody: Decodable {
        var hours: [DayHours]
    }

    struct PatientChange: Decodable {
        var displayName: String?
        var phone: String?
        var dateOfBirth: String?
    }

    struct Slot: Encodable {
        var startsAt: Date
        var endsAt: Date
    }

    struct Slots: Encodable {
        var doctorId: UUID
        var timeZone: String
        var from: String
        var to: String
        var slots: [Slot]
    }

    struct Listing<Item: Encodable>: Encodable {
        var items: [Item]
    }

    func add(to router: RouterGroup<IngressContext>) {
        router.get("doctors") { _, context in try await listDoctors(context) }
        router.post("doctors") { request, context in try await createDoctor(request, context) }
        router.get("doctors/:id") { _, context in try await getDoctor(context) }
        router.patch("doctors/:id") { request, context in try await updateDoctor(request, context) }
        router.get("doctors/:id/hours") { _, context in try await getHours(context) }
        router.put("doctors/:id/hours") { request, context in try await setHours(request, context) }
        router.get("doctors/:id/overrides") { request, context in try await getOverrides(request, context) }
        router.put("doctors/:id/overrides/:date") { request, context in try await setOverride(request, context) }
        router.delete("doctors/:id/overrides/:date") { _, context in try await removeOverride(context) }
        router.get("doctors/:id/slots") { request, context in try await slots(request, context) }
        router.post("admins") { request, context in try await createAdmin(request, context) }
        router.get("patients") { _, context in try await listPatients(context) }
        router.get("patients/:id") { _, context in try await getPatient(context) }
        router.patch("patients/:id") { request, context in try await updatePatient(request, context) }
    }

    // MARK: - Doctors

    func listDoctors(_ context: IngressContext) async throws -> Response {
        let caller = try context.requireUser()
        let doctors = try await services.database.withConnection { try await ClinicStore.doctors(tenant: caller.tenantId, on: $0) }
        return JSONBody.response(Listing(items: doctors))
    }

    func getDoctor(_ context: IngressContext) async throws -> Response {
        let caller = try context.requireUser()
        return JSONBody.response(try await doctor(try Path.id(context), tenant: caller.tenantId))
    }

    func createDoctor(_ request: Request, _ context: IngressContext) async throws -> Response {
        let caller = try context.requireRole(.admin)
        let body = try await JSONBody.decode(NewDoctor.self, from: request, context: context)
        let email = try Check.email(body.email)
        if let problem = Passwords.problem(with: body.password) { throw APIError.invalid(field: "password", problem) }
        let displayName = try Check.text(body.displayName, field: "displayName")
        let settings = DoctorSettings(
            timeZone: body.timeZone, slotMinutes: body.slotMinutes ?? 30, bufferBeforeMinutes: body.bufferBeforeMinutes ?? 0,
            bufferAfterMinutes: body.bufferAfterMinutes ?? 0, minimumNoticeMinutes: body.minimumNoticeMinutes ?? 0,
            horizonDays: body.horizonDays ?? 90, requiresConfirmation: body.requiresConfirmation ?? false)
        if let problem = settings.problem() { throw APIError.invalid(field: problem.field, problem.reason) }
        let hours = body.hours ?? []
        try Self.check(hours)
        let specialty = try Check.optionalText(body.specialty, field: "specialty", max: 100)
        let hash = await services.passwords.hash(body.password)
        let doctor: Doctor
        do {
            doctor = try await services.database.transaction { connection in
                let user = try await ClinicStore.createUser(
                    tenantId: caller.tenantId, email: email, passwordHash: hash, role: .doctor, displayName: displayName,
                    on: connection)
                try await ClinicStore.createDoctor(user, specialty: specialty, settings: settings, on: connection)
                try await ClinicStore.setWeeklyHours(hours, doctor: user.id, tenant: caller.tenantId, on: connection)
                try await Audit.record("doctor_created", tenant: caller.tenantId, user: caller.id, details: ["doctor": user.id.uuidString], on: connection)
                return Doctor(id: user.id, tenantId: caller.tenantId, displayName: displayName, specialty: specialty, settings: settings)
            }
        } catch let error as PostgresError where error.isUniqueViolation {
            throw APIError.conflict("email_taken", "an account with this email exists")
        }
        return JSONBody.response(status: .created, doctor)
    }

    func updateDoctor(_ request: Request, _ context: IngressContext) async throws -> Response {
        let caller = try context.requireUser()
        let id = try Path.id(context)
        try Self.requireSelfOrAdmin(caller, id)
        let body = try await JSONBody.decode(DoctorChange.self, from: request, context: context)
        var doctor = try await doctor(id, tenant: caller.tenantId)
        if let name = body.displayName { doctor.displayName = try Check.text(name, field: "displayName") }
        if let specialty = body.specialty { doctor.specialty = try Check.optionalText(specialty, field: "specialty", max: 100) }
        var settings = doctor.settings
        if let value = body.timeZone { settings.timeZone = value }
        if let value = body.slotMinutes { settings.slotMinutes = value }
        if let value = body.bufferBeforeMinutes { settings.bufferBeforeMinutes = value }
        if let value = body.bufferAfterMinutes { settings.bufferAfterMinutes = value }
        if let value = body.minimumNoticeMinutes { settings.minimumNoticeMinutes = value }
        if let value = body.horizonDays { settings.horizonDays = value }
        if let value = body.requiresConfirmation { settings.requiresConfirmation = value }
        if let problem = settings.problem() { throw APIError.invalid(field: problem.field, problem.reason) }
        doctor.settings = settings
        let updated = doctor
        try await services.database.withConnection { try await ClinicStore.updateDoctor(updated, on: $0) }
        return JSONBody.response(updated)
    }

    func getHours(_ context: IngressContext) async throws -> Response {
        let caller = try context.requireUser()
        let id = try Path.id(context)
        _ = try await doctor(id, tenant: caller.tenantId)
        let hours = try await services.database.withConnection {
            try await ClinicStore.weeklyHours(doctor: id, tenant: caller.tenantId, on: $0)
        }
        return JSONBody.response(HoursBody(hours: hours))
    }

    func setHours(_ request: Request, _ context: IngressContext) async throws -> Response {
        let caller = try context.requireUser()
        let id = try Path.id(context)
        try Self.requireSelfOrAdmin(caller, id)
        let body = try await JSONBody.decode(HoursBody.self, from: request, context: context)
        try Self.check(body.hours)
        _ = try await doctor(id, tenant: caller.tenantId)
        try await services.database.transaction { connection in
            try await ClinicStore.setWeeklyHours(body.hours, doctor: id, tenant: caller.tenantId, on: connection)
        }
        return JSONBody.response(HoursBody(hours: body.hours.sorted { ($0.weekday, $0.start) < ($1.weekday, $1.start) }))
    }

    func getOverrides(_ request: Request, _ context: IngressContext) async throws -> Response {
        let caller = try context.requireUser()
        let id = try Path.id(context)
        _ = try await doctor(id, tenant: caller.tenantId)
        let (from, to) = try Self.dateRange(request, maxDays: 366)
        let overrides = try await services.database.withConnection {
            try await ClinicStore.overrides(doctor: id, tenant: caller.tenantId, from: from, to: to, on: $0)
        }
        return JSONBody.response(Listing(items: overrides))
    }

    func setOverride(_ request: Request, _ context: IngressContext) async throws -> Response {
        let caller = try context.requireUser()
        let id = try Path.id(context)
        try Self.requireSelfOrAdmin(caller, id)
        let date = try Path.date(context)
        let body = try await JSONBody.decode(OverrideBody.self, from: request, context: context)
        try Self.check(body.hours.map { WeeklyInterval(weekday: 1, start: $0.start, end: $0.end) }, field: "hours")
        _ = try await doctor(id, tenant: caller.tenantId)
        let override = DateOverride(date: date, hours: body.hours)
        try await services.database.transaction { connection in
            try await ClinicStore.setOverride(override, doctor: id, tenant: caller.tenantId, on: connection)
        }
        return JSONBody.response(override)
    }

    func removeOverride(_ context: IngressContext) async throws -> Response {
        let caller = try context.requireUser()
        let id = try Path.id(context)
        try Self.requireSelfOrAdmin(caller, id)
        let date = try Path.date(context)
        _ = try await doctor(id, tenant: caller.tenantId)
        try await services.database.withConnection {
            try await ClinicStore.removeOverride(date: date, doctor: id, tenant: caller.tenantId, on: $0)
        }
        return JSONBody.noContent()
    }

    /// Free slots in the doctor's time zone for local days `from`…`to` (at most 62 days).
    func slots(_ request: Request, _ context: IngressContext) async throws -> Response {
        let caller = try context.requireUser()
        let id = try Path.id(context)
        let doctor = try await doctor(id, tenant: caller.tenantId)
        let (from, to) = try Self.dateRange(request, maxDays: 62)
        let rows = try await services.database.query(
            "SELECT starts_at, ends_at FROM directory.free_slots($1, $2::date, $3::date, now())", [id, from, to])
        let slots = try rows.map { Slot(startsAt: try $0.decode(Date.self, 0), endsAt: try $0.decode(Date.self, 1)) }
        return JSONBody.response(Slots(doctorId: id, timeZone: doctor.settings.timeZone, from: from, to: to, slots: slots))
    }

    func createAdmin(_ request: Request, _ context: IngressContext) async throws -> Response {
        let caller = try context.requireRole(.admin)
        let body = try await JSONBody.decode(NewAdmin.self, from: request, context: context)
        let email = try Check.email(body.email)
        if let problem = Passwords.problem(with: body.password) { throw APIError.invalid(field: "password", problem) }
        let displayName = try Check.text(body.displayName, field: "displayName")
        let hash = await services.passwords.hash(body.password)
        do {
            let user = try await services.database.transaction { connection in
                let user = try await ClinicStore.createUser(
                    tenantId: caller.tenantId, email: email, passwordHash: hash, role: .admin, displayName: displayName, on: connection)
                try await Audit.record("admin_created", tenant: caller.tenantId, user: caller.id, details: ["admin": user.id.uuidString], on: connection)
                return user
            }
            return JSONBody.response(status: .created, user)
        } catch let error as PostgresError where error.isUniqueViolation {
            throw APIError.conflict("email_taken", "an account with this email exists")
        }
    }

    // MARK: - Patients

    static let patientColumns = "p.id, p.tenant_id, p.display_name, u.email, p.phone, to_char(p.date_of_birth, 'YYYY-MM-DD')"

    static func patient(from row: PostgresRow) throws -> Patient {
        Patient(
            id: try row.decode(UUID.self, 0), tenantId: try row.decode(UUID.self, 1), displayName: try row.decode(String.self, 2),
            email: try row.decode(String?.self, 3), phone: try row.decode(String?.self, 4), dateOfBirth: try row.decode(String?.self, 5))
    }

    /// Admins see every patient of the tenant; doctors those with an appointment with them.
    func listPatients(_ context: IngressContext) async throws -> Response {
        let caller = try context.requireRole(.admin, .doctor)
        let rows: PostgresRows
        if caller.role == .admin {
            rows = try await services.database.query(
                """
                SELECT \(Self.patientColumns) FROM directory.patients p JOIN identity.users u ON u.id = p.id
                WHERE p.tenant_id = $1 ORDER BY p.display_name, p.id
                """, [caller.tenantId])
        } else {
            rows = try await services.database.query(
                """
                SELECT \(Self.patientColumns) FROM directory.patients p JOIN identity.users u ON u.id = p.id
                WHERE p.tenant_id = $1 AND EXISTS (
                    SELECT 1 FROM booking.appointments a WHERE a.patient_id = p.id AND a.doctor_id = $2 AND a.tenant_id = $1)
                ORDER BY p.display_name, p.id
                """, [caller.tenantId, caller.id])
        }
        return JSONBody.response(Listing(items: try rows.map(Self.patient(from:))))
    }

    func getPatient(_ context: IngressContext) async throws -> Response {
        let caller = try context.requireUser()
        let id = try Path.id(context)
        return JSONBody.response(try await visiblePatient(id, to: caller))
    }

    func updatePatient(_ request: Request, _ context: IngressContext) async throws -> Response {
        let caller = try context.requireUser()
        let id = try Path.id(context)
        var patient = try await visiblePatient(id, to: caller)
        try Self.requireSelfOrAdmin(caller, id)
        let body = try await JSONBody.decode(PatientChange.self, from: request, context: context)
        if let name = body.displayName { patient.displayName = try Check.text(name, field: "displayName") }
        if let phone = body.phone { patient.phone = try Check.optionalText(phone, field: "phone", max: 40) }
        if let birth = body.dateOfBirth {
            guard CalendarDate.isValid(birth) else { throw APIError.invalid(field: "dateOfBirth", "must be a date YYYY-MM-DD") }
            patient.dateOfBirth = birth
        }
        let updated = patient
        try await services.database.query(
            "UPDATE directory.patients SET display_name = $3, phone = $4, date_of_birth = $5::date WHERE id = $1 AND tenant_id = $2",
            [updated.id, updated.tenantId, updated.displayName, updated.phone, updated.dateOfBirth])
        return JSONBody.response(updated)
    }

    /// A patient sees themself; a doctor their patients; an admin everyone of the tenant. Others: 404.
    func visiblePatient(_ id: UUID, to caller: AuthenticatedUser) async throws -> Patient {
        let rows = try await services.database.query(
            """
            SELECT \(Self.patientColumns) FROM directory.patients p JOIN identity.users u ON u.id = p.id
            WHERE p.id = $1 AND p.tenant_id = $2 AND (
                $3 = 'admin' OR ($3 = 'patient' AND p.id = $4)
                OR ($3 = 'doctor' AND EXISTS (
                    SELECT 1 FROM booking.appointments a WHERE a.patient_id = p.id AND a.doctor_id = $4 AND a.tenant_id = $2)))
            """, [id, caller.tenantId, caller.role.rawValue, caller.id])
        guard let row = rows.first else { throw APIError.notFound("patient") }
        return try Self.patient(from: row)
    }

    // MARK: - Helpers

    func doctor(_ id: UUID, tenant: UUID) async throws -> Doctor {
        let doctor = try await services.database.withConnection { try await ClinicStore.doctor(id, tenant: tenant, on: $0) }
        guard let doctor else { throw APIError.notFound("doctor") }
        return doctor
    }

    static func requireSelfOrAdmin(_ caller: AuthenticatedUser, _ id: UUID) throws {
        guard caller.role == .admin || caller.id == id else { throw APIError.forbidden("only the person themself or an admin may change this") }
    }

    static func check(_ hours: [WeeklyInterval], field: String = "hours") throws {
        for (index, interval) in hours.enumerated() {
            guard (1...7).contains(interval.weekday) else {
                throw APIError.invalid(field: "\(field)[\(index)].weekday", "must be 1 (Monday) to 7 (Sunday)")
            }
            guard interval.end > interval.start else { throw APIError.invalid(field: "\(field)[\(index)].end", "must be after start") }
        }
        for (index, interval) in hours.enumerated() {
            for other in hours[(index + 1)...] where other.weekday == interval.weekday {
                if other.start < interval.end && interval.start < other.end {
                    throw APIError.invalid(field: "\(field)[\(index)]", "overlaps another interval of the same day")
                }
            }
        }
    }

    /// `from` and `to` query parameters: dates, in order, at most `maxDays` apart.
    static func dateRange(_ request: Request, maxDays: Int) throws -> (String, String) {
        guard let from = request.uri.queryParameters.get("from"), CalendarDate.isValid(from) else {
            throw APIError.malformed(field: "from", "query parameter 'from' must be a date YYYY-MM-DD")
        }
        guard let to = request.uri.queryParameters.get("to"), CalendarDate.isValid(to) else {
            throw APIError.malformed(field: "to", "query parameter 'to' must be a date YYYY-MM-DD")
        }
        guard to >= from else { throw APIError.invalid(field: "to", "must not be before from") }
        let days = (Self.dayNumber(to) ?? 0) - (Self.dayNumber(from) ?? 0)
        guard days < maxDays else { throw APIError.invalid(field: "to", "the range may span at most \(maxDays) days") }
        return (from, to)
    }

    static func dayNumber(_ date: String) -> Int? {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? calendar.timeZone
        let parts = date.split(separator: "-").compactMap { Int($0) }
        guard parts.count == 3, let day = calendar.date(from: DateComponents(year: parts[0], month: parts[1], day: parts[2]))
        else { return nil }
        return Int(day.timeIntervalSince1970 / 86400)
    }
}

/// Path parameters.
enum Path {
    static func id(_ context: IngressContext, _ name: String = "id") throws -> UUID {
        guard let id = context.parameters.get(name).flatMap(UUID.init(uuidString:)) else {
            throw APIError.malformed(field: name, "the \(name) in the path must be a UUID")
        }
        return id
    }

    static func date(_ context: IngressContext) throws -> String {
        guard let date = context.parameters.get("date"), CalendarDate.isValid(date) else {
            throw APIError.malformed(field: "date", "the date in the path must be YYYY-MM-DD")
        }
        return date
    }
}
