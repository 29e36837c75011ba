import BlockingCalls
import Foundation
import TestSupport
import Testing

/// The README's walk-through, run as written: its code block is taken from README.md and run by
/// bash against a fleet of the test's own. Only where the fleet is differs: `localhost:8080`
/// becomes the test ingress's address, and `swift run fleet` the built `fleet` with the test's
/// database and broker in its environment (building it again inside a test would take minutes).
@Suite("The README's walk-through", .timeLimit(.minutes(3)))
struct ReadmeWalkthroughTests {
    /// The indented lines under "## A walk-through with curl", up to the next heading.
    static func walkthroughScript() throws -> String {
        let readme = try String(
            contentsOf: ServicesProcess.projectRoot.appendingPathComponent("README.md"), encoding: .utf8)
        let lines = readme.components(separatedBy: "\n")
        let start = try #require(lines.firstIndex { $0.hasPrefix("## A walk-through with curl") }, "README has the walk-through")
        let end = lines[(start + 1)...].firstIndex { $0.hasPrefix("## ") } ?? lines.endIndex
        let code = lines[(start + 1)..<end].filter { $0.hasPrefix("    ") }.map { String($0.dropFirst(4)) }
        try #require(code.count >= 8, "the walk-through's code block")
        return code.joined(separator: "\n")
    }

    @Test func theWalkthroughBooksAnAppointmentAsWritten() async throws {
        let smtp = try await TestServices.shared().smtpURL
        try await TestFleet.with(workers: .init(notifications: true, smtpURL: smtp)) { fleet in
            let address = try #require(fleet.baseURL.split(separator: "/").last.map(String.init))
            let script =
                try Self.walkthroughScript()
                .replacingOccurrences(of: "localhost:8080", with: address)
                .replacingOccurrences(of: "swift run fleet", with: "\"$FLEET\"")
            // Every command's output is printed, and each variable once set, for the checks below.
            let traced = "set -euo pipefail\n" + script + "\necho; echo \"CMD=$CMD\"; echo \"SLOT=$SLOT\"; echo \"DOCTOR=$DOCTOR\"\n"
            let endpoints = try await TestServices.shared()
            let result = try await Shell.run(
                traced,
                environment: [
                    "FLEET": FleetBinary.path, "CAREFLEET_ENV": "test",
                    "CAREFLEET_CONFIG_DIR": ServicesProcess.projectRoot.appendingPathComponent("config").path,
                    "CAREFLEET_DATABASE_URL": fleet.databaseURL, "CAREFLEET_KAFKA_BOOTSTRAP_SERVERS": endpoints.kafkaBootstrapServers,
                    "CAREFLEET_FLEET_NAMESPACE": fleet.namespace.prefix, "CAREFLEET_SMTP_URL": endpoints.smtpURL,
                ])
            #expect(result.status == 0, "the walk-through failed:\n\(result.output)")
            func value(_ name: String) -> String? {
                result.output.components(separatedBy: "\n").last { $0.hasPrefix(name + "=") }.map { String($0.dropFirst(name.count + 1)) }
            }
            let command = try #require(value("CMD").flatMap(UUID.init(uuidString:)), "a command id:\n\(result.output)")
            #expect(value("SLOT").map { !$0.isEmpty && $0 != "null" } == true, "a free slot three days ahead:\n\(result.output)")
            #expect(result.output.contains("\"commandId\"") || result.output.contains(command.uuidString.lowercased()))

            // What the README says follows: the command is done and the appointment confirmed.
            let demo = try #require(UUID(uuidString: "00000000-0000-4000-8000-00000000de40"))
            let patient = try await fleet.login("pat@demo.carefleet.test", tenant: demo, password: "demo-password-2026")
            let outcome = try await fleet.outcome(of: command.uuidString.lowercased(), token: patient.accessToken)
            #expect(outcome["status"] as? String == "done", "\(outcome)")
            let page = try await fleet.api.get("/v1/appointments", token: patient.accessToken)
            #expect((page.json["items"] as? [[String: Any]])?.first?["status"] as? String == "confirmed", "\(page.text)")
        }
    }
}

struct ShellResult: Sendable {
    var status: Int32
    var output: String
}

/// Runs a bash script and keeps what it printed (stdout and stderr together).
enum Shell {
    static func run(_ script: String, environment extra: [String: String]) async throws -> ShellResult {
        var environment = ProcessInfo.processInfo.environment
        for (key, value) in extra { environment[key] = value }
        let childEnvironment = environment
        // Waiting for the child blocks a thread: one of its own (`BlockingCall`).
        return try await BlockingCall.run("carefleet.tests.child") { () throws -> ShellResult in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/bash")
            process.arguments = ["-c", script]
            process.environment = childEnvironment
            let output = Pipe()
            process.standardOutput = output
            process.standardError = output
            process.standardInput = FileHandle.nullDevice
            try process.run()
            let data = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return ShellResult(status: process.terminationStatus, output: String(decoding: data, as: UTF8.self))
        }
    }
}
