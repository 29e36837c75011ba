import Contracts
import Foundation
import Postgres
import TestSupport
import Testing

/// Running a clinic chain: clinics made by platform operators (API and CLI), disabled and enabled,
/// a directory patients can search, and the audit trail of every read of health data.
@Suite("A clinic chain", .timeLimit(.minutes(4)))
struct ClinicChainTests {
    static func token(inLink output: String) throws -> String {
        let link = try #require(output.split(separator: "\n").first { $0.contains("set-password?token=") })
        return try #require(String(link).components(separatedBy: "token=").last)
    }

    @Test func aPlatformOperatorCreatesAClinicAndNoClinicUserCan() async throws {
        try await TestFleet.with(bookingWorker: false) { fleet in
            let database = ["CAREFLEET_DATABASE_URL": fleet.databaseURL, "CAREFLEET_FLEET_NAMESPACE": fleet.namespace.prefix]
            let operatorEmail = "ops-\(UUID().uuidString.prefix(8).lowercased())@platform.test"
            let created = try await FleetBinary.run(["platform-operators", "create", "--email", operatorEmail], environment: database)
            #expect(created.status == 0, "\(created.output)")
            let set = try await fleet.api.post(
                "/v1/auth/set-password", ["token": try Self.token(inLink: created.output), "password": "operator password 2026"])
            #expect(set.status == 200, "\(set.text)")
            let operatorSession = try Session(set.json)
            #expect(operatorSession.role == "platform" && operatorSession.tenantId == Tenants.platformTenant)

            let clinic = try await fleet.api.post(
                "/v1/tenants", ["name": "Second Clinic", "adminEmail": "head@second.test", "timeZone": "Europe/Vienna"],
                token: operatorSession.accessToken)
            #expect(clinic.status == 201, "\(clinic.text)")
            let tenant = try #require(UUID(uuidString: (clinic.json["tenant"] as? [String: Any])?["id"] as? String ?? ""))
            let link = try #require(clinic.json["setPasswordLink"] as? String)
            // The link opens a page with a form; submitting it sets the password.
            let token = try #require(link.components(separatedBy: "token=").last)
            #expect(try await fleet.api.get("/set-password?token=\(token)").text.contains("name=\"password\""))
            let form = try await fleet.api.send(
                "POST", "/set-password", body: Data("token=\(token)&password=head+of+clinic+2026".utf8), token: nil,
                headers: ["Content-Type": "application/x-www-form-urlencoded"])
            #expect(form.status == 200 && form.text.contains("Your password is set"), "\(form.text)")
            let head = try await fleet.login("head@second.test", tenant: tenant, password: "head of clinic 2026")
            #expect(head.role == "admin")
            // The link is spent, and the admin's email is also on its way.
            #expect(try await fleet.api.post("/v1/auth/set-password", ["token": token, "password": "another password 2026"]).status == 422)
            let emails = try await TestKafka.consume([fleet.namespace.topicName(Topics.notificationEmail.name)], count: 1)
            #expect(emails.contains { String(decoding: $0.value ?? Data(), as: UTF8.self).contains("head@second.test") })

            // No clinic user may manage clinics.
            #expect(try await fleet.api.post("/v1/tenants", ["name": "X", "adminEmail": "x@x.test"], token: head.accessToken).status == 403)
            #expect(try await fleet.api.get("/v1/tenants", token: head.accessToken).status == 403)
            let listed = try await fleet.api.get("/v1/tenants", token: operatorSession.accessToken)
            #expect((listed.json["items"] as? [[String: Any]])?.contains { ($0["tenant"] as? [String: Any])?["name"] as? String == "Second Clinic" } == true)
            // Nor can the database be talked into a platform account inside a clinic.
            await #expect(throws: PostgresError.self) {
                try await fleet.database.query(
                    "INSERT INTO identity.users (id, tenant_id, email, password_hash, role, display_name) VALUES ($1, $2, 'p@x.test', '!', 'platform', 'P')",
                    [UUID(), tenant])
            }
            // The CLI makes clinics too, and lists them.
            let cli = try await FleetBinary.run(
                ["tenants", "create", "--name", "Third Clinic", "--admin-email", "head@third.test", "--no-email"], environment: database)
            #expect(cli.status == 0 && cli.output.contains("set-password?token="), "\(cli.output)")
            let list = try await FleetBinary.run(["tenants", "list"], environment: database)
            #expect(list.output.contains("Second Clinic") && list.output.contains("Third Clinic") && list.output.contains("Europe/Vienna"))
        }
    }

    @Test func aDisabledClinicSignsNobodyInEndsItsSessionsAndKeepsItsData() async throws {
        try await TestFleet.with(workers: .init(booking: false, ingressConfig: ["auth.revocation.refresh": "200ms"])) { fleet in
            let tenant = UUID()
            let admin = try await fleet.admin(tenant: tenant)
            let patient = try await fleet.register("Kept", tenant: tenant)
            let database = ["CAREFLEET_DATABASE_URL": fleet.databaseURL]
            let disabled = try await FleetBinary.run(["tenants", "disable", tenant.uuidString], environment: database)
            #expect(disabled.status == 0 && disabled.output.contains("2 open sessions ended"), "\(disabled.output)")
            // Sessions ended elsewhere (the CLI) are refused within the revocation refresh.
            try await eventually(timeout: .seconds(5), "the access token is refused") {
                try await fleet.api.get("/v1/auth/me", token: patient.accessToken).status == 401
            }
            let login = try await fleet.api.post(
                "/v1/auth/login", ["email": patient.email, "password": TestFleet.password], headers: ["X-Tenant-Id": tenant.uuidString])
            #expect(login.status == 403, "\(login.text)")
            #expect(try await fleet.api.post("/v1/auth/refresh", ["refreshToken": admin.refreshToken]).status == 401)
            let kept = try await fleet.database.query("SELECT count(*) AS n FROM identity.users WHERE tenant_id = $1", [tenant])
            #expect(try kept.first?.decode(Int.self, "n") == 2, "its data stays")
            _ = try await FleetBinary.run(["tenants", "enable", tenant.uuidString], environment: database)
            _ = try await fleet.login(patient.email, tenant: tenant)
        }
    }

    @Test func patientsFindDoctorsBySpecialtyWordsLanguageAndAFreeSlot() async throws {
        try await TestFleet.with(bookingWorker: false) { fleet in
            let tenant = UUID()
            let admin = try await fleet.admin(tenant: tenant)
            let patient = try await fleet.register("Searcher", tenant: tenant)
            let heart = try await fleet.doctor(
                by: admin, extra: ["specialties": ["Cardiology"], "languages": ["en", "de"], "bio": "Heart rhythm and sports medicine", "location": "Site A"])
            let skin = try await fleet.doctor(by: admin, extra: ["specialties": ["Dermatology"], "languages": ["fr"], "bio": "Skin and allergies"])
            // A doctor without hours has no free slot.
            let idle = try await fleet.doctor(by: admin, extra: ["specialties": ["Cardiology"], "hours": [[String: Any]]()])
            func ids(_ query: String) async throws -> [String] {
                let answer = try await fleet.api.get("/v1/doctors?\(query)", token: patient.accessToken)
                #expect(answer.status == 200, "\(query): \(answer.text)")
                return (answer.json["items"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
            }
            #expect(Set(try await ids("specialty=cardiology")) == [heart.id.canonical, idle.id.canonical])
            #expect(try await ids("q=allergies") == [skin.id.canonical])
            #expect(try await ids("q=rhythm%20sports") == [heart.id.canonical])
            #expect(try await ids("language=de") == [heart.id.canonical])
            let day = TestFleet.day(2)
            let available = try await fleet.api.get(
                "/v1/doctors?specialty=Cardiology&availableFrom=\(day)&availableTo=\(TestFleet.day(4))", token: patient.accessToken)
            let items = try #require(available.json["items"] as? [[String: Any]])
            #expect(items.compactMap { $0["id"] as? String } == [heart.id.canonical], "only the one with a free slot")
            let first = try #require((items.first?["firstFreeSlot"] as? [String: Any])?["startsAt"] as? String)
            #expect(first == (try await fleet.firstFreeSlot(heart.id, token: patient.accessToken).startsAt))
            #expect(try await fleet.api.get("/v1/doctors?availableFrom=\(day)", token: patient.accessToken).errorField == "availableTo", "the missing one is named")

            // Patients keep a profile of their own.
            let changed = try await fleet.api.send(
                "PATCH", "/v1/patients/\(patient.userId)",
                body: try JSONSerialization.data(withJSONObject: ["preferredLanguage": "de-CH", "phone": "+41 44 000 00 00", "dateOfBirth": "1990-02-28"]),
                token: patient.accessToken, headers: [:])
            #expect(changed.status == 200 && changed.json["preferredLanguage"] as? String == "de-CH", "\(changed.text)")
            #expect(try await fleet.api.get("/v1/patients/\(patient.userId)", token: patient.accessToken).json["phone"] as? String == "+41 44 000 00 00")
        }
    }

    @Test func everyReadOfHealthDataIsInTheAppendOnlyAuditTrail() async throws {
        try await TestFleet.with(workers: .init(booking: true, audit: true)) { fleet in
            let admin = try await fleet.admin()
            let patient = try await fleet.register("Audited")
            let doctor = try await fleet.doctor(by: admin)
            let slot = try await fleet.firstFreeSlot(doctor.id, token: patient.accessToken)
            let appointment = try await fleet.book(patient, doctor: doctor.id, startsAt: slot.startsAt)
            #expect(try await fleet.api.get("/v1/appointments/\(appointment)", token: patient.accessToken).status == 200)
            #expect(try await fleet.api.get("/v1/appointments", token: doctor.session.accessToken).status == 200)
            // An admin reading a patient's profile must say why.
            let unexplained = try await fleet.api.get("/v1/patients/\(patient.userId)", token: admin.accessToken)
            #expect(unexplained.status == 400 && unexplained.errorField == "X-Access-Reason")
            let explained = try await fleet.api.send(
                "GET", "/v1/patients/\(patient.userId)", body: nil, token: admin.accessToken, headers: ["X-Access-Reason": "billing query 4711"])
            #expect(explained.status == 200)

            var records: [[String: Any]] = []
            try await eventually(timeout: .seconds(20), "the audit worker wrote the three reads") {
                records = try await fleet.api.get("/v1/audit?subject=\(patient.userId)", token: admin.accessToken).json["items"] as? [[String: Any]] ?? []
                return records.count >= 3
            }
            let actors = Set(records.compactMap { $0["actorId"] as? String })
            #expect(actors == [patient.userId.canonical, doctor.id.canonical, admin.userId.canonical])
            let adminRead = try #require(records.first { $0["actorId"] as? String == admin.userId.canonical })
            #expect(adminRead["reason"] as? String == "billing query 4711" && adminRead["subjectKind"] as? String == "patient")
            #expect(records.allSatisfy { $0["address"] as? String == "127.0.0.1" && $0["at"] is String })
            #expect(try await fleet.api.get("/v1/audit", token: patient.accessToken).status == 403)
            let csv = try await fleet.api.get("/v1/audit?subject=\(patient.userId)&format=csv", token: admin.accessToken)
            #expect(csv.headers["content-type"]?.hasPrefix("text/csv") == true && csv.text.contains("billing query 4711"))
            // Append-only, whoever asks.
            await #expect(throws: PostgresError.self) { try await fleet.database.query("UPDATE audit.trail SET reason = 'changed'") }
            await #expect(throws: PostgresError.self) { try await fleet.database.query("DELETE FROM audit.trail") }
            await #expect(throws: PostgresError.self) { try await fleet.database.query("TRUNCATE audit.trail") }
        }
    }
}
