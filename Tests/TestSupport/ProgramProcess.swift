import Foundation

/// One of the fleet's executables (or a test program) as a real process that tests can signal
/// and kill. It runs with the test configuration and the test services' addresses.
public final class ProgramProcess: @unchecked Sendable {  // used by one test task at a time
    public let process = Process()
    public let logPath: String

    /// Starts the executable `name` from the build folder with `environment` added.
    public init(_ name: String, environment extra: [String: String]) async throws {
        let endpoints = try await TestServices.shared()
        let binary = URL(fileURLWithPath: FleetBinary.path).deletingLastPathComponent().appendingPathComponent(name)
        logPath = NSTemporaryDirectory() + "\(name)-\(UUID().uuidString.prefix(8)).log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        var environment = ProcessInfo.processInfo.environment
        environment["CAREFLEET_ENV"] = "test"
        environment["CAREFLEET_CONFIG_DIR"] = ServicesProcess.projectRoot.appendingPathComponent("config").path
        environment["CAREFLEET_KAFKA_BOOTSTRAP_SERVERS"] = endpoints.kafkaBootstrapServers
        environment["CAREFLEET_SMTP_URL"] = endpoints.smtpURL
        environment["CAREFLEET_HTTP_PORT"] = "0"
        for (key, value) in extra { environment[key] = value }
        process.executableURL = binary
        process.environment = environment
        let log = FileHandle(forWritingAtPath: logPath)
        process.standardOutput = log
        process.standardError = log
        try process.run()
    }

    public var isRunning: Bool { process.isRunning }

    public func signal(_ signal: Int32) { kill(process.processIdentifier, signal) }

    /// Waits for the process to exit; its status, or nil if it still runs after `timeout`.
    public func waitForExit(timeout: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now >= deadline { return nil }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return process.terminationStatus
    }

    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        try? FileManager.default.removeItem(atPath: logPath)
    }
}
