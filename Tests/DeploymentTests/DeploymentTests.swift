import FleetConfiguration
import Foundation
import TestSupport
import Testing

/// docker-compose.yml, the Dockerfile and .env.example, checked as files (no Docker engine here).
@Suite("Production packaging")
struct DeploymentTests {
    static let root = ServicesProcess.projectRoot

    static func text(_ file: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(file), encoding: .utf8)
    }

    static func compose() async throws -> [String: Any] {
        let json = try await ServicesProcess.run([root.appendingPathComponent("scripts/yaml2json").path, root.appendingPathComponent("docker-compose.yml").path])
        return try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
    }

    static func services() async throws -> [String: [String: Any]] {
        try #require(try await compose()["services"] as? [String: [String: Any]])
    }

    /// Executables that are tools of the benches, not programs of the fleet: not in the image.
    static let benchTools: Set<String> = ["http-ceiling"]

    /// The executable products of Package.swift that the fleet runs.
    static func executables() throws -> [String] {
        let manifest = try text("Package.swift")
        let pattern = try NSRegularExpression(pattern: #"\.executable\(name: "([^"]+)""#)
        return pattern.matches(in: manifest, range: NSRange(manifest.startIndex..., in: manifest)).compactMap {
            Range($0.range(at: 1), in: manifest).map { String(manifest[$0]) }
        }.filter { !benchTools.contains($0) }
    }

    static func command(_ service: [String: Any]) -> [String] {
        ((service["entrypoint"] as? [String]) ?? []) + ((service["command"] as? [String]) ?? [])
    }

    /// Long-running programs: the ingress and the workers.
    static func programs(_ services: [String: [String: Any]]) -> [String: [String: Any]] {
        services.filter { $0.key == "ingress" || $0.key.hasSuffix("-worker") }
    }

    @Test func everyExecutableRunsFromTheOneImage() async throws {
        let services = try await Self.services()
        let executables = try Self.executables()
        #expect(executables.contains("ingress") && executables.contains("fleet"))
        let images = Set(services.values.compactMap { $0["image"] as? String }.filter { $0.contains("FLEET_IMAGE") })
        #expect(images.count == 1, "one image for every program: \(images)")
        for executable in executables {
            let users = services.filter { _, service in
                (service["image"] as? String)?.contains("FLEET_IMAGE") == true && Self.command(service).first == "/app/\(executable)"
            }
            #expect(!users.isEmpty, "no service runs \(executable)")
        }
        let dockerfile = try Self.text("Dockerfile")
        for executable in executables {
            #expect(dockerfile.contains(executable), "the Dockerfile copies \(executable) into the image")
        }
    }

    @Test func workersScaleAndEveryProgramHasAHealthcheck() async throws {
        let services = try await Self.services()
        let programs = Self.programs(services)
        #expect(programs.keys.contains("booking-worker"))
        for (name, service) in programs {
            #expect(service["container_name"] == nil, "\(name) has a container_name: it could not scale")
            let test = (service["healthcheck"] as? [String: Any])?["test"] as? [String]
            #expect(test?.joined(separator: " ").contains("/health") == true, "\(name) has a healthcheck on /health")
            let grace = service["stop_grace_period"] as? String ?? ""
            #expect((FleetConfig.parseDuration(grace) ?? .zero) > .seconds(10), "\(name): stop_grace_period above the 10 s shutdown deadline")
            if name.hasSuffix("-worker") {
                #expect(service["ports"] == nil, "\(name) publishes a port: it could not scale")
            }
            // Programs default to loopback; in a container they must say 0.0.0.0 to be reachable.
            let environment = service["environment"] as? [String: Any]
            #expect(environment?["CAREFLEET_HTTP_HOST"] as? String == "0.0.0.0", "\(name) sets http.host for its container")
            let dependencies = service["depends_on"] as? [String: [String: String]]
            #expect(dependencies?["topics"]?["condition"] == "service_completed_successfully", "\(name) waits for the topics")
            #expect(dependencies?["migrate"]?["condition"] == "service_completed_successfully", "\(name) waits for the migrations")
        }
        #expect((services["ingress"]?["ports"] as? [String])?.isEmpty == false, "the ingress publishes its port")
    }

    @Test func kafkaRunsInKRaftModeAndTheOneShotsExist() async throws {
        let services = try await Self.services()
        let kafka = try #require(services["kafka"])
        let environment = try #require(kafka["environment"] as? [String: Any])
        #expect((environment["KAFKA_PROCESS_ROLES"] as? String)?.contains("controller") == true)
        #expect(environment["KAFKA_CONTROLLER_QUORUM_VOTERS"] != nil)
        #expect(!services.keys.contains { $0.contains("zookeeper") })
        #expect(!environment.keys.contains { $0.contains("ZOOKEEPER") })
        #expect((kafka["volumes"] as? [String])?.isEmpty == false)
        #expect((services["postgres"]?["volumes"] as? [String])?.isEmpty == false)
        #expect(Self.command(try #require(services["topics"])) == ["/app/fleet", "topics", "ensure"])
        #expect(Self.command(try #require(services["migrate"])) == ["/app/fleet", "migrate"])
        #expect(services["mailcatcher"] != nil)
    }

    /// CAREFLEET_* variables of the program services and of .env.example.
    static func deploymentVariables() async throws -> (compose: Set<String>, example: [String: String], interpolated: Set<String>) {
        let services = try await Self.services()
        var compose = Set<String>()
        for service in services.values where (service["image"] as? String)?.contains("FLEET_IMAGE") == true {
            for key in (service["environment"] as? [String: Any] ?? [:]).keys { compose.insert(key) }
        }
        var example: [String: String] = [:]
        for line in try Self.text(".env.example").split(separator: "\n") where !line.hasPrefix("#") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            example[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        let raw = try Self.text("docker-compose.yml")
        let pattern = try NSRegularExpression(pattern: #"\$\{([A-Z_]+)"#)
        let interpolated = Set(pattern.matches(in: raw, range: NSRange(raw.startIndex..., in: raw)).compactMap {
            Range($0.range(at: 1), in: raw).map { String(raw[$0]) }
        })
        return (compose, example, interpolated)
    }

    @Test func everyVariableTheDeploymentSetsIsAKeyTheProgramsRead() async throws {
        let (compose, example, interpolated) = try await Self.deploymentVariables()
        for variable in compose.union(example.keys) where variable.hasPrefix(FleetConfig.variablePrefix) {
            if FleetConfig.reservedVariables.contains(variable) { continue }
            let key = try #require(FleetConfig.key(forVariable: variable))
            #expect(ConfigurationSchema.isKnown(key), "\(variable) sets '\(key)', which no program reads")
        }
        for variable in example.keys where !variable.hasPrefix(FleetConfig.variablePrefix) {
            #expect(interpolated.contains(variable), ".env.example lists \(variable), which docker-compose.yml never uses")
        }
        for variable in interpolated {
            #expect(example[variable] != nil || ["FLEET_IMAGE"].contains(variable) || variable.hasPrefix(FleetConfig.variablePrefix),
                "docker-compose.yml uses ${\(variable)} that .env.example does not explain")
        }
    }

    @Test func everyRequiredProductionKeyIsSetAndSecretsStayOutOfFiles() async throws {
        let (compose, example, _) = try await Self.deploymentVariables()
        let production = try FleetConfig.load(environment: "production", directory: Self.root.appendingPathComponent("config").path, processEnvironment: [:])
        let fromVariables = Set(compose.union(example.keys).compactMap(FleetConfig.key(forVariable:)))
        for key in ConfigurationSchema.required {
            #expect(production.string(key.name) != nil || fromVariables.contains(key.name), "nothing sets the required key \(key.name)")
            if key.isSecret {
                #expect(production.string(key.name) == nil, "the secret \(key.name) is in config/production.conf")
            }
        }
        let ignored = try await ServicesProcess.run(["-c", "cd \"\(Self.root.path)\" && (git check-ignore -q .env && echo ignored || echo tracked)"])
        #expect(ignored.contains("ignored"), ".env is git-ignored")
    }

    @Test func theSchemaAndTheCodeNameTheSameKeys() throws {
        // Every literal key the code reads is in the schema …
        let enumerator = FileManager.default.enumerator(at: Self.root.appendingPathComponent("Workers"), includingPropertiesForKeys: nil)
        let pattern = try NSRegularExpression(pattern: #"config\.(?:string|int|double|bool|duration|require)\("([a-z.]+)""#)
        var read = Set<String>()
        while let url = enumerator?.nextObject() as? URL {
            guard url.pathExtension == "swift" else { continue }
            let source = try String(contentsOf: url, encoding: .utf8)
            for match in pattern.matches(in: source, range: NSRange(source.startIndex..., in: source)) {
                if let range = Range(match.range(at: 1), in: source) { read.insert(String(source[range])) }
            }
        }
        for key in read { #expect(ConfigurationSchema.isKnown(key), "the code reads '\(key)', which the schema does not list") }
        // … and every key of the schema is read somewhere (kafka.* keys reach librdkafka as a subtree).
        for key in ConfigurationSchema.keys where !key.name.hasPrefix("kafka.") {
            #expect(read.contains(key.name), "the schema lists '\(key.name)', which no code reads")
        }
        // Every key of the shipped configurations is known.
        for environment in ["dev", "test", "production"] {
            let config = try FleetConfig.load(environment: environment, directory: Self.root.appendingPathComponent("config").path, processEnvironment: [:])
            for key in config.values.keys { #expect(ConfigurationSchema.isKnown(key), "config/\(environment).conf sets unknown '\(key)'") }
        }
    }

    @Test func theImageRunsAsANonRootUserWithTheCLibraries() throws {
        let dockerfile = try Self.text("Dockerfile")
        let stages = dockerfile.components(separatedBy: "\nFROM ")
        #expect(stages.count >= 3, "a multi-stage build")
        let build = try #require(stages.dropFirst().first)
        #expect(build.contains("swift build -c release"))
        let runtime = try #require(stages.last)
        #expect(runtime.contains("libpq5"))
        #expect(runtime.contains("libcurl4"))
        #expect(runtime.contains("librdkafka"))
        let user = runtime.split(separator: "\n").last { $0.hasPrefix("USER ") }.map { $0.dropFirst(5).trimmingCharacters(in: .whitespaces) }
        #expect(user != nil && user != "root" && user != "0", "the runtime stage runs as \(user ?? "root")")
    }

    @Test func productionKeepsKafkasGroupSessionDefaults() throws {
        let production = try FleetConfig.load(
            environment: "production", directory: Self.root.appendingPathComponent("config").path, processEnvironment: [:])
        for key in production.subtree("kafka").keys {
            #expect(!key.contains("session.timeout") && !key.contains("heartbeat.interval"), "production overrides \(key)")
        }
        let dev = try FleetConfig.load(environment: "dev", directory: Self.root.appendingPathComponent("config").path, processEnvironment: [:])
        #expect(dev.string("kafka.consumer.session.timeout.ms") == "2000", "the development broker needs the short session")
    }
}
