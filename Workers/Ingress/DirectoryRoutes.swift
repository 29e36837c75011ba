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

    static let profileProperties: [(String, Schema)] = [
        ("specialty", .text(100)), ("specialties", .array(.text(100, minLength: 1), maxItems: 10)),
        ("languages", .array(.string(minLength: 2, maxLength: 35, pattern: "^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$"), maxItems: 10)),
        ("bio", .text(Check.textLength)), ("location", .text(200)),
    ]

    struct NewDoctor: Decodable, Documented {
        var email: String
        var password: String
        var displayName: String
        /// One specialty (kept for clients of the first API); `specialties` for several.
        var specialty: String?
        var specialties: [String]?
        var languages: [String]?
        var bio: String?
        var location: String?
        var timeZone: String
        var slotMinutes: Int?
        var bufferBeforeMinutes: Int?
        var bufferAfterMinutes: Int?
        var minimumNoticeMinutes: Int?
        var horizonDays: Int?
        var requiresConfirmation: Bool?
        var hours: [WeeklyInterval]?
        static let schema = Schema.object(
            [("email", .email), ("password", .text(Passwords.maximumBytes, minLength: 10)), ("displayName", .text(200, minLength: 1))]
                + profileProperties + settingsProperties + [("hours", .array(.ref(WeeklyInterval.self), maxItems: maxIntervals))],
            required: ["email", "password", "displayName", "timeZone"])
    }

    struct DoctorChange: Decodable, Documented {
        var displayName: String?
        var specialty: String?
        var specialties: [String]?
        var languages: [String]?
        var bio: String?
        var location: String?
        var timeZone: String?
        var slotMinutes: Int?
        var bufferBeforeMinutes: Int?
        var bufferAfterMinutes: Int?
        var minimumNoticeMinutes: Int?
        var horizonDays: Int?
        var requiresConfirmation: Bool?
        static let schema = Schema.object([("displayName", .text(200, minLength: 1))] + profileProperties + settingsProperties)
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
        var preferredLanguage: String?
        static let schema = Schema.object(
            [
                ("displayName", .text(200, minLength: 1)), ("phone", .text(40)), ("dateOfBirth", .date),
                ("preferredLanguage", .string(minLength: 2, maxLength: 35, pattern: "^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$")),
            ])
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

    /// A doctor found by a search, with their first free slot when the search asked for availability.
    struct DoctorHit: Encodable, Documented {
        var doctor: Doctor
        var firstFreeSlot: FreeSlot?

        enum Extra: String, CodingKey { case firstFreeSlot }

        func encode(to encoder: any Encoder) throws {
            try doctor.encode(to: encoder)
            var container = encoder.container(keyedBy: Extra.self)
            try container.encodeIfPresent(firstFreeSlot, forKey: .firstFreeSlot)
        }

        static let schemaName = "DoctorHit"
        static var schema: Schema {
            guard case .object(let properties, let required, _) = Doctor.schema else { return Doctor.schema }
            return .object(
                properties + [("firstFreeSlot", .object([("startsAt", .dateTime), ("endsAt", .dateTime)], required: ["startsAt", "endsAt"]))],
                required: required)
        }
    }

    struct DoctorList: Encodable, Documented {
        var items: [DoctorHit]
        var total: Int
        var limit: Int
        var offset: Int
        static let schema = Schema.object(
            [
                ("items", .array(.ref(DoctorHit.self))), ("total", .integer(minimum: 0)), ("limit", .integer(minimum: 1, maximum: 200)),
                ("offset", .integer(minimum: 0)),
            ], required: ["items", "total", "limit", "offset"])
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
        routes.get(
            "doctors",
            Doc(
                "Find the clinic's doctors: by specialty, language, words of name, specialties and bio, and (with a window of at most 14 days) a free slot in it, with the first",
                tag: "directory",
                parameters: [
                    Doc.query("specialty", .text(100, minLength: 1)), Doc.query("language", .string(minLength: 2, maxLength: 35)),
                    Doc.query("q", .text(200, minLength: 1), "words of the name, specialties or bio"),
                    Doc.query("availableFrom", .date, "with availableTo: only doctors with a free slot on these local days"),
                    Doc.query("availableTo", .date), Doc.query("limit", .integer(minimum: 1, maximum: 200)),
                    Doc.query("offset", .integer(minimum: 0, maximum: 100_000)),
                ], answers: [Doc.ok(DoctorList.self, "the doctors")])
        ) { request, context in try await listDoctors(request, context) }
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
        let reason = Doc.header("X-Access-Reason", .text(500, minLength: 1), "why (required of admins)")
        routes.get(
            "patients",
            Doc(
                "Patients (admin: all, with a reason; doctor: their own); audited", tag: "directory", parameters: [reason],
                answers: [Doc.ok(PatientList.self, "patients")], errors: [403])
        ) { request, context in try await listPatients(request, context) }
        routes.get(
            "patients/:id",
            Doc(
                "A patient's profile (the patient; their doctors; an admin with a reason); audited", tag: "directory",
                parameters: [id, reason], answers: [Doc.ok(Patient.self, "the patient")], errors: [404])
        ) { request, context in try await getPatient(request, context) }
        routes.patch(
            "patients/:id",
            Doc(
                "Change a patient's profile (the patient or an admin)", tag: "directory", body: PatientChange.self, parameters: [id],
                answers: [Doc.ok(Patient.self, "changed")], errors: [403, 404])
        ) { request, context in try await updatePatient(request, context) }
    }

    // MARK: - Doctors

    /// The longest availability window a search may ask for, and how many doctors it checks.
    static let maxAvailabilityDays = 14
    static let maxAvailabilityCandidates = 200

    func listDoctors(_ request: Request, _ context: IngressContext) async throws -> Response {
        let caller = try context.requireUser()
        let query = QueryParameters(request)
        var search = DoctorSearch(
            specialty: try query.string("specialty", max: 100), text: try query.string("q", max: 200),
            language: try query.string("language", min: 2, max: 35), limit: try query.int("limit", default: 50, in: 1...200),
            offset: try query.int("offset", default: 0, in: 0...100_000))
        let from = try query.date("availableFrom", required: false)
        let to = try query.date("availableTo", required: false)
        guard (from == nil) == (to == nil) else {
            throw APIError.malformed(field: from == nil ? "availableFrom" : "availableTo", "availableFrom and availableTo go together")
        }
        guard let from, let to else {
            let page = try await services.directory.searchDoctors(tenant: caller.tenantId, search)
            return try JSONBody.response(
                DoctorList(items: page.items.map { DoctorHit(doctor: $0) }, total: page.total, limit: search.limit, offset: search.offset))
        }
        guard to >= from else { throw APIError.invalid(field: "availableTo", "must not be before availableFrom") }
        guard (CalendarDate.dayNumber(to) ?? 0) - (CalendarDate.dayNumber(from) ?? 0) < Self.maxAvailabilityDays else {
            throw APIError.invalid(field: "availableTo", "the window may span at most \(Self.maxAvailabilityDays) days")
        }
        // Availability filters the candidates before paging: look at all of them (up to a bound).
        let (limit, offset) = (search.limit, search.offset)
        (search.limit, search.offset) = (Self.maxAvailabilityCandidates, 0)
        let candidates = try await services.directory.searchDoctors(tenant: caller.tenantId, search).items
        let now = Date()
        var available: [DoctorHit] = []
        for doctor in candidates {
            let earliest = now.addingTimeInterval(Double(doctor.settings.minimumNoticeMinutes) * 60)
            let slots = try await services.slots.freeSlots(doctor: doctor.id, from: from, to: to, at: now)
            if let first = slots.first(where: { $0.startsAt >= earliest }) { available.append(DoctorHit(doctor: doctor, firstFreeSlot: first)) }
        }
        return try JSONBody.response(
            DoctorList(items: Array(available.dropFirst(offset).prefix(limit)), total: available.count, limit: limit, offset: offset))
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
        let account = NewAccount(
            tenantId: caller.tenantId, email: email, passwordHash: try await services.passwords.hash(password), role: .doctor,
            displayName: displayName, emailVerified: true)
        var profile = Doctor(id: account.id, tenantId: caller.tenantId, displayName: displayName, settings: settings)
        try Self.apply(
            specialty: body.specialty, specialties: body.specialties, languages: body.languages, bio: body.bio, location: body.location,
            to: &profile)
        do {
            let doctor = try await services.directory.createDoctor(
                account, profile: profile, hours: hours,
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
        try Self.apply(
            specialty: body.specialty, specialties: body.specialties, languages: body.languages, bio: body.bio, location: body.location,
            to: &doctor)
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

    /// Admins see every patient of the tenant (saying why); doctors those with an appointment with them.
    func listPatients(_ request: Request, _ context: IngressContext) async throws -> Response {
        let caller = try context.requireRole(.admin, .doctor)
        let reason = try AccessAudit.reason(request, required: caller.role == .admin)
        let only = caller.role == .admin ? nil : try await services.appointments.patients(ofDoctor: caller.id, tenant: caller.tenantId)
        let patients = try await services.directory.patients(tenant: caller.tenantId, only: only)
        try await AccessAudit.record(
            patients.map { AuditSubject(kind: .patient, id: $0.id, patientId: $0.id) }, action: "GET /v1/patients", reason: reason,
            caller: caller, context: context, services: services)
        return try JSONBody.response(PatientList(items: patients))
    }

    func getPatient(_ request: Request, _ context: IngressContext) async throws -> Response {
        let caller = try context.requireUser()
        let reason = try AccessAudit.reason(request, required: caller.role == .admin)
        let patient = try await visiblePatient(try Path.id(context), to: caller)
        try await AccessAudit.record(
            [AuditSubject(kind: .patient, id: patient.id, patientId: patient.id)], action: "GET /v1/patients/{id}", reason: reason,
            caller: caller, context: context, services: services)
        return try JSONBody.response(patient)
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
        if let language = body.preferredLanguage { patient.preferredLanguage = try Check.languageTag(language, field: "preferredLanguage") }
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
        case .system, .platform: visible = false
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

    /// The profile fields of a doctor that a request gives (the others stay as they are).
    static func apply(
        specialty: String?, specialties: [String]?, languages: [String]?, bio: String?, location: String?, to doctor: inout Doctor
    ) throws {
        if let specialty { doctor.specialties = [try Check.line(specialty, field: "specialty", max: 100)] }
        if let specialties {
            guard specialties.count <= 10 else { throw APIError.invalid(field: "specialties", "at most 10") }
            doctor.specialties = try specialties.enumerated().map { try Check.line($1, field: "specialties[\($0)]", max: 100) }
        }
        if let languages {
            guard languages.count <= 10 else { throw APIError.invalid(field: "languages", "at most 10") }
            doctor.languages = try languages.enumerated().map { try Check.languageTag($1, field: "languages[\($0)]") }
        }
        if let bio { doctor.bio = try Check.optionalText(bio, field: "bio") }
        if let location { doctor.location = try Check.optionalLine(location, field: "location", max: 200) }
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
                ("id", .uuid), ("tenantId", .uuid), ("displayName", .string(maxLength: 200)),
                ("specialties", .array(.string(maxLength: 100))), ("languages", .array(.string(maxLength: 35))), ("bio", .string()),
                ("location", .string(maxLength: 200)),
                ("settings", .object(DirectoryRoutes.settingsProperties, required: DirectoryRoutes.settingsProperties.map(\.0))),
            ], required: ["id", "tenantId", "displayName", "specialties", "languages", "settings"])
    }
}

extension Patient: Documented {
    static var schema: Schema {
        .object(
            [
                ("id", .uuid), ("tenantId", .uuid), ("displayName", .string(maxLength: 200)), ("email", .email),
                ("phone", .string(maxLength: 40)), ("dateOfBirth", .date), ("preferredLanguage", .string(maxLength: 35)),
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
