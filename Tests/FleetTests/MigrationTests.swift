import Foundation
import Migrations
import Postgres
import TestSupport
import Testing

@Suite("Migrations", .timeLimit(.minutes(2)))
struct MigrationTests {
    @Test func migrationsApplyOnceAndRecordTheirChecksums() async throws {
        try await TestDatabase.with(migrated: false) { url in
            let migrator = Migrator(migrations: try Migration.bundled())
            let first = try await migrator.migrate(databaseURL: url)
            let second = try await migrator.migrate(databaseURL: url)
            #expect(!first.isEmpty)
            #expect(first.allSatisfy { $0.status == .applied })
            #expect(second.allSatisfy { $0.status == .alreadyApplied })
            let connection = try await PostgresConnection.connect(url: url)
            let rows = try await connection.query("SELECT name, length(checksum) FROM public.schema_migrations ORDER BY name")
            #expect(try rows.map { try $0.decode(String.self, 0) } == first.map(\.name))
            #expect(try rows.allSatisfy { try $0.decode(Int.self, 1) == 64 }, "sha-256 in hex")
            let schemas = try await connection.query(
                "SELECT count(*) FROM pg_namespace WHERE nspname = ANY($1::text[])",
                [["identity", "directory", "booking", "notify", "mail", "analytics", "runtime"]])
            #expect(try schemas[0].decode(Int.self, 0) == 7)
        }
    }

    @Test func twoConcurrentRunsApplyEachMigrationOnce() async throws {
        try await TestDatabase.with(migrated: false) { url in
            let migrations = [
                Migration(name: "0001_a", sql: "CREATE TABLE a (n int); SELECT pg_sleep(0.3);"),
                Migration(name: "0002_b", sql: "CREATE TABLE b (n int);"),
            ]
            async let one = Migrator(migrations: migrations).migrate(databaseURL: url)
            async let two = Migrator(migrations: migrations).migrate(databaseURL: url)
            let results = try await [one, two]
            let applied = results.flatMap { $0 }.filter { $0.status == .applied }.map(\.name).sorted()
            #expect(applied == ["0001_a", "0002_b"], "each applied by exactly one run")
            let connection = try await PostgresConnection.connect(url: url)
            let count = try await connection.query("SELECT count(*) FROM public.schema_migrations")
            #expect(try count[0].decode(Int.self, 0) == 2)
        }
    }

    @Test func aChangedAppliedMigrationIsAnErrorNamingIt() async throws {
        try await TestDatabase.with(migrated: false) { url in
            _ = try await Migrator(migrations: [Migration(name: "0001_people", sql: "CREATE TABLE people (n int);")])
                .migrate(databaseURL: url)
            let changed = Migrator(migrations: [
                Migration(name: "0001_people", sql: "CREATE TABLE people (n bigint);"),
                Migration(name: "0002_more", sql: "CREATE TABLE more (n int);"),
            ])
            await #expect {
                try await changed.migrate(databaseURL: url)
            } throws: { error in
                "\(error)".contains("0001_people") && "\(error)".contains("changed")
            }
            let connection = try await PostgresConnection.connect(url: url)
            let more = try await connection.query("SELECT to_regclass('public.more') IS NULL")
            #expect(try more[0].decode(Bool.self, 0), "nothing after the changed migration was applied")
        }
    }

    @Test func aFailingMigrationIsRolledBackAndNamed() async throws {
        try await TestDatabase.with(migrated: false) { url in
            let migrator = Migrator(migrations: [
                Migration(name: "0001_half", sql: "CREATE TABLE half (n int); SELECT no_such_function();")
            ])
            await #expect {
                try await migrator.migrate(databaseURL: url)
            } throws: { error in
                "\(error)".contains("0001_half")
            }
            let connection = try await PostgresConnection.connect(url: url)
            let half = try await connection.query("SELECT to_regclass('public.half') IS NULL")
            #expect(try half[0].decode(Bool.self, 0))
        }
    }

    @Test func fleetMigrateRunsTheBundledMigrations() async throws {
        try await TestDatabase.with(migrated: false) { url in
            let first = try await FleetBinary.run(["migrate"], environment: ["CAREFLEET_DATABASE_URL": url])
            #expect(first.status == 0, "\(first.output)")
            #expect(first.output.contains("applied  0001_schemas"))
            let second = try await FleetBinary.run(["migrate"], environment: ["CAREFLEET_DATABASE_URL": url])
            #expect(second.status == 0)
            #expect(second.output.contains("0 applied"))
        }
    }
}
