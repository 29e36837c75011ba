import FleetConfiguration
import Foundation
import TestSupport
import Testing

@Suite("Configuration")
struct ConfigurationTests {
    @Test func environmentVariablesOverrideFileKeys() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cfg-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try """
        # comment
        kafka.bootstrap.servers = broker:9092
        database.url = postgres://file
        worker.shutdown.deadline = 20s
        """.write(to: directory.appendingPathComponent("staging.conf"), atomically: true, encoding: .utf8)
        let config = try FleetConfig.load(
            environment: "staging", directory: directory.path,
            processEnvironment: [
                "CAREFLEET_DATABASE_URL": "postgres://env", "CAREFLEET_KAFKA_CONSUMER_SESSION_TIMEOUT_MS": "45000",
                "CAREFLEET_ENV": "ignored-because-explicit", "HOME": "/root",
            ])
        #expect(config.string("database.url") == "postgres://env")
        #expect(config.string("kafka.bootstrap.servers") == "broker:9092")
        #expect(config.subtree("kafka") == ["bootstrap.servers": "broker:9092", "consumer.session.timeout.ms": "45000"])
        #expect(try config.duration("worker.shutdown.deadline", default: .seconds(1)) == .seconds(20))
        #expect(config.string("home") == nil)
    }

    /// `program.<program>.<key>` sets a key for one program: over the file's own value for that
    /// program, under the environment's; other programs keep the file's value.
    @Test func aProgramSectionSetsAKeyForOneProgramOnly() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cfg-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try """
        kafka.consumer.fetch.wait.max.ms = 500
        program.booking-worker.kafka.consumer.fetch.wait.max.ms = 20
        """.write(to: directory.appendingPathComponent("staging.conf"), atomically: true, encoding: .utf8)
        func wait(_ program: String?, _ environment: [String: String] = [:]) throws -> String? {
            try FleetConfig.load(environment: "staging", directory: directory.path, processEnvironment: environment, program: program)
                .subtree("kafka.consumer")["fetch.wait.max.ms"]
        }
        #expect(try wait("booking-worker") == "20")
        #expect(try wait("email-worker") == "500")
        #expect(try wait(nil) == "500")
        #expect(try wait("booking-worker", ["CAREFLEET_KAFKA_CONSUMER_FETCH_WAIT_MAX_MS": "7"]) == "7")
        #expect(ConfigurationSchema.isKnown("program.booking-worker.kafka.consumer.fetch.wait.max.ms"))
        #expect(ConfigurationSchema.isKnown("program.ingress.database.pool.size"))
        #expect(!ConfigurationSchema.isKnown("program.ingress.no.such.key"))
        #expect(!ConfigurationSchema.isKnown("program.ingress"))
    }

    @Test func keysAndVariablesMapBothWays() {
        #expect(FleetConfig.variable(forKey: "kafka.consumer.session.timeout.ms") == "CAREFLEET_KAFKA_CONSUMER_SESSION_TIMEOUT_MS")
        #expect(FleetConfig.key(forVariable: "CAREFLEET_KAFKA_CONSUMER_SESSION_TIMEOUT_MS") == "kafka.consumer.session.timeout.ms")
        #expect(FleetConfig.key(forVariable: "CAREFLEET_ENV") == nil)
        #expect(FleetConfig.key(forVariable: "PATH") == nil)
    }

    @Test func malformedFilesAndValuesAreNamed() throws {
        #expect(throws: ConfigError.self) { try FleetConfig.parse("no equals sign here", source: "x.conf") }
        #expect(throws: ConfigError.self) { try FleetConfig.parse("Upper_Case = 1", source: "x.conf") }
        let config = FleetConfig(environment: "t", values: ["a.number": "twelve", "a.duration": "soon"])
        #expect { try config.int("a.number", default: 1) } throws: { "\($0)".contains("a.number") }
        #expect { try config.duration("a.duration", default: .seconds(1)) } throws: { "\($0)".contains("a.duration") }
        #expect { try config.require("database.url") } throws: { "\($0)".contains("CAREFLEET_DATABASE_URL") }
    }

    @Test func durationsReadTheirUnits() {
        #expect(FleetConfig.parseDuration("250ms") == .milliseconds(250))
        #expect(FleetConfig.parseDuration("1.5s") == .milliseconds(1500))
        #expect(FleetConfig.parseDuration("2m") == .seconds(120))
        #expect(FleetConfig.parseDuration("24h") == .seconds(86400))
        #expect(FleetConfig.parseDuration("7") == .seconds(7))
        #expect(FleetConfig.parseDuration("-1s") == nil)
    }

    @Test func theShippedConfigurationsParse() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("config")
        for environment in ["dev", "test", "production"] {
            let config = try FleetConfig.load(environment: environment, directory: root.path, processEnvironment: [:])
            #expect(config.string("kafka.bootstrap.servers") != nil, "\(environment)")
        }
    }

    @Test func aConfigurationSaysWhichItIsAndMasksPasswords() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("config")
        let config = try FleetConfig.load(
            environment: "test", directory: root.path,
            processEnvironment: ["CAREFLEET_DATABASE_URL": "postgres://app:s3cret@db.example:5432/carefleet"])
        let summary = config.summary
        #expect(summary.contains("configuration 'test' from \(root.path)/test.conf + CAREFLEET_DATABASE_URL"), "\(summary)")
        #expect(summary.contains("broker 127.0.0.1:19092"))
        #expect(summary.contains("database postgres://app:***@db.example:5432/carefleet"))
        #expect(!summary.contains("s3cret"))
    }

    /// `fleet` run by hand says on standard error which configuration and which broker and
    /// database it acts on; `scripts/services` writes which configuration goes with its services.
    @Test func fleetSaysWhatItActsOnAndServicesNameTheirConfiguration() async throws {
        let endpoints = try await TestServices.shared()
        let run = try await FleetBinary.run(["topics", "list"])
        #expect(run.status == 0, "\(run.output)")
        let line = try #require(run.output.split(separator: "\n").first { $0.hasPrefix("fleet: configuration") })
        #expect(line.contains("configuration 'test'") && line.contains("broker \(endpoints.kafkaBootstrapServers)"), "\(line)")
        #expect(line.contains("database \(endpoints.databaseURL)"), "\(line)")

        let smtpOnly = try await ServicesProcess.start(only: ["smtp"])
        defer { Task { try? await smtpOnly.stop() } }
        #expect(smtpOnly.env["CAREFLEET_ENV"] == "test")
        #expect(smtpOnly.env["CAREFLEET_CONFIG_DIR"] == ServicesProcess.projectRoot.appendingPathComponent("config").path)
    }
}
