import Booking
import Clinic
import Contracts
import Foundation
import Hummingbird

/// Doctors, admins, patients, working hours, date overrides and free slots.
struct DirectoryRoutes {
    let services: IngressServices

    static let settingsProperties: [(String, Schema)] = [
        ("timeZone", .string(maxLength: 64)), ("slotMinutes", .integer(minimum: 5, maximum: 480)),
        ("bufferBeforeMinutes", .integer(minimum: 0, maximum: 240)), ("bufferAfterMinutes", .integer(minimum: 0, maximum: 240)),
        ("minimumNoticeMinutes", .integer(minimum: 0, maximum: 525_600)), ("horizonDays", .integer(minimum: 1, maximum: 730)),
        ("requiresConfirmation", .boolean),
    ]
    static let maxIntervals = 50

    struct NewDoctor: Decodable, Documented {
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
        static let schema = Schema.object(
            [
                ("email", .email), ("password", .text(Passwords.maximumBytes, minLength: 10)), ("displayName", .text(200, minLength: 1)),
                ("specialty", .text(100)),
            ] + settingsProperties + [("hours", .array(.ref(WeeklyInterval.self), maxItems: maxIntervals))],
            required: ["email", "password", "displayName", "timeZone"])
    }

    struct DoctorChange: Decodable, Documented {
        var displayName: String?
        var specialty: String?
        var timeZone: String?
        var slotMinutes: Int?
        var bufferBeforeMinutes: Int?
        var bufferAfterMinutes: Int?
        var minimumNoticeMinutes: Int?
        var horizonDays: Int?
        var requiresConfirmation: Bool?
        static let schema = Schema.object([("displayName", .text(200, minLength: 1)), ("specialty", .text(100))] + settingsProperties)
    }

    struct NewAdmin: Decodable, Documented {
        var email: String
        var password: String
        var displayName: String
        static let schema = Schema.object(
            [("email", .email), ("password", .text(Passwords.maximumBytes, minLength: 10)), ("displayName", .text(200, minLength: 1))],
            required: ["email", "password", "displayName"])
    }

    struct HoursBody: Codable, Documented {
        var hours: [WeeklyInterval]
        static let schema = Schema.object(
            [("hours", .array(.ref(WeeklyInterval.self), maxItems: maxIntervals))], required: ["hours"])
    }

    struct OverrideBody: Decodable, Documented {
        var hours: [DayHours]
        static let schema = Schema.object([("hours", .array(.ref(DayHours.self), maxItems: maxIntervals))], required: ["hours"])
    }

    struct PatientChange: Decodable, Documented {
        var displayName: String?
        var phone: String?
        var dateOfBirth: String?
        static let schema = Schema.object(
            [("displayName", .text(200, minLength: 1)), ("phone", .text(40)), ("dateOfBirth", .date)])
    }

    struct Slots: Encodable, Documented {
        var doctorId: UUID
        var timeZone: String
        var from: String
        var to: String
        var slots: [FreeSlot]
        static let schema = Schema.object(
            [
                ("doctorId", .uuid), ("timeZone", .string()), ("from", .date), ("to", .date),
                ("slots", .array(.object([("startsAt", .dateTime), ("endsAt", .dateTime)], required: ["startsAt", "endsAt"]))),
            ], required: ["doctorId", "timeZone", "from", "to", "slots"])
    }

    struct DoctorList: Encodable, Documented {
        var items: [Doctor]
        static let schema = Schema.object([("items", .array(.ref(Doctor.self)))], required: ["items"])
    }

    struct PatientList: Encodable, Documented {
        var items: [Patient]
        static let schema = Schema.object([("items", .array(.ref(Patient.self)))], required: ["items"])
    }

    struct OverrideList: Encodable, Documented {
        var items: [DateOverride]
        static let schema = Schema.object([("items", .array(.ref(DateOverride.self)))], required: ["items"])
    }

