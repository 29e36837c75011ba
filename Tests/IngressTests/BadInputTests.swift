import Contracts
import Foundation
import Clinic
import Hummingbird
import Ingress
import TestSupport
import Testing

@Suite("Bad input gets a clear 4xx", .timeLimit(.minutes(3)))
struct BadInputTests {
    struct Case: Sendable, CustomStringConvertible {
        var name: String
        var path: String
        var body: String
        var status: Int
        var field: String?
        var description: String { name }
    }

    @Test func badBodiesAreRejectedNamingTheField() async throws {
        try await TestFleet.with(bookingWorker: false) { fleet in
            let admin = try await fleet.admin()
            let patient = try await fleet.register()
            let doctor = try await fleet.doctor(by: admin)
            let soon = WireCoding.formatTimestamp(Date().addingTimeInterval(3 * 86400))
            let soonish = WireCoding.formatTimestamp(Date().addingTimeInterval(3 * 86400 - 1800))
            let past = WireCoding.formatTimestamp(Date().addingTimeInterval(-30 * 86400))
            let future = WireCoding.formatTimestamp(Date().addingTimeInterval(5 * 365 * 86400))
            let d = doctor.id.uuidString
            let cases = [
                Case(name: "not JSON", path: "/v1/appointments", body: "{doctorId:", status: 400, field: nil),
                Case(name: "empty body", path: "/v1/appointments", body: "", status: 400, field: nil),
                Case(name: "missing field", path: "/v1/appointments", body: #"{"startsAt":"\#(soon)"}"#, status: 400, field: "doctorId"),
                Case(name: "wrong type", path: "/v1/appointments", body: #"{"doctorId":"\#(d)","startsAt":42}"#, status: 400, field: "startsAt"),
                Case(name: "bad UUID", path: "/v1/appointments", body: #"{"doctorId":"not-a-uuid","startsAt":"\#(soon)"}"#, status: 400, field: "doctorId"),
                // Foundation's UUID(uuidString:), behind JSONDecoder, took a sign for a hex digit.
                Case(name: "signed UUID", path: "/v1/appointments", body: #"{"doctorId":"-\#(d.dropFirst())","startsAt":"\#(soon)"}"#, status: 400, field: "doctorId"),
                Case(name: "bad time", path: "/v1/appointments", body: #"{"doctorId":"\#(d)","startsAt":"next tuesday"}"#, status: 400, field: "startsAt"),
                Case(name: "end before start", path: "/v1/appointments", body: #"{"doctorId":"\#(d)","startsAt":"\#(soon)","endsAt":"\#(soonish)"}"#, status: 422, field: "endsAt"),
                Case(name: "far past", path: "/v1/appointments", body: #"{"doctorId":"\#(d)","startsAt":"\#(past)"}"#, status: 422, field: "startsAt"),
                Case(name: "far future", path: "/v1/appointments", body: #"{"doctorId":"\#(d)","startsAt":"\#(future)"}"#, status: 422, field: "startsAt"),
                Case(name: "unknown doctor", path: "/v1/appointments", body: #"{"doctorId":"\#(UUID())","startsAt":"\#(soon)"}"#, status: 404, field: nil),
                Case(name: "array instead of object", path: "/v1/appointments", body: "[]", status: 400, field: nil),
                Case(name: "bad time zone", path: "/v1/doctors", body: #"{"email":"tz@clinic.test","password":"long enough password","displayName":"Dr TZ","timeZone":"Mars/Olympus"}"#, status: 422, field: "timeZone"),
                Case(name: "bad weekday", path: "/v1/doctors", body: #"{"email":"wd@clinic.test","password":"long enough password","displayName":"Dr WD","timeZone":"UTC","hours":[{"weekday":9,"start":"09:00","end":"10:00"}]}"#, status: 422, field: "hours[0].weekday"),
                Case(name: "bad clock time", path: "/v1/doctors", body: #"{"email":"ct@clinic.test","password":"long enough password","displayName":"Dr CT","timeZone":"UTC","hours":[{"weekday":1,"start":"25:00","end":"26:00"}]}"#, status: 400, field: "hours[0].start"),
                Case(name: "short password", path: "/v1/auth/register", body: #"{"email":"p@mail.test","password":"short","displayName":"P"}"#, status: 422, field: "password"),
                Case(name: "bad email", path: "/v1/auth/register", body: #"{"email":"nope","password":"long enough password","displayName":"P"}"#, status: 422, field: "email"),
            ]
            for testCase in cases {
                let token = testCase.path == "/v1/doctors" ? admin.accessToken : patient.accessToken
                let answer = try await fleet.api.send("POST", testCase.path, body: Data(testCase.body.utf8), token: token, headers: [:])
                #expect(answer.status == testCase.status, "\(testCase): \(answer.text)")
                #expect(answer.status < 500, "\(testCase)")
                #expect(answer.errorCode != nil, "\(testCase): JSON error body \(answer.text)")
                if let field = testCase.field {
                    #expect(answer.errorField == field, "\(testCase): \(answer.text)")
                    #expect((answer.json["error"] as? [String: Any])?["message"] as? String != nil)
                }
            }
            // Query and path parameters too.
            #expect(try await fleet.api.get("/v1/doctors/\(d)/slots?from=2026-13-01&to=2026-13-02", token: patient.accessToken).errorField == "from")
            #expect(try await fleet.api.get("/v1/doctors/not-a-uuid", token: patient.accessToken).status == 400)
            // A sign or a space where a hex digit belongs: Foundation's UUID(uuidString:) reads each
            // byte with sscanf and took "-a" as a byte, so this path named a doctor (404, not 400).
            for bad in ["-" + d.dropFirst(), "+" + d.dropFirst(), String(d.prefix(34)) + "-1"] {
                let answer = try await fleet.api.get("/v1/doctors/\(bad)", token: patient.accessToken)
                #expect(answer.status == 400 && answer.errorField == "id", "\(bad): \(answer.text)")
            }
            #expect(try await fleet.api.get("/v1/appointments?status=lost", token: patient.accessToken).errorField == "status")
        }
    }

    @Test func theOpenAPIDocumentParsesAndListsEveryRoute() async throws {
        try await TestFleet.with(bookingWorker: false) { fleet in
            let answer = try await fleet.api.get("/openapi.json")
            #expect(answer.status == 200)
            let document = answer.json
            #expect((document["openapi"] as? String)?.hasPrefix("3.") == true)
            let paths = try #require(document["paths"] as? [String: [String: Any]])
            var documented = Set<String>()
            for (path, operations) in paths {
                for method in operations.keys { documented.insert("\(method.uppercased()) \(path)") }
            }
            let services = try await InMemoryWorld().services()
            var served = Set<String>()
            for route in try IngressApplication.router(services).routes {
                let path = route.path.description.split(separator: "/").map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0) }
                served.insert("\(route.method.rawValue) /\(path.joined(separator: "/"))")
            }
            #expect(served == documented, "served but undocumented: \(served.subtracting(documented)); documented but not served: \(documented.subtracting(served))")
            // Every schema a path refers to exists.
            let schemas = try #require((document["components"] as? [String: Any])?["schemas"] as? [String: Any])
            let references = answer.text.components(separatedBy: "#/components/schemas/").dropFirst().map { $0.prefix { $0 != "\"" } }
            #expect(references.allSatisfy { schemas[String($0)] != nil })
        }
    }

}
