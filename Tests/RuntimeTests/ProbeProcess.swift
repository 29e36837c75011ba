import Foundation
import TestSupport

/// The `runtime-probe` worker as a real process the tests can kill.
final class ProbeProcess: @unchecked Sendable {  // used from one test task at a time
    let process = Process()
    let logPath: String

    init(topic: String, group: String, databaseURL: String, name: String, delayMillis: Int = 0, httpPort: Int = 0) async throws {
        let endpoints = try await TestServices.shared()
        let binary = URL(fileURLWithPath: FleetBinary.path).deletingLastPathComponent().appendingPathComponent("runtime-probe")
        logPath = NSTemporaryDirectory() + "probe-\(name)-\(UUID().uuidString.prefix(6)).log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        var environment = ProcessInfo.processInfo.environment
        environment["CAREFLEET_ENV"] = "test"
        environment["CAREFLEET_CONFIG_DIR"] = ServicesProcess.projectRoot.appendingPathComponent("config").path
        environment["CAREFLEET_KAFKA_BOOTSTRAP_SERVERS"] = endpoints.kafkaBootstrapServers
        environment["CAREFLEET_DATABASE_URL"] = databaseURL
        environment["CAREFLEET_HTTP_PORT"] = String(httpPort)
        environment["CAREFLEET_PROBE_TOPIC"] = topic
        environment["CAREFLEET_PROBE_GROUP"] = group
        environment["CAREFLEET_PROBE_NAME"] = name
        environment["CAREFLEET_PROBE_DELAY_MS"] = String(delayMillis)
        environment["CAREFLEET_WORKER_SHUTDOWN_DEADLINE"] = "5s"
        process.executableURL = binary
        process.environment = environment
        let log = FileHandle(forWritingAtPath: logPath)
        process.standardOutput = log
        process.standardError = log
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }

    func signal(_ signal: Int32) { kill(process.processIdentifier, signal) }

    /// Waits for the process to exit; its status, or nil if it is still running after `timeout`.
    func waitForExit(timeout: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now >= deadline { return nil }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return process.terminationStatus
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        try? FileManager.default.removeItem(atPath: logPath)
    }
}