    func add(to routes: Routes) {
        let id = Doc.path("id")
        let range = [Doc.query("from", .date, required: true), Doc.query("to", .date, required: true)]
        routes.get("doctors", Doc("The clinic's doctors", tag: "directory", answers: [Doc.ok(DoctorList.self, "the doctors")])) {
            _, context in try await listDoctors(context)
        }
        routes.post(
            "doctors",
            Doc("Create a doctor (admin)", tag: "directory", body: NewDoctor.self, answers: [Doc.created(Doctor.self)], errors: [403, 409])
        ) { request, context in try await createDoctor(request, context) }
        routes.get("doctors/:id", Doc("A doctor", tag: "directory", parameters: [id], answers: [Doc.ok(Doctor.self, "the doctor")], errors: [404])) {
            _, context in try await getDoctor(context)
        }
        routes.patch(
            "doctors/:id",
            Doc(
                "Change a doctor's profile and settings (the doctor or an admin)", tag: "directory", body: DoctorChange.self,
                parameters: [id], answers: [Doc.ok(Doctor.self, "changed")], errors: [403, 404])
        ) { request, context in try await updateDoctor(request, context) }
        routes.get(
            "doctors/:id/hours",
            Doc("A doctor's weekly hours", tag: "directory", parameters: [id], answers: [Doc.ok(HoursBody.self, "the hours")], errors: [404])
        ) { _, context in try await getHours(context) }
        routes.put(
            "doctors/:id/hours",
            Doc(
                "Replace a doctor's weekly hours (the doctor or an admin)", tag: "directory", body: HoursBody.self, parameters: [id],
                answers: [Doc.ok(HoursBody.self, "the hours")], errors: [403, 404])
        ) { request, context in try await setHours(request, context) }
        routes.get(
            "doctors/:id/overrides",
            Doc(
                "A doctor's date overrides in a range", tag: "directory", parameters: [id] + range,
                answers: [Doc.ok(OverrideList.self, "the overrides")], errors: [404])
        ) { request, context in try await getOverrides(request, context) }
        routes.put(
            "doctors/:id/overrides/:date",
            Doc(
                "Set a date's hours (empty: a day off)", tag: "directory", body: OverrideBody.self,
                parameters: [id, Doc.path("date", .date)], answers: [Doc.ok(DateOverride.self, "the override")], errors: [403, 404])
        ) { request, context in try await setOverride(request, context) }
        routes.delete(
            "doctors/:id/overrides/:date",
            Doc(
                "Remove a date's override", tag: "directory", parameters: [id, Doc.path("date", .date)], answers: [Doc.noContent],
                errors: [403, 404])
        ) { _, context in try await removeOverride(context) }
        routes.get(
            "doctors/:id/slots",
            Doc(
                "Free slots for local days from…to (at most 62 days)", tag: "directory", parameters: [id] + range,
                answers: [Doc.ok(Slots.self, "free slots")], errors: [404])
        ) { request, context in try await slots(request, context) }
        routes.post(
            "admins",
            Doc("Create an admin (admin)", tag: "directory", body: NewAdmin.self, answers: [Doc.created(User.self)], errors: [403, 409])
        ) { request, context in try await createAdmin(request, context) }
        routes.get(
            "patients",
            Doc("Patients (admin: all; doctor: their own)", tag: "directory", answers: [Doc.ok(PatientList.self, "patients")], errors: [403])
        ) { _, context in try await listPatients(context) }
        routes.get(
            "patients/:id", Doc("A patient", tag: "directory", parameters: [id], answers: [Doc.ok(Patient.self, "the patient")], errors: [404])
        ) { _, context in try await getPatient(context) }
        routes.patch(
            "patients/:id",
            Doc(
                "Change a patient's profile (the patient or an admin)", tag: "directory", body: PatientChange.self, parameters: [id],
                answers: [Doc.ok(Patient.self, "changed")], errors: [403, 404])
        ) { request, context in try await updatePatient(request, context) }
    }

    // MARK: - Doctors

    func listDoctors(_ context: IngressContext) async throws -> Response {
        let caller = try context.requireUser()
        return try JSONBody.response(DoctorList(items: try await services.directory.doctors(tenant: caller.tenantId)))
    }

