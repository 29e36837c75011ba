import Foundation

/// Configuration of every CareFleet program: flat `key = value` pairs.
///
/// Loaded from `config/<environment>.conf` (environment from `CAREFLEET_ENV`, default `dev`),
/// then overridden by environment variables: key `kafka.bootstrap.servers` is read from
/// `CAREFLEET_KAFKA_BOOTSTRAP_SERVERS` (upper case, dots as underscores). Keys are lower case
/// and contain no underscores, so the mapping works both ways.
public struct FleetConfig: Sendable {
    public let environment: String
    public let values: [String: String]
    /// The file the values came from (nil for a configuration made in code).
    public let sourcePath: String?
    /// The environment variables that overrode a value of the file.
    public let overridingVariables: [String]

    public init(environment: String, values: [String: String], sourcePath: String? = nil, overridingVariables: [String] = []) {
        self.environment = environment
        self.values = values
        self.sourcePath = sourcePath
        self.overridingVariables = overridingVariables
    }

    /// One line saying which configuration this is and what it talks to (passwords masked): what
    /// an operator tool prints before it acts, so nobody acts on the wrong installation unawares.
    public var summary: String {
        var text = "configuration '\(environment)'"
        if let sourcePath { text += " from \(sourcePath)" }
        if !overridingVariables.isEmpty { text += " + \(overridingVariables.sorted().joined(separator: ", "))" }
        text += "; broker \(string("kafka.bootstrap.servers") ?? "(none)")"
        text += "; database \(string("database.url").map(Self.maskingPassword) ?? "(none)")"
        if let namespace = string("fleet.namespace") { text += "; namespace \(namespace)" }
        return text
    }

    /// The URL with its password (if any) replaced by `***`.
    public static func maskingPassword(_ url: String) -> String {
        guard var components = URLComponents(string: url), components.password != nil else { return url }
        components.password = "***"
        return components.string ?? "(unparseable URL)"
    }

    /// Environment variables that choose the configuration instead of setting a key.
    public static let reservedVariables: Set<String> = ["CAREFLEET_ENV", "CAREFLEET_CONFIG_DIR"]
    public static let variablePrefix = "CAREFLEET_"

