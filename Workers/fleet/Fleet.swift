import ArgumentParser
import Contracts
import FleetConfiguration
import Runtime
import Foundation

/// The operator's command line: topics, migrations, publishing, lag and dead letters.
@main
struct Fleet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fleet",
        abstract: "Operate a CareFleet installation.",
        discussion: """
            Configuration comes from config/<CAREFLEET_ENV>.conf (default dev), overridden by \
            CAREFLEET_* environment variables.
            """,
        subcommands: [
            Migrate.self, Topics.self, Publish.self, Lag.self, DeadLetters.self, Seed.self, TenantsCommand.self,
            PlatformOperatorsCommand.self, AnalyticsCommand.self, WorkersCommand.self, Bench.self,
        ])
}

/// Options every subcommand shares.
struct GlobalOptions: ParsableArguments {
    @Option(help: "Configuration environment (dev, test, production); default $CAREFLEET_ENV or dev.")
    var env: String?

    @Option(help: "Folder with <env>.conf files; default $CAREFLEET_CONFIG_DIR or ./config.")
    var configDir: String?

    /// Loads the configuration and says on standard error which one it is and what it talks to.
    func load() throws -> FleetConfig {
        let config = try FleetConfig.load(environment: env, directory: configDir)
        FileHandle.standardError.write(Data("fleet: \(config.summary)\n".utf8))
        return config
    }
}

extension FleetConfig {
    /// `fleet.namespace`: the prefix of every topic and group name (empty in production).
    func namespace() throws -> FleetNamespace {
        let prefix = string("fleet.namespace", default: "")
        guard let namespace = FleetNamespace(prefix) else {
            throw failure("fleet.namespace '\(prefix)' may hold only letters, digits and '-'")
        }
        return namespace
    }
}

/// Prints to standard error and exits non-zero with a one-line reason.
func failure(_ message: String) -> some Error {
    ValidationError(message)
}

/// Checks of numeric options, run from a command's `validate()` (before it connects to anything):
/// a count of zero or below would otherwise divide by zero (a rate of 0 crashed the pipeline
/// bench), make an empty range (the streams bench), or print a table of nonsense. Each failure
/// names the option and what it takes.
enum OptionCheck {
    static func atLeast(_ minimum: Int, _ value: Int, _ option: String) throws {
        guard value >= minimum else { throw failure("\(option) must be at least \(minimum) (got \(value))") }
    }

    static func within(_ range: ClosedRange<Double>, _ value: Double, _ option: String) throws {
        guard range.contains(value) else {
            throw failure("\(option) must be between \(range.lowerBound) and \(range.upperBound) (got \(value))")
        }
    }

    /// A comma-separated list of whole numbers, each at least `minimum`; "" and "none" are the empty list.
    static func list(_ text: String, atLeast minimum: Int, _ option: String) throws -> [Int] {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.isEmpty || trimmed == "none" { return [] }
        return try trimmed.split(separator: ",", omittingEmptySubsequences: false).map { item in
            let item = item.trimmingCharacters(in: .whitespaces)
            guard let value = Int(item) else { throw failure("\(option) takes whole numbers separated by commas (got '\(item)')") }
            try atLeast(minimum, value, option)
            return value
        }
    }
}
