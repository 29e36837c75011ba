import Contracts
import Foundation
import Ingress
import TestSupport
import Testing

@Suite("Who may do what", .timeLimit(.minutes(3)))
struct AccessTests {
    @Test func rolesTenantsAndTokensAreEnforced() async throws {
        try await TestFleet.with { fleet in
            let admin = try await fleet.admin()
            let patient = try await fleet.register()
            let stranger = try await fleet.register("Stranger")
            let doctor = try await fleet.doctor(by: admin, requiresConfirmation: true)
            let otherDoctor = try await fleet.doctor(by: admin)
            let slot = try await fleet.firstFreeSlot(doctor.id, token: patient.accessToken)
            let requested = try await fleet.api.post(
                "/v1/appointments", ["doctorId": doctor.id.uuidString, "startsAt": slot.startsAt], token: patient.accessToken)
            _ = try await fleet.outcome(of: requested.json["commandId"] as? String ?? "", token: patient.accessToken)
            let appointment = try #require(requested.json["appointmentId"] as? String)

            // A patient cannot confirm, reject or complete.
            for action in ["confirm", "complete", "no-show"] {
                #expect(try await fleet.api.post("/v1/appointments/\(appointment)/\(action)", token: patient.accessToken).status == 403, "\(action)")
            }
            #expect(try await fleet.api.post("/v1/appointments/\(appointment)/reject", ["reason": "x"], token: patient.accessToken).status == 403)
            // Another doctor cannot see or act on it; another patient cannot see it.
            #expect(try await fleet.api.post("/v1/appointments/\(appointment)/confirm", token: otherDoctor.session.accessToken).status == 404)
            #expect(try await fleet.api.get("/v1/appointments/\(appointment)", token: otherDoctor.session.accessToken).status == 404)
            #expect(try await fleet.api.get("/v1/appointments/\(appointment)", token: stranger.accessToken).status == 404)
            #expect(try await fleet.api.get("/v1/patients/\(patient.userId)", token: stranger.accessToken).status == 404)
            #expect(try await fleet.api.get("/v1/patients/\(patient.userId)", token: doctor.session.accessToken).status == 200)
            #expect(try await fleet.api.get("/v1/patients", token: patient.accessToken).status == 403)
            // Only admins create doctors; a doctor edits only their own hours.
            #expect(try await fleet.api.post("/v1/doctors", ["email": "x@y.z"], token: patient.accessToken).status == 403)
            let hours = ["hours": [["weekday": 1, "start": "09:00", "end": "10:00"]]]
            let foreign = try await fleet.api.send(
                "PUT", "/v1/doctors/\(doctor.id)/hours", body: try JSONSerialization.data(withJSONObject: hours),
                token: otherDoctor.session.accessToken, headers: [:])
            #expect(foreign.status == 403)

            // Tenant B sees nothing of tenant A, and cannot book A's doctor.
            let tenantB = UUID()
            let adminB = try await fleet.admin(tenant: tenantB)
            let patientB = try await fleet.register("B Patient", tenant: tenantB)
            #expect(patientB.tenantId == tenantB)
            #expect(try await fleet.api.get("/v1/appointments/\(appointment)", token: adminB.accessToken).status == 404)
            #expect(try await fleet.api.get("/v1/doctors/\(doctor.id)", token: patientB.accessToken).status == 404)
            #expect(try await fleet.api.get("/v1/doctors/\(doctor.id)/slots?from=\(TestFleet.day(2))&to=\(TestFleet.day(2))", token: patientB.accessToken).status == 404)
            let crossBooking = try await fleet.api.post(
                "/v1/appointments", ["doctorId": doctor.id.uuidString, "startsAt": slot.startsAt], token: patientB.accessToken)
            #expect(crossBooking.status == 404)
            #expect((try await fleet.api.get("/v1/doctors", token: adminB.accessToken).json["items"] as? [Any])?.isEmpty == true)
            #expect((try await fleet.api.get("/v1/appointments", token: adminB.accessToken).json["total"] as? Int) == 0)

            // Expired and tampered tokens are 401.
            let expired = try await AccessTokens(keys: [.init(id: "k1", secret: TestFleet.secret)], lifetime: 1)
                .issue(
                    for: AuthenticatedUser(id: patient.userId, tenantId: patient.tenantId, role: .patient, sessionId: patient.sessionId),
                    now: Date().addingTimeInterval(-60))
            #expect(try await fleet.api.get("/v1/auth/me", token: expired).status == 401)
            var parts = patient.accessToken.split(separator: ".").map(String.init)
            let forged = #"{"sub":"\#(patient.userId)","tid":"\#(patient.tenantId)","role":"admin","iat":0,"exp":9999999999,"jti":"\#(UUID())"}"#
            parts[1] = Data(forged.utf8).base64EncodedString().replacingOccurrences(of: "=", with: "")
                .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            #expect(try await fleet.api.get("/v1/auth/me", token: parts.joined(separator: ".")).status == 401)
            #expect(try await fleet.api.get("/v1/auth/me", token: "not-a-token").status == 401)
            let otherSecret = try await AccessTokens(keys: [.init(id: "k1", secret: "another-secret-another-secret-another")], lifetime: 60)
                .issue(for: AuthenticatedUser(id: patient.userId, tenantId: patient.tenantId, role: .admin, sessionId: patient.sessionId))
            #expect(try await fleet.api.get("/v1/auth/me", token: otherSecret).status == 401)
        }
    }

