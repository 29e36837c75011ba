import Foundation
import Postgres

/// One SQL file of the schema's history. Files are applied in name order, each once.
public struct Migration: Sendable, Hashable {
    public var name: String
    public var sql: String

    public init(name: String, sql: String) {
        self.name = name
        self.sql = sql
    }

    /// The migrations shipped with the programs (`Workers/Migrations/SQL/*.sql`).
    public static func bundled() throws -> [Migration] {
        guard let directory = Bundle.module.url(forResource: "SQL", withExtension: nil) else {
            throw MigrationError("the SQL folder is missing from the Migrations bundle")
        }
        return try load(from: directory)
    }

    public static func load(from directory: URL) throws -> [Migration] {
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasSuffix(".sql") }.sorted()
        return try files.map { file in
            Migration(
                name: String(file.dropLast(4)),
                sql: try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8))
        }
    }
}

public struct MigrationError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// What `migrate` did with one migration.
public struct MigrationResult: Sendable, Hashable {
    public enum Status: String, Sendable { case applied, alreadyApplied = "already applied" }
    public var name: String
    public var status: Status
}

/// Applies migrations once each, recording name and checksum in `public.schema_migrations`.
/// Concurrent runs are safe: they queue on an advisory lock. An applied migration whose file
/// changed since is an error that names it, and nothing further is applied.
public struct Migrator: Sendable {
    public let migrations: [Migration]

    /// Key of the advisory lock every migrator takes (any constant shared by all programs).
    static let lockKey: Int64 = 0x4361_7265_466C_74  // "CareFlt"

    public init(migrations: [Migration]) {
        self.migrations = migrations.sorted { $0.name < $1.name }
    }

    public func migrate(databaseURL: String) async throws -> [MigrationResult] {
        let connection = try await PostgresConnection.connect(url: databaseURL, applicationName: "carefleet-migrate")
        try await connection.query("SELECT pg_advisory_lock($1)", [Self.lockKey])
        do {
            let results = try await apply(on: connection)
            try await connection.query("SELECT pg_advisory_unlock($1)", [Self.lockKey])
            return results
        } catch {
            _ = try? await connection.query("SELECT pg_advisory_unlock($1)", [Self.lockKey])
            throw error
        }
    }

    private func apply(on connection: PostgresConnection) async throws -> [MigrationResult] {
        try await connection.execute(
            script: """
                CREATE TABLE IF NOT EXISTS public.schema_migrations (
                    name text PRIMARY KEY,
                    checksum text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """)
        var applied: [String: String] = [:]
        for row in try await connection.query("SELECT name, checksum FROM public.schema_migrations") {
            applied[try row.decode(String.self, 0)] = try row.decode(String.self, 1)
        }
        var results: [MigrationResult] = []
        for migration in migrations {
            let checksum = try await connection.query(
                "SELECT encode(sha256(convert_to($1, 'UTF8')), 'hex')", [migration.sql])[0].decode(String.self, 0)
            if let recorded = applied[migration.name] {
                guard recorded == checksum else {
                    throw MigrationError(
                        "migration \(migration.name) was changed after it was applied (checksum \(recorded.prefix(12))… "
                            + "recorded, \(checksum.prefix(12))… now): write a new migration instead")
                }
                results.append(MigrationResult(name: migration.name, status: .alreadyApplied))
                continue
            }
            do {
                try await connection.transaction { connection in
                    try await connection.execute(script: migration.sql)
                    try await connection.query(
                        "INSERT INTO public.schema_migrations (name, checksum) VALUES ($1, $2)", [migration.name, checksum])
                }
            } catch {
                throw MigrationError("migration \(migration.name) failed: \(error)")
            }
            results.append(MigrationResult(name: migration.name, status: .applied))
        }
        return results
    }
}
