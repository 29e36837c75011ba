import BlockingCalls
import Foundation
import Synchronization

/// Where the integration tests find their broker, PostgreSQL server and SMTP sink.
public struct ServiceEndpoints: Sendable {
    public var kafkaBootstrapServers: String
    /// A database on a server where tests may create databases of their own.
    public var databaseURL: String
    public var smtpURL: String
    public var maildir: String
    /// The `scripts/services` folder when this test run started the services itself.
    public var servicesDirectory: String?
}

/// Starts the real services once per test process, or reuses ones named by environment
/// variables (`CAREFLEET_KAFKA_BOOTSTRAP_SERVERS`, `CAREFLEET_DATABASE_URL`, `CAREFLEET_SMTP_URL`,
/// `CAREFLEET_MAILDIR`: all four, or the fixture starts its own). Services it starts are
/// stopped when the process exits, and by a watcher process if the test process crashes.
public enum TestServices {
    public static func shared() async throws -> ServiceEndpoints {
        try await startup.value
    }

    private static let startup = Task<ServiceEndpoints, any Error> {
        let environment = ProcessInfo.processInfo.environment
        if let kafka = environment["CAREFLEET_KAFKA_BOOTSTRAP_SERVERS"], let database = environment["CAREFLEET_DATABASE_URL"],
            let smtp = environment["CAREFLEET_SMTP_URL"], let maildir = environment["CAREFLEET_MAILDIR"]
        {
            return ServiceEndpoints(
                kafkaBootstrapServers: kafka, databaseURL: database, smtpURL: smtp, maildir: maildir, servicesDirectory: nil)
        }
        let services = try await ServicesProcess.start(only: ["broker", "postgres", "smtp"])
        stopAtExit.withLock { $0.append(services.directory) }
        atexit {
            for directory in TestServices.stopAtExit.withLock({ $0 }) { ServicesProcess.stopNow(directory) }
        }
        guard let kafka = services.env["CAREFLEET_KAFKA_BOOTSTRAP_SERVERS"], let database = services.env["CAREFLEET_DATABASE_URL"],
            let smtp = services.env["CAREFLEET_SMTP_URL"], let maildir = services.env["CAREFLEET_MAILDIR"]
        else {
            throw FixtureError("scripts/services printed no addresses: \(services.env)")
        }
        return ServiceEndpoints(
            kafkaBootstrapServers: kafka, databaseURL: database, smtpURL: smtp, maildir: maildir,
            servicesDirectory: services.directory)
    }

    /// Service folders to stop when the test process exits.
    static let stopAtExit = Mutex<[String]>([])
}

public struct FixtureError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Runs `scripts/services` for the fixture.
public struct ServicesProcess: Sendable {
    public let directory: String
    public let env: [String: String]

    /// The project's root folder (where Package.swift is).
    public static let projectRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static var script: String { projectRoot.appendingPathComponent("scripts/services").path }

    /// Starts services in a new folder under /var/tmp (PostgreSQL's user must reach it),
    /// watched: they stop when this process is gone.
    public static func start(only: [String]) async throws -> ServicesProcess {
        let directory = "/var/tmp/carefleet-test-\(getpid())-\(UUID().uuidString.prefix(8).lowercased())"
        let output = try await run(
            [script, "start", directory, "--only", only.joined(separator: ","), "--test", "--watch", String(getpid())])
        var env: [String: String] = [:]
        for line in output.split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            env[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        return ServicesProcess(directory: directory, env: env)
    }

    public func stop() async throws {
        _ = try await Self.run([Self.script, "stop", directory, "--purge"])
    }

    /// `scripts/services <command> <folder>`, e.g. `restart-postgres`, `stop-smtp`, `start-smtp`.
    public func control(_ command: String) async throws {
        _ = try await Self.run([Self.script, command, directory])
    }

    /// Synchronous stop for `atexit`.
    static func stopNow(_ directory: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [script, "stop", directory, "--purge"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try? process.run()
        process.waitUntilExit()
    }

    /// Runs a command to completion on a Dispatch thread; throws with its output when it fails.
    public static func run(_ arguments: [String]) async throws -> String {
        let outcome = try await run(arguments, allowFailure: true)
        guard outcome.status == 0 else {
            throw FixtureError("\(arguments.joined(separator: " ")) failed: \(outcome.text)")
        }
        return outcome.text
    }

    public struct Outcome: Sendable {
        public let status: Int32
        public let text: String
    }

    /// Runs `bash arguments…` to completion on a thread of its own; its exit status and output.
    /// Output goes through a file, not a pipe: services it starts in the background inherit the
    /// descriptors, and a pipe would then never reach end-of-file.
    public static func run(_ arguments: [String], allowFailure: Bool) async throws -> Outcome {
        // Waiting for the child blocks a thread: one of its own (`BlockingCall`), or the in-process
        // fleets of other tests would stall.
        try await BlockingCall.run("carefleet.tests.child") { () throws -> Outcome in
            let outputPath = NSTemporaryDirectory() + "carefleet-fixture-\(UUID().uuidString).log"
            defer { try? FileManager.default.removeItem(atPath: outputPath) }
            _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
            guard let output = FileHandle(forWritingAtPath: outputPath) else { throw FixtureError("cannot write \(outputPath)") }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/bash")
            process.arguments = arguments
            process.standardOutput = output
            process.standardError = output
            process.standardInput = FileHandle.nullDevice
            try process.run()
            let status = process.waitForExitStatus()
            try? output.close()
            let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
            return Outcome(status: status, text: text)
        }
    }
}