    func getDoctor(_ context: IngressContext) async throws -> Response {
        let caller = try context.requireUser()
        return try JSONBody.response(try await doctor(try Path.id(context), tenant: caller.tenantId))
    }

    func createDoctor(_ request: Request, _ context: IngressContext) async throws -> Response {
        let caller = try context.requireRole(.admin)
        let body = try await JSONBody.decode(NewDoctor.self, from: request, context: context)
        let email = try Check.email(body.email)
        let password = try Check.newPassword(body.password, field: "password")
        let displayName = try Check.line(body.displayName, field: "displayName")
        let settings = DoctorSettings(
            timeZone: try Check.line(body.timeZone, field: "timeZone", max: 64), slotMinutes: body.slotMinutes ?? 30,
            bufferBeforeMinutes: body.bufferBeforeMinutes ?? 0, bufferAfterMinutes: body.bufferAfterMinutes ?? 0,
            minimumNoticeMinutes: body.minimumNoticeMinutes ?? 0, horizonDays: body.horizonDays ?? 90,
            requiresConfirmation: body.requiresConfirmation ?? false)
        if let problem = settings.problem() { throw APIError.invalid(field: problem.field, problem.reason) }
        let hours = body.hours ?? []
        try Self.check(hours)
        let specialty = try Check.optionalLine(body.specialty, field: "specialty", max: 100)
        let account = NewAccount(
            tenantId: caller.tenantId, email: email, passwordHash: try await services.passwords.hash(password), role: .doctor,
            displayName: displayName, emailVerified: true)
        do {
            let doctor = try await services.directory.createDoctor(
                account, specialty: specialty, settings: settings, hours: hours,
                audit: AuditEntry("doctor_created", tenant: caller.tenantId, user: caller.id, details: ["doctor": "\(account.id)"]))
            return try JSONBody.response(status: .created, doctor)
        } catch ClinicStoreError.emailTaken {
            throw APIError.conflict("email_taken", "an account with this email exists")
        }
    }

    func updateDoctor(_ request: Request, _ context: IngressContext) async throws -> Response {
        let caller = try context.requireUser()
        let id = try Path.id(context)
        var doctor = try await doctor(id, tenant: caller.tenantId)
        try Self.requireSelfOrAdmin(caller, id)
        let body = try await JSONBody.decode(DoctorChange.self, from: request, context: context)
        if let name = body.displayName { doctor.displayName = try Check.line(name, field: "displayName") }
        if let specialty = body.specialty { doctor.specialty = try Check.optionalLine(specialty, field: "specialty", max: 100) }
        var settings = doctor.settings
        if let value = body.timeZone { settings.timeZone = try Check.line(value, field: "timeZone", max: 64) }
        if let value = body.slotMinutes { settings.slotMinutes = value }
        if let value = body.bufferBeforeMinutes { settings.bufferBeforeMinutes = value }
        if let value = body.bufferAfterMinutes { settings.bufferAfterMinutes = value }
        if let value = body.minimumNoticeMinutes { settings.minimumNoticeMinutes = value }
        if let value = body.horizonDays { settings.horizonDays = value }
        if let value = body.requiresConfirmation { settings.requiresConfirmation = value }
        if let problem = settings.problem() { throw APIError.invalid(field: problem.field, problem.reason) }
        doctor.settings = settings
        try await services.directory.updateDoctor(doctor)
        services.calendarChanged(doctor: id)
        return try JSONBody.response(doctor)
    }

    func getHours(_ context: IngressContext) async throws -> Response {
        let caller = try context.requireUser()
        let id = try Path.id(context)
        _ = try await doctor(id, tenant: caller.tenantId)
        return try JSONBody.response(HoursBody(hours: try await services.directory.weeklyHours(doctor: id, tenant: caller.tenantId)))
    }

    func setHours(_ request: Request, _ context: IngressContext) async throws -> Response {
        let caller = try context.requireUser()
        let id = try Path.id(context)
        _ = try await doctor(id, tenant: caller.tenantId)
        try Self.requireSelfOrAdmin(caller, id)
        let body = try await JSONBody.decode(HoursBody.self, from: request, context: context)
        try Self.check(body.hours)
        try await services.directory.setWeeklyHours(body.hours, doctor: id, tenant: caller.tenantId)
        services.calendarChanged(doctor: id)
        return try JSONBody.response(HoursBody(hours: body.hours.sorted { ($0.weekday, $0.start) < ($1.weekday, $1.start) }))
    }

