import FleetConfiguration
import Foundation
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
}
