import Foundation
import Migrations
import Postgres

/// A database of its own for each test: empty, or a copy of a migrated template.
public enum TestDatabase {
    /// Creates a database, runs `body` with its URL and drops it afterwards.
    public static func with<R>(migrated: Bool = true, _ body: (String) async throws -> R) async throws -> R {
        let url = try await create(migrated: migrated)
        do {
            let value = try await body(url)
            try await drop(url)
            return value
        } catch {
            try? await drop(url)
            throw error
        }
    }

    public static func create(migrated: Bool = true) async throws -> String {
        let base = try await TestServices.shared().databaseURL
        let name = "test_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased())"
        let template = migrated ? try await migratedTemplate.value : "template0"
        let admin = try await PostgresConnection.connect(url: base)
        // Identifiers cannot be parameters; `name` and `template` are generated here, never input.
        try await admin.execute(script: "CREATE DATABASE \(name) TEMPLATE \(template)")
        return replacingDatabase(in: base, with: name)
    }

    public static func drop(_ url: String) async throws {
        let base = try await TestServices.shared().databaseURL
        let name = String(url.split(separator: "/").last?.split(separator: "?").first ?? "")
        guard name.hasPrefix("test_") else { return }
        let admin = try await PostgresConnection.connect(url: base)
        try await admin.execute(script: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
    }

    /// A template database with every migration applied, made once per test process.
    private static let migratedTemplate = Task<String, any Error> {
        let base = try await TestServices.shared().databaseURL
        let name = "carefleet_template_\(getpid())"
        let admin = try await PostgresConnection.connect(url: base)
        try await admin.execute(script: "DROP DATABASE IF EXISTS \(name)")
        try await admin.execute(script: "CREATE DATABASE \(name) TEMPLATE template0")
        _ = try await Migrator(migrations: Migration.bundled()).migrate(databaseURL: replacingDatabase(in: base, with: name))
        return name
    }

    static func replacingDatabase(in url: String, with name: String) -> String {
        var components = URLComponents(string: url) ?? URLComponents()
        components.path = "/" + name
        return components.string ?? url
    }
}