    func getOverrides(_ request: Request, _ context: IngressContext) async throws -> Response {
        let caller = try context.requireUser()
        let id = try Path.id(context)
        let (from, to) = try QueryParameters(request).dateRange(maxDays: 366)
        _ = try await doctor(id, tenant: caller.tenantId)
        return try JSONBody.response(
            OverrideList(items: try await services.directory.overrides(doctor: id, tenant: caller.tenantId, from: from, to: to)))
    }

    func setOverride(_ request: Request, _ context: IngressContext) async throws -> Response {
        let caller = try context.requireUser()
        let id = try Path.id(context)
        let date = try Path.date(context)
        _ = try await doctor(id, tenant: caller.tenantId)
        try Self.requireSelfOrAdmin(caller, id)
        let body = try await JSONBody.decode(OverrideBody.self, from: request, context: context)
        try Self.check(body.hours.map { WeeklyInterval(weekday: 1, start: $0.start, end: $0.end) }, field: "hours")
        let override = DateOverride(date: date, hours: body.hours)
        try await services.directory.setOverride(override, doctor: id, tenant: caller.tenantId)
        services.calendarChanged(doctor: id)
        return try JSONBody.response(override)
    }

    func removeOverride(_ context: IngressContext) async throws -> Response {
        let caller = try context.requireUser()
        let id = try Path.id(context)
        let date = try Path.date(context)
        _ = try await doctor(id, tenant: caller.tenantId)
        try Self.requireSelfOrAdmin(caller, id)
        try await services.directory.removeOverride(date: date, doctor: id, tenant: caller.tenantId)
        services.calendarChanged(doctor: id)
        return JSONBody.noContent()
    }

    /// Free slots in the doctor's time zone for local days `from`…`to` (at most 62 days).
    func slots(_ request: Request, _ context: IngressContext) async throws -> Response {
        let caller = try context.requireUser()
        let id = try Path.id(context)
        let (from, to) = try QueryParameters(request).dateRange(maxDays: 62)
        let doctor = try await services.doctor(id, tenant: caller.tenantId)
        guard let doctor else { throw APIError.notFound("doctor") }
        let now = Date()
        // Slots come from a cache kept fresh by the doctor's events; time moving on is applied here.
        let earliest = now.addingTimeInterval(Double(doctor.settings.minimumNoticeMinutes) * 60)
        let slots = try await services.slots.freeSlots(doctor: id, from: from, to: to, at: now).filter { $0.startsAt >= earliest }
        return try JSONBody.response(Slots(doctorId: id, timeZone: doctor.settings.timeZone, from: from, to: to, slots: slots))
    }

    func createAdmin(_ request: Request, _ context: IngressContext) async throws -> Response {
        let caller = try context.requireRole(.admin)
        let body = try await JSONBody.decode(NewAdmin.self, from: request, context: context)
        let email = try Check.email(body.email)
        let password = try Check.newPassword(body.password, field: "password")
        let displayName = try Check.line(body.displayName, field: "displayName")
        let account = NewAccount(
            tenantId: caller.tenantId, email: email, passwordHash: try await services.passwords.hash(password), role: .admin,
            displayName: displayName, emailVerified: true)
        do {
            let user = try await services.identity.createAccount(
                account, audit: AuditEntry("admin_created", tenant: caller.tenantId, user: caller.id, details: ["admin": "\(account.id)"]))
            return try JSONBody.response(status: .created, user)
        } catch ClinicStoreError.emailTaken {
            throw APIError.conflict("email_taken", "an account with this email exists")
        }
    }

    // MARK: - Patients

