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
