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
}