    /// Admins see every patient of the tenant; doctors those with an appointment with them.
    func listPatients(_ context: IngressContext) async throws -> Response {
        let caller = try context.requireRole(.admin, .doctor)
        let only = caller.role == .admin ? nil : try await services.appointments.patients(ofDoctor: caller.id, tenant: caller.tenantId)
        return try JSONBody.response(PatientList(items: try await services.directory.patients(tenant: caller.tenantId, only: only)))
    }

    func getPatient(_ context: IngressContext) async throws -> Response {
        let caller = try context.requireUser()
        return try JSONBody.response(try await visiblePatient(try Path.id(context), to: caller))
    }

    func updatePatient(_ request: Request, _ context: IngressContext) async throws -> Response {
        let caller = try context.requireUser()
        let id = try Path.id(context)
        var patient = try await visiblePatient(id, to: caller)
        try Self.requireSelfOrAdmin(caller, id)
        let body = try await JSONBody.decode(PatientChange.self, from: request, context: context)
        if let name = body.displayName { patient.displayName = try Check.line(name, field: "displayName") }
        if let phone = body.phone { patient.phone = try Check.optionalLine(phone, field: "phone", max: 40) }
        if let birth = body.dateOfBirth {
            let date = try Check.date(birth, field: "dateOfBirth")
            guard date <= String(WireCoding.formatTimestamp(Date()).prefix(10)) else {
                throw APIError.invalid(field: "dateOfBirth", "must not be in the future")
            }
            patient.dateOfBirth = date
        }
        try await services.directory.updatePatient(patient)
        return try JSONBody.response(patient)
    }

    /// A patient sees themself; a doctor their patients; an admin everyone of the tenant. Others: 404.
    func visiblePatient(_ id: UUID, to caller: AuthenticatedUser) async throws -> Patient {
        let visible: Bool
        switch caller.role {
        case .admin: visible = true
        case .patient: visible = caller.id == id
        case .doctor: visible = try await services.appointments.patients(ofDoctor: caller.id, tenant: caller.tenantId).contains(id)
        case .system: visible = false
        }
        guard visible, let patient = try await services.directory.patient(id, tenant: caller.tenantId) else {
            throw APIError.notFound("patient")
        }
        return patient
    }

    // MARK: - Helpers

    func doctor(_ id: UUID, tenant: UUID) async throws -> Doctor {
        guard let doctor = try await services.directory.doctor(id, tenant: tenant) else { throw APIError.notFound("doctor") }
        return doctor
    }

    static func requireSelfOrAdmin(_ caller: AuthenticatedUser, _ id: UUID) throws {
        guard caller.role == .admin || caller.id == id else { throw APIError.forbidden("only the person themself or an admin may change this") }
    }

    static func check(_ hours: [WeeklyInterval], field: String = "hours") throws {
        guard hours.count <= maxIntervals else { throw APIError.invalid(field: field, "at most \(maxIntervals) intervals") }
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
}

extension Doctor: Documented {
    static var schema: Schema {
        .object(
            [
                ("id", .uuid), ("tenantId", .uuid), ("displayName", .string(maxLength: 200)), ("specialty", .string(maxLength: 100)),
                ("settings", .object(DirectoryRoutes.settingsProperties, required: DirectoryRoutes.settingsProperties.map(\.0))),
            ], required: ["id", "tenantId", "displayName", "settings"])
    }
}

extension Patient: Documented {
    static var schema: Schema {
        .object(
            [
                ("id", .uuid), ("tenantId", .uuid), ("displayName", .string(maxLength: 200)), ("email", .email),
                ("phone", .string(maxLength: 40)), ("dateOfBirth", .date),
            ], required: ["id", "tenantId", "displayName"])
    }
}

extension WeeklyInterval: Documented {
    static var schema: Schema {
        .object([("weekday", .integer(minimum: 1, maximum: 7)), ("start", .clock), ("end", .clock)], required: ["weekday", "start", "end"])
    }
}

extension DayHours: Documented {
    static var schema: Schema { .object([("start", .clock), ("end", .clock)], required: ["start", "end"]) }
}

extension DateOverride: Documented {
    static var schema: Schema {
        .object([("date", .date), ("hours", .array(.ref(DayHours.self)))], required: ["date", "hours"])
    }
}