    @Test func sessionsRotateRevokeAndAreRateLimited() async throws {
        try await TestFleet.with(bookingWorker: false) { fleet in
            let patient = try await fleet.register("Sam")
            let me = try await fleet.api.get("/v1/auth/me", token: patient.accessToken)
            let email = try #require(me.json["email"] as? String)

            // Refresh rotates; the old refresh token is then useless, and reusing it ends the session.
            let rotated = try await fleet.api.post("/v1/auth/refresh", ["refreshToken": patient.refreshToken])
            #expect(rotated.status == 200)
            let next = try Session(rotated.json)
            #expect(next.refreshToken != patient.refreshToken)
            #expect(try await fleet.api.post("/v1/auth/refresh", ["refreshToken": patient.refreshToken]).status == 401)
            #expect(try await fleet.api.post("/v1/auth/refresh", ["refreshToken": next.refreshToken]).status == 401, "reuse revoked the family")

            // Logout (signed in) ends the session: its refresh token is useless.
            let again = try await fleet.login(email)
            #expect(try await fleet.api.post("/v1/auth/logout", token: again.accessToken).status == 204)
            #expect(try await fleet.api.post("/v1/auth/refresh", ["refreshToken": again.refreshToken]).status == 401)

            // Change password: the old one stops working, other sessions end, this one goes on.
            let other = try await fleet.login(email)
            let changing = try await fleet.login(email)
            let change = try await fleet.api.post(
                "/v1/auth/change-password", ["currentPassword": TestFleet.password, "newPassword": "an even longer password"],
                token: changing.accessToken)
            #expect(change.status == 204)
            #expect(try await fleet.api.post("/v1/auth/refresh", ["refreshToken": other.refreshToken]).status == 401)
            #expect(try await fleet.api.post("/v1/auth/refresh", ["refreshToken": changing.refreshToken]).status == 200)
            let wrong = try await fleet.api.post("/v1/auth/login", ["email": email, "password": TestFleet.password])
            #expect(wrong.status == 401)
            _ = try await fleet.login(email, password: "an even longer password")

            // Five failures lock the account for a while (even with the right password).
            for _ in 0..<5 {
                #expect(try await fleet.api.post("/v1/auth/login", ["email": email, "password": "wrong password!"]).status == 401)
            }
            let limited = try await fleet.api.post("/v1/auth/login", ["email": email, "password": "an even longer password"])
            #expect(limited.status == 429)
            #expect(limited.headers["retry-after"] != nil)
            // Another account from the same address is not locked yet.
            let fresh = try await fleet.register("Fresh")
            _ = fresh
        }
    }

    @Test func anIdempotencyKeyReplaysTheFirstAnswerAndPublishesNothingNew() async throws {
        try await TestFleet.with(bookingWorker: false) { fleet in
            let admin = try await fleet.admin()
            let patient = try await fleet.register()
            let doctor = try await fleet.doctor(by: admin)
            let slot = try await fleet.firstFreeSlot(doctor.id, token: patient.accessToken)
            let body: [String: Any] = ["doctorId": doctor.id.uuidString, "startsAt": slot.startsAt]
            let key = ["Idempotency-Key": "book-\(UUID())"]
            let first = try await fleet.api.post("/v1/appointments", body, token: patient.accessToken, headers: key)
            let second = try await fleet.api.post("/v1/appointments", body, token: patient.accessToken, headers: key)
            #expect(first.status == 202)
            #expect(second.status == 202)
            #expect(second.json["commandId"] as? String == first.json["commandId"] as? String)
            #expect(second.headers["idempotent-replayed"] == "true")
            let different = try await fleet.api.post(
                "/v1/appointments", ["doctorId": doctor.id.uuidString, "startsAt": slot.endsAt], token: patient.accessToken, headers: key)
            #expect(different.status == 422)
            #expect(different.errorField == "Idempotency-Key")
            // Recorded off the request path, once.
            try await eventually("the command is recorded as issued") {
                try await fleet.database.query("SELECT count(*) FROM identity.issued_commands")[0].decode(Int.self, 0) == 1
            }
            let messages = try await TestKafka.consume([fleet.commandsTopic], count: 2, timeout: .seconds(5))
            #expect(messages.count == 1, "one command published")
        }
    }
}
