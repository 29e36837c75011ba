import Foundation
import Logging
import Postgres
import Synchronization
import TestSupport
import Testing

@Suite("PostgreSQL library: errors that name no values, refused input, broken transactions", .timeLimit(.minutes(3)))
struct PostgresSafetyTests {
    @Test func aUniqueViolationOnAnEmailLogsNoEmail() async throws {
        try await TestDatabase.with(migrated: false) { url in
            let pool = PostgresPool(url: url, maximumConnections: 1)
            defer { pool.close() }
            try await pool.query(
                "CREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL CONSTRAINT users_email_key UNIQUE)")
            let email = "zoe.patient@example.org"
            try await pool.query("INSERT INTO users (email) VALUES ($1)", [email])
            let error = try await #require(throws: PostgresError.self) {
                try await pool.query("INSERT INTO users (email) VALUES ($1)", [email])
            }
            #expect(error.isUniqueViolation)
            #expect(error.detail?.contains(email) == true, "the server's DETAIL names the key's value")

            #expect(!error.description.contains("zoe"), "\(error)")
            #expect(error.description.contains("23505"))
            #expect(error.description.contains("users_email_key"))
            #expect(String(reflecting: error).contains(email), "the details stay available for debugging")

            // A log line made the way the ingress makes one.
            let lines = CapturedLines()
            let logger = Logger(label: "test") { _ in CapturingLogHandler(lines: lines) }
            logger.warning("input refused by the database", metadata: ["error": "\(error)"])
            #expect(lines.all.count == 1)
            #expect(lines.all.allSatisfy { !$0.contains("zoe") && $0.contains("23505") }, "\(lines.all)")
        }
    }

    @Test func valuesTheServerQuotesInItsMessageAreMasked() async throws {
        try await TestDatabase.with(migrated: false) { url in
            let connection = try await PostgresConnection.connect(url: url)
            let email = "zoe.patient@example.org"
            let badUUID = try await #require(throws: PostgresError.self) {
                try await connection.query("SELECT $1::uuid", [email])
            }
            #expect(badUUID.sqlState == "22P02")
            #expect(!badUUID.description.contains("zoe"), "\(badUUID)")
            #expect(badUUID.description.contains("invalid input syntax for type uuid"))

            // A value holding quotes cannot break out of the mask.
            let quoted = "x\" and \"zoe@example.org"
            let tricky = try await #require(throws: PostgresError.self) {
                try await connection.query("SELECT $1::int", [quoted])
            }
            #expect(!tricky.description.contains("zoe"), "\(tricky)")

            // Identifiers the error names itself stay readable.
            try await connection.execute(script: "CREATE TABLE people (email text NOT NULL)")
            let missing = try await #require(throws: PostgresError.self) {
                try await connection.query("INSERT INTO people (email) VALUES ($1)", [String?.none])
            }
            #expect(missing.description.contains("\"email\""), "\(missing)")
            #expect(missing.description.contains("people"))

            // A cell that does not decode is not printed either.
            let row = try await connection.query("SELECT $1::text AS email", [email])[0]
            let decoding = try #require(throws: PostgresError.self) { try row.decode(UUID.self, "email") }
            #expect(!decoding.description.contains("zoe"), "\(decoding)")
            #expect(decoding.description.contains("email"), "names the column")
        }
    }

    @Test func jsonThatDoesNotEncodeIsAnErrorNotANull() async throws {
        struct Reading: Codable, Sendable { var value: Double }
        try await TestDatabase.with(migrated: false) { url in
            let pool = PostgresPool(url: url, maximumConnections: 1)
            defer { pool.close() }
            try await pool.query("CREATE TABLE readings (doc jsonb)")
            let error = try await #require(throws: PostgresError.self) {
                // JSONEncoder refuses a NaN.
                try await pool.query("INSERT INTO readings (doc) VALUES ($1)", [PostgresJSON(Reading(value: .nan))])
            }
            #expect(error.kind == .encoding)
            #expect(error.description.contains("Reading"))
            let rows = try await pool.query("SELECT count(*) FROM readings")
            #expect(try rows[0].decode(Int.self, 0) == 0, "nothing (no NULL) was written")
        }
    }

    @Test func textWithANulByteIsRefusedBeforeLibpqCutsItOff() async throws {
        try await TestDatabase.with(migrated: false) { url in
            let pool = PostgresPool(url: url, maximumConnections: 1)
            defer { pool.close() }
            try await pool.query("CREATE TABLE notes (note text)")
            let error = try await #require(throws: PostgresError.self) {
                try await pool.query("INSERT INTO notes (note) VALUES ($1)", ["kept\u{0}cut off"])
            }
            #expect(error.kind == .parameter)
            #expect(error.message.contains("$1"))
            #expect(!error.description.contains("kept"), "the value is not printed")
            let inArray = try await #require(throws: PostgresError.self) {
                try await pool.query("INSERT INTO notes (note) SELECT unnest($1::text[])", [["fine", "also\u{0}cut"]])
            }
            #expect(inArray.kind == .parameter)
            let rows = try await pool.query("SELECT count(*) FROM notes")
            #expect(try rows[0].decode(Int.self, 0) == 0, "no truncated text was stored")
        }
    }

    @Test func aTransactionWhoseConnectionBrokeIsDroppedAndTheNextOneIsHealthy() async throws {
        struct Abort: Error {}
        try await TestDatabase.with(migrated: false) { url in
            let pool = PostgresPool(url: url, maximumConnections: 1)
            defer { pool.close() }
            let killer = try await PostgresConnection.connect(url: url)
            try await pool.query("CREATE TABLE t (n int)")
            let broken = Shared<Int>(0)
            await #expect(throws: Abort.self, "the body's error is what the caller sees") {
                try await pool.transaction { connection in
                    try await connection.query("INSERT INTO t VALUES (1)")
                    let pid = try await connection.query("SELECT pg_backend_pid()")[0].decode(Int.self, 0)
                    broken.set(pid)
                    try await killer.query("SELECT pg_terminate_backend($1)", [pid])
                    try await eventually(timeout: .seconds(10), "the backend is gone") {
                        try await killer.query("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", [pid])[0]
                            .decode(Int.self, 0) == 0
                    }
                    // The ROLLBACK that follows meets a connection the server has closed.
                    throw Abort()
                }
            }
            let rows = try await pool.query("SELECT pg_backend_pid(), (SELECT count(*) FROM t)")
            #expect(try rows[0].decode(Int.self, 0) != broken.value, "a new connection")
            #expect(try rows[0].decode(Int.self, 1) == 0)
        }
    }

    @Test func aConnectionReturnedInsideATransactionIsNeverLentAgain() async throws {
        try await TestDatabase.with(migrated: false) { url in
            let pool = PostgresPool(url: url, maximumConnections: 1)
            defer { pool.close() }
            try await pool.query("CREATE TABLE t (n int)")
            // Returned with a transaction still open.
            let first = try await pool.withConnection { connection in
                try await connection.execute(script: "BEGIN")
                try await connection.query("INSERT INTO t VALUES (1)")
                return try await connection.query("SELECT pg_backend_pid()")[0].decode(Int.self, 0)
            }
            let afterOpen = try await pool.query("SELECT pg_backend_pid(), (SELECT count(*) FROM t)")
            #expect(try afterOpen[0].decode(Int.self, 0) != first, "not the connection left in a transaction")
            #expect(try afterOpen[0].decode(Int.self, 1) == 0, "its uncommitted row was rolled back")

            // Returned inside a failed transaction (every statement would fail with 25P02).
            try await pool.withConnection { connection in
                try await connection.execute(script: "BEGIN")
                await #expect(throws: PostgresError.self) { try await connection.query("SELECT 1 / 0") }
            }
            let afterFailed = try await pool.query("SELECT count(*) FROM t")
            #expect(try afterFailed[0].decode(Int.self, 0) == 0)
        }
    }

    /// A statement is parsed once per connection (prepared, then executed by name); a statement
    /// the server refuses fails with its own error, even inside a transaction; and a statement
    /// whose table changed its columns under it runs again instead of failing for ever.
    @Test func statementsArePreparedOncePerConnectionAndSurviveAChangedTable() async throws {
        try await TestDatabase.with(migrated: false) { url in
            let pool = PostgresPool(url: url, maximumConnections: 1)
            defer { pool.close() }
            for n in 1...3 { #expect(try await pool.query("SELECT $1::int + 1 AS m", [n])[0].decode(Int.self, 0) == n + 1) }
            let prepared = try await pool.query(
                "SELECT count(*) FROM pg_prepared_statements WHERE statement = $1", ["SELECT $1::int + 1 AS m"])
            #expect(try prepared[0].decode(Int.self, 0) == 1, "prepared once on the one connection")

            try await pool.withConnection { connection in
                try await connection.execute(script: "BEGIN")
                let error = try await #require(throws: PostgresError.self) { try await connection.query("SELEC 1") }
                #expect(error.sqlState == "42601", "the syntax error itself, not a failed transaction: \(error)")
                try await connection.execute(script: "ROLLBACK")
            }

            try await pool.query("CREATE TABLE t (n int)")
            try await pool.query("INSERT INTO t VALUES (1)")
            #expect(try await pool.query("SELECT * FROM t")[0].columns == ["n"])
            try await pool.query("ALTER TABLE t ADD COLUMN m int DEFAULT 2")
            let after = try await pool.query("SELECT * FROM t")
            #expect(after[0].columns == ["n", "m"])
            #expect(try after[0].decode(Int.self, "m") == 2)
        }
    }

    /// A transaction's BEGIN travels with its first statement (libpq pipeline mode): one round
    /// trip for both, the isolation level as asked, and a body with no statement costs nothing.
    @Test func aTransactionSendsItsBeginWithItsFirstStatement() async throws {
        try await TestDatabase.with(migrated: false) { url in
            let connection = try await PostgresConnection.connect(url: url)
            try await connection.query("CREATE TABLE t (n int PRIMARY KEY)")
            // The first run prepares the INSERT (in the same pipeline); the second shows the cost.
            for n in 1...2 {
                let before = await connection.roundTrips
                try await connection.transaction { try await $0.query("INSERT INTO t VALUES ($1)", [n]) }
                let trips = await connection.roundTrips - before
                #expect(trips == 2, "BEGIN with the INSERT, then COMMIT: \(trips) round trips")
            }
            #expect(try await connection.query("SELECT count(*) FROM t")[0].decode(Int.self, 0) == 2)

            let isolation = try await connection.transaction(isolation: .serializable) { connection in
                try await connection.query("SELECT current_setting($1) AS level", ["transaction_isolation"])[0].decode(String.self, 0)
            }
            #expect(isolation == "serializable")

            let before = await connection.roundTrips
            let value = try await connection.transaction { _ in 7 }
            #expect(value == 7)
            #expect(await connection.roundTrips == before, "no statement, no BEGIN and no COMMIT")
            await connection.close()
        }
    }

    /// A statement that fails in the pipeline with BEGIN fails with its own error; the transaction
    /// rolls back whole, and the connection serves the next one.
    @Test func aFailureInThePipelinedFirstStatementRollsBackAndTheConnectionGoesOn() async throws {
        try await TestDatabase.with(migrated: false) { url in
            let pool = PostgresPool(url: url, maximumConnections: 1)
            defer { pool.close() }
            try await pool.query("CREATE TABLE t (n int PRIMARY KEY)")
            try await pool.query("INSERT INTO t VALUES (1)")
            let duplicate = try await #require(throws: PostgresError.self) {
                try await pool.transaction { connection in
                    try await connection.query("INSERT INTO t VALUES ($1)", [1])
                    try await connection.query("INSERT INTO t VALUES ($1)", [2])
                }
            }
            #expect(duplicate.sqlState == "23505", "\(duplicate)")
            let syntax = try await #require(throws: PostgresError.self) {
                try await pool.transaction { try await $0.query("SELEC $1::int", [1]) }
            }
            #expect(syntax.sqlState == "42601", "the statement's own error, not a failed pipeline: \(syntax)")
            // A body that goes on after its first statement failed is still inside the (failed)
            // transaction: nothing after it runs outside one.
            let swallowed = try await #require(throws: PostgresError.self) {
                try await pool.transaction { connection in
                    _ = try? await connection.query("INSERT INTO t VALUES ($1)", [1])
                    try await connection.query("INSERT INTO t VALUES ($1)", [3])
                }
            }
            #expect(swallowed.sqlState == "25P02", "in a failed transaction: \(swallowed)")
            let rows = try await pool.query("SELECT array_agg(n ORDER BY n)::text AS ns FROM t")
            #expect(try rows[0].decode(String.self, 0) == "{1}")
            try await pool.transaction { try await $0.query("INSERT INTO t VALUES ($1)", [4]) }
            #expect(try await pool.query("SELECT count(*) FROM t")[0].decode(Int.self, 0) == 2)
        }
    }

    @Test func theStatementTimeoutOfThePoolCancelsALongStatement() async throws {
        try await TestDatabase.with(migrated: false) { url in
            let pool = PostgresPool(url: url, maximumConnections: 1, statementTimeout: .milliseconds(300))
            defer { pool.close() }
            let started = ContinuousClock.now
            let error = try await #require(throws: PostgresError.self) { try await pool.query("SELECT pg_sleep(5)") }
            let took = started.duration(to: .now)
            #expect(error.isQueryCanceled, "\(error)")
            #expect(took < .seconds(2), "cancelled by the server after 300 ms (took \(took))")
            let setting = try await pool.query("SHOW statement_timeout")
            #expect(try setting[0].decode(String.self, 0) == "300ms")
        }
    }

    @Test func cancellingTheAwaitingTaskCancelsTheStatementOnTheServer() async throws {
        try await TestDatabase.with(migrated: false) { url in
            let application = "canceltest\(UUID().uuidString.prefix(6))"
            let pool = PostgresPool(url: url, maximumConnections: 1, applicationName: application)
            defer { pool.close() }
            let observer = try await PostgresConnection.connect(url: url)
            let sleeper = Task { try await pool.query("SELECT pg_backend_pid() FROM pg_sleep(10)") }
            try await eventually(timeout: .seconds(10), "the statement runs") {
                try await observer.query(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND state = 'active'",
                    [application]
                )[0].decode(Int.self, 0) == 1
            }
            let cancelledAt = ContinuousClock.now
            sleeper.cancel()
            let outcome = await sleeper.result
            let took = cancelledAt.duration(to: .now)
            switch outcome {
            case .success: Issue.record("the statement ran to its end")
            case .failure(let error): #expect((error as? PostgresError)?.isQueryCanceled == true, "\(error)")
            }
            #expect(took < .seconds(3), "the server stopped it (took \(took))")
            let rows = try await pool.query("SELECT 1")
            #expect(try rows[0].decode(Int.self, 0) == 1, "the pool serves the next statement")
        }
    }
}

/// A value a test's closures share.
final class Shared<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    var value: Value { mutex.withLock { $0 } }
    func set(_ value: Value) { mutex.withLock { $0 = value } }
}

/// Log lines as a handler would write them: message, then metadata as `key=value`.
final class CapturedLines: Sendable {
    private let lines = Mutex<[String]>([])
    var all: [String] { lines.withLock { $0 } }
    func append(_ line: String) { lines.withLock { $0.append(line) } }
}

struct CapturingLogHandler: LogHandler {
    let lines: CapturedLines
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    var metadataProvider: Logger.MetadataProvider?

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let fields = metadata.merging(event.metadata ?? [:]) { $1 }.sorted { $0.key < $1.key }.map {
            "\($0.key)=\($0.value)"
        }
        lines.append(([event.level.rawValue, "\(event.message)"] + fields).joined(separator: " "))
    }
}
