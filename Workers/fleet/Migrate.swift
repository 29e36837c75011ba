import ArgumentParser
import Migrations

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply the database migrations that are not applied yet.",
        discussion: "Safe to run concurrently and repeatedly; a changed applied migration is an error.")

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let config = try global.load()
        let url = try config.require("database.url")
        let results = try await Migrator(migrations: Migration.bundled()).migrate(databaseURL: url)
        for result in results { print("\(result.status == .applied ? "applied" : "ok     ")  \(result.name)") }
        let applied = results.filter { $0.status == .applied }.count
        print("\(applied) applied, \(results.count - applied) already applied")
    }
}
