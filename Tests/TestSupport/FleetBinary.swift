import BlockingCalls
import Foundation

/// Runs the built `fleet` executable (it sits next to the test bundle in the build folder).
public enum FleetBinary {
    public static var path: String {
        let testBinary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var directory = testBinary.deletingLastPathComponent()
        // The Linux test runner is `<build>/debug/<Package>PackageTests.xctest`.
        if directory.lastPathComponent.hasSuffix(".xctest") { directory.deleteLastPathComponent() }
        return directory.appendingPathComponent("fleet").path
    }

    public struct Result: Sendable {
        public let status: Int32
        public let output: String
    }

    /// Runs `fleet arguments…` with the test services' addresses in its environment.
    public static func run(_ arguments: [String], environment extra: [String: String] = [:], input: Data? = nil)
        async throws -> Result
    {
        let endpoints = try await TestServices.shared()
        var environment = ProcessInfo.processInfo.environment
        environment["CAREFLEET_ENV"] = "test"
        environment["CAREFLEET_CONFIG_DIR"] = ServicesProcess.projectRoot.appendingPathComponent("config").path
        environment["CAREFLEET_KAFKA_BOOTSTRAP_SERVERS"] = endpoints.kafkaBootstrapServers
        environment["CAREFLEET_DATABASE_URL"] = endpoints.databaseURL
        environment["CAREFLEET_SMTP_URL"] = endpoints.smtpURL
        for (key, value) in extra { environment[key] = value }
        let executable = path
        let childEnvironment = environment
        // Waiting for the child blocks a thread: one of its own (`BlockingCall`), or the in-process
        // fleets of other tests would stall.
        return try await BlockingCall.run("carefleet.tests.child") { () throws -> Result in
            let outputPath = NSTemporaryDirectory() + "carefleet-fleet-\(UUID().uuidString).log"
            defer { try? FileManager.default.removeItem(atPath: outputPath) }
            _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
            guard let output = FileHandle(forWritingAtPath: outputPath) else { throw FixtureError("cannot write \(outputPath)") }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
            process.environment = childEnvironment
            process.standardOutput = output
            process.standardError = output
            let inputPipe = Pipe()
            process.standardInput = input == nil ? FileHandle.nullDevice : inputPipe
            do {
                try process.run()
                if let input {
                    inputPipe.fileHandleForWriting.write(input)
                    try inputPipe.fileHandleForWriting.close()
                }
            } catch {
                throw FixtureError("cannot run \(executable): \(error)")
            }
            let status = process.waitForExitStatus()
            try? output.close()
            let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
            return Result(status: status, output: text)
        }
    }
}