    /// Loads the configuration of `program` (its executable's name, e.g. `booking-worker`): the
    /// file's keys, then the file's `program.<program>.<key>` lines over them (a setting for one
    /// program only), then the environment's variables over both.
    public static func load(
        environment explicitEnvironment: String? = nil, directory explicitDirectory: String? = nil,
        processEnvironment: [String: String] = ProcessInfo.processInfo.environment, program: String? = nil
    ) throws(ConfigError) -> FleetConfig {
        let environment = explicitEnvironment ?? processEnvironment["CAREFLEET_ENV"] ?? "dev"
        guard let directory = explicitDirectory ?? processEnvironment["CAREFLEET_CONFIG_DIR"] ?? locateDirectory()
        else {
            throw ConfigError("no config directory: set CAREFLEET_CONFIG_DIR or run from the project folder")
        }
        let path = (directory as NSString).appendingPathComponent("\(environment).conf")
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ConfigError("cannot read \(path) (CAREFLEET_ENV=\(environment))")
        }
        var values = try parse(text, source: path)
        if let program { values = programValues(values, program: program) }
        let overriding = overrides(from: processEnvironment)
        for (key, value) in overriding { values[key] = value }
        return FleetConfig(
            environment: environment, values: values, sourcePath: path, overridingVariables: overriding.keys.map(variable(forKey:)))
    }

    /// `values` with the `program.<program>.` keys applied over the keys they name.
    public static func programValues(_ values: [String: String], program: String) -> [String: String] {
        let prefix = "\(programPrefix)\(program)."
        var result = values
        for (key, value) in values where key.hasPrefix(prefix) && key.count > prefix.count {
            result[String(key.dropFirst(prefix.count))] = value
        }
        return result
    }

    /// Keys under this prefix, then a program's name, hold a setting for that program only.
    public static let programPrefix = "program."

    /// The key an environment variable sets, or `nil` when it is not a configuration variable.
    public static func key(forVariable name: String) -> String? {
        guard name.hasPrefix(variablePrefix), !reservedVariables.contains(name) else { return nil }
        let rest = name.dropFirst(variablePrefix.count)
        guard !rest.isEmpty else { return nil }
        return rest.lowercased().replacingOccurrences(of: "_", with: ".")
    }

    /// The environment variable that overrides `key`.
    public static func variable(forKey key: String) -> String {
        variablePrefix + key.uppercased().replacingOccurrences(of: ".", with: "_")
    }

    static func overrides(from environment: [String: String]) -> [String: String] {
        var result: [String: String] = [:]
        for (name, value) in environment {
            if let key = key(forVariable: name) { result[key] = value }
        }
        return result
    }

    /// `key = value` lines; `#` starts a comment line; blank lines are ignored.
    public static func parse(_ text: String, source: String) throws(ConfigError) -> [String: String] {
        var values: [String: String] = [:]
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let equals = line.firstIndex(of: "=") else {
                throw ConfigError("\(source):\(index + 1): expected 'key = value'")
            }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            guard !key.isEmpty, key == key.lowercased(), !key.contains("_"), !key.contains(" ") else {
                throw ConfigError("\(source):\(index + 1): key '\(key)' must be lower case, without '_' or spaces")
            }
            values[key] = value
        }
        return values
    }

    private static func locateDirectory() -> String? {
        let fileManager = FileManager.default
        var candidates = [fileManager.currentDirectoryPath]
        // Next to the executable and above it: `.build/debug/ingress` finds the project's config/.
        var url = URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath()
        for _ in 0..<5 {
            url.deleteLastPathComponent()
            candidates.append(url.path)
        }
        for candidate in candidates {
            let directory = (candidate as NSString).appendingPathComponent("config")
            var isDirectory: ObjCBool = false
            if fileManager.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue {
                return directory
            }
        }
        return nil
    }

    // MARK: - Reading values

    public func string(_ key: String) -> String? {
        guard let value = values[key], !value.isEmpty else { return nil }
        return value
    }

    public func string(_ key: String, default fallback: String) -> String { string(key) ?? fallback }

    public func require(_ key: String) throws(ConfigError) -> String {
        guard let value = string(key) else {
            throw ConfigError("missing configuration '\(key)' (set \(Self.variable(forKey: key)))")
        }
        return value
    }

    public func int(_ key: String, default fallback: Int) throws(ConfigError) -> Int {
        guard let text = string(key) else { return fallback }
        guard let value = Int(text) else { throw ConfigError("'\(key)' must be a whole number, not '\(text)'") }
        return value
    }

    public func double(_ key: String, default fallback: Double) throws(ConfigError) -> Double {
        guard let text = string(key) else { return fallback }
        guard let value = Double(text) else { throw ConfigError("'\(key)' must be a number, not '\(text)'") }
        return value
    }

    public func bool(_ key: String, default fallback: Bool) throws(ConfigError) -> Bool {
        guard let text = string(key)?.lowercased() else { return fallback }
        switch text {
        case "true", "yes", "1", "on": return true
        case "false", "no", "0", "off": return false
        default: throw ConfigError("'\(key)' must be true or false, not '\(text)'")
        }
    }

    /// A duration written as `250ms`, `5s`, `2m`, `1h` (a bare number is seconds).
    public func duration(_ key: String, default fallback: Duration) throws(ConfigError) -> Duration {
        guard let text = string(key) else { return fallback }
        guard let value = Self.parseDuration(text) else {
            throw ConfigError("'\(key)' must be a duration like 250ms, 5s, 2m or 1h, not '\(text)'")
        }
        return value
    }

    public static func parseDuration(_ text: String) -> Duration? {
        let text = text.trimmingCharacters(in: .whitespaces)
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]
        for (suffix, seconds) in units where text.hasSuffix(suffix) {
            guard let number = Double(text.dropLast(suffix.count)), number >= 0 else { return nil }
            return .milliseconds(Int64((number * seconds * 1000).rounded()))
        }
        guard let number = Double(text), number >= 0 else { return nil }
        return .milliseconds(Int64((number * 1000).rounded()))
    }

    /// Every key under `prefix.` with the prefix removed, e.g. `kafka.` → librdkafka properties.
    public func subtree(_ prefix: String) -> [String: String] {
        let dotted = prefix.hasSuffix(".") ? prefix : prefix + "."
        var result: [String: String] = [:]
        for (key, value) in values where key.hasPrefix(dotted) {
            result[String(key.dropFirst(dotted.count))] = value
        }
        return result
    }
}

public struct ConfigError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension FleetConfig {
    /// `database.statement.timeout`, when set: PostgreSQL cancels a statement that runs longer.
    public var statementTimeout: Duration? {
        get throws(ConfigError) {
            let config = self
            guard config.string("database.statement.timeout") != nil else { return nil }
            return try config.duration("database.statement.timeout", default: .seconds(30))
        }
    }
}
