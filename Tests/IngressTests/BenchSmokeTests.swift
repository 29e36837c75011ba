import Foundation
import TestSupport
import Testing

/// The benches work (a few seconds of each); their targets are checked by running them, with a
/// release build, not here.
@Suite("Benchmarks, smoke", .timeLimit(.minutes(5)))
struct BenchSmokeTests {
    @Test func theIngressBenchDrivesEveryRouteBesideTheCeiling() async throws {
        try await TestFleet.with { fleet in
            let json = FileManager.default.temporaryDirectory.appendingPathComponent("bench-ingress-\(UUID().uuidString).json").path
            defer { try? FileManager.default.removeItem(atPath: json) }
            let run = try await FleetBinary.run(
                ["bench", "ingress", "--url", fleet.baseURL, "--duration", "2", "--connections", "8", "--slot-connections", "4", "--json", json],
                environment: ["CAREFLEET_DATABASE_URL": fleet.databaseURL, "CAREFLEET_FLEET_NAMESPACE": fleet.namespace.prefix])
            #expect(run.status == 0, "\(run.output)")
            let figures = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any])
            let routes = try #require(figures["routes"] as? [[String: Any]])
            #expect(routes.count == 4)
            #expect(((figures["ceiling"] as? [String: Any])?["requestsPerSecond"] as? Double ?? 0) > 0)
            for route in routes {
                #expect((route["requestsPerSecond"] as? Double ?? 0) > 0, "\(route)")
                #expect(route["failedResponses"] as? Int == 0, "\(route)")
            }
            #expect(run.output.contains("RATIO") && run.output.contains("POST /v1/appointments"))
        }
    }

    @Test func thePipelineBenchFollowsEveryBookingToItsEmail() async throws {
        let smtp = try await TestServices.shared().smtpURL
        try await TestFleet.with(workers: .init(notifications: true, smtpURL: smtp)) { fleet in
            let maildir = try await TestMaildir.shared()
            let json = FileManager.default.temporaryDirectory.appendingPathComponent("bench-pipeline-\(UUID().uuidString).json").path
            defer { try? FileManager.default.removeItem(atPath: json) }
            let run = try await FleetBinary.run(
                [
                    "bench", "pipeline", "--url", fleet.baseURL, "--maildir", maildir.path, "--rate", "10", "--seconds", "2",
                    "--step-rates", "20", "--step-seconds", "1", "--burst", "40", "--doctors", "2", "--patients", "3", "--json", json,
                ],
                environment: ["CAREFLEET_DATABASE_URL": fleet.databaseURL, "CAREFLEET_FLEET_NAMESPACE": fleet.namespace.prefix])
            #expect(run.status == 0, "\(run.output)")
            let figures = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any])
            let steady = try #require(figures["steady"] as? [String: Any])
            #expect(steady["sent"] as? Int == 20)
            // Requests without a 202 are counted by reason; here there are none.
            #expect((steady["refused"] as? [String: Any]).map(\.isEmpty) == true, "\(run.output)")
            #expect(steady["completed"] as? Int == 20, "every booking decided, notified and emailed: \(run.output)")
            for stage in ["toDecided", "toInApp", "toEmail"] {
                #expect(((steady[stage] as? [String: Any])?["samples"] as? Int) == 20, "\(stage)")
            }
            #expect((figures["burst"] as? [String: Any])?["completed"] as? Int == 40, "\(run.output)")
            // Three patients take turns: every booking is followed to its own patient's email.
            #expect(figures["patients"] as? Int == 3)
            #expect(run.output.contains("highest sustained rate"))
        }
    }

    @Test func theStreamsBenchHoldsStreamsOpenAndMeasuresTheirMemory() async throws {
        try await TestFleet.with(workers: .none) { fleet in
            let json = FileManager.default.temporaryDirectory.appendingPathComponent("bench-streams-\(UUID().uuidString).json").path
            defer { try? FileManager.default.removeItem(atPath: json) }
            // The test fleet's ingress runs in this process.
            let run = try await FleetBinary.run(
                [
                    "bench", "streams", "--url", fleet.baseURL, "--pid", String(ProcessInfo.processInfo.processIdentifier), "--streams", "200",
                    "--hold", "1", "--json", json,
                ],
                environment: ["CAREFLEET_DATABASE_URL": fleet.databaseURL, "CAREFLEET_FLEET_NAMESPACE": fleet.namespace.prefix])
            #expect(run.status == 0, "\(run.output)")
            let figures = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any])
            #expect(figures["opened"] as? Int == 200)
            #expect(figures["stillOpenAfterHold"] as? Int == 200)
            #expect((figures["rssAfterMegabytes"] as? Double ?? 0) > 0)
        }
    }
}
