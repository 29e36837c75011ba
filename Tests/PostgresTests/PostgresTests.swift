import Foundation
import Postgres
import TestSupport
import Testing

@Suite("PostgreSQL library against a real server", .timeLimit(.minutes(3)))
struct PostgresTests {
    @Test func parametersAreNeverSQL() async throws {
        try await TestDatabase.with(migrated: false) { url in
            let pool = PostgresPool(url: url, maximumConnections: 2)
            defer { pool.close() }
            try await pool.query("CREATE TABLE t (id serial PRIMARY KEY, note text NOT NULL)")
            let hostile = "'; DROP TABLE t; --"
            try await pool.query("INSERT INTO t (note) VALUES ($1)", [hostile])
            let rows = try await pool.query("SELECT note FROM t WHERE note = $1", [hostile])
            #expect(rows.count == 1)
            #expect(try rows[0].decode(String.self, "note") == hostile)
            let exists = try await pool.query("SELECT to_regclass('public.t') IS NOT NULL")
            #expect(try exists[0].decode(Bool.self, 0))
        }
    }

    @Test func decodesTypedColumns() async throws {
        try await TestDatabase.with(migrated: false) { url in
            let connection = try await PostgresConnection.connect(url: url)
            struct Settings: Codable, Sendable, Equatable {
                var reminders: [Int]
                var email: Bool
            }
            let id = UUID()
            let instant = Date(timeIntervalSince1970: 1_795_000_000.123456)
            let bytes = Data([0, 1, 2, 254, 255])
            let rows = try await connection.query(
                """
                SELECT $1::int AS small, $2::bigint AS big, $3::text AS name, $4::bool AS flag, $5::float8 AS ratio,
                       $6::uuid AS id, $7::timestamptz AS at, $8::bytea AS raw, $9::text AS missing, $10::jsonb AS settings,
                       '2026-03-29 02:30:00+02'::timestamptz AS with_offset
                """,
                [
                    42, Int64.max, "Zoë ✓", true, 0.625, id, instant, bytes, String?.none,
                    PostgresJSON(Settings(reminders: [1440, 60], email: true)),
                ])
            let row = rows[0]
            #expect(try row.decode(Int.self, "small") == 42)
            #expect(try row.decode(Int64.self, "big") == Int64.max)
            #expect(try row.decode(String.self, "name") == "Zoë ✓")
            #expect(try row.decode(Bool.self, "flag"))
            #expect(try row.decode(Double.self, "ratio") == 0.625)
            #expect(try row.decode(UUID.self, "id") == id)
            #expect(abs(try row.decode(Date.self, "at").timeIntervalSince(instant)) < 0.000_001)
            #expect(try row.decode(Data.self, "raw") == bytes)
            #expect(try row.decode(String?.self, "missing") == nil)
            #expect(try row.decode(Int?.self, "small") == 42)
            #expect(try row.decodeJSON(Settings.self, "settings") == Settings(reminders: [1440, 60], email: true))
            #expect(try row.decode(Date.self, "with_offset") == Date(timeIntervalSince1970: 1_774_744_200))
            #expect(throws: PostgresError.self) { try row.decode(String.self, "missing") }
            #expect(throws: PostgresError.self) { try row.decode(Int.self, "name") }
        }
    }

    @Test func arrayParametersCarryWholeBatches() async throws {
        try await TestDatabase.with(migrated: false) { url in
            let connection = try await PostgresConnection.connect(url: url)
            let names = ["plain", "with \"quotes\"", "back\\slash, comma {braces}", "NULL", "", "Zoë 🩺 naïve", "\\\"\\"]
            let ids = names.map { _ in UUID() }
            let rows = try await connection.query(
                "SELECT id, name FROM unnest($1::uuid[], $2::text[]) AS u(id, name) ORDER BY name", [ids, names])
            #expect(rows.count == names.count)
            let decoded = try Dictionary(uniqueKeysWithValues: rows.map { (try $0.decode(String.self, "name"), try $0.decode(UUID.self, "id")) })
            for (id, name) in zip(ids, names) { #expect(decoded[name] == id, "\(name)") }
            // A missing element is NULL, unlike the text "NULL".
            let nulls = try await connection.query("SELECT count(*) FILTER (WHERE x IS NULL) FROM unnest($1::text[]) AS x", [["NULL", nil, "a"] as [String?]])
            #expect(try nulls[0].decode(Int.self, 0) == 1)
            // Times written in place arrive as the same instants, to the microsecond.
            let times = [0, 1_795_000_000.5, -86_400.25, 951_782_400].map { Date(timeIntervalSince1970: $0) }
            let read = try await connection.query("SELECT t FROM unnest($1::timestamptz[]) WITH ORDINALITY AS u(t, n) ORDER BY n", [times])
            #expect(try read.map { try $0.decode(Date.self, 0) } == times)
        }
    }

    @Test func uniqueAndExclusionViolationsAreDistinct() async throws {
        try await TestDatabase.with(migrated: false) { url in
            let connection = try await PostgresConnection.connect(url: url)
            try await connection.execute(
                script: """
                    CREATE EXTENSION IF NOT EXISTS btree_gist;
                    CREATE TABLE slots (
                        id int PRIMARY KEY,
                        doctor int NOT NULL,
                        during tstzrange NOT NULL,
                        EXCLUDE USING gist (doctor WITH =, during WITH &&)
                    );
                    INSERT INTO slots VALUES (1, 7, '[2026-12-01 10:00+00, 2026-12-01 10:30+00)');
                    """)
            var unique: PostgresError?
            do {
                try await connection.query(
                    "INSERT INTO slots VALUES (1, 8, '[2026-12-01 10:00+00, 2026-12-01 10:30+00)')")
            } catch let error as PostgresError { unique = error }
            var exclusion: PostgresError?
            do {
                try await connection.query(
                    "INSERT INTO slots VALUES (2, 7, '[2026-12-01 10:15+00, 2026-12-01 10:45+00)')")
            } catch let error as PostgresError { exclusion = error }
            #expect(unique?.isUniqueViolation == true)
            #expect(unique?.sqlState == "23505")
            #expect(unique?.isExclusionViolation == false)
            #expect(exclusion?.isExclusionViolation == true)
            #expect(exclusion?.sqlState == "23P01")
            #expect(exclusion?.constraint?.isEmpty == false)
            #expect(exclusion?.isRetriable == false)
        }
    }

    @Test func aTransactionWhoseClosureThrowsLeavesNoRows() async throws {
        struct Abort: Error {}
        try await TestDatabase.with(migrated: false) { url in
            let pool = PostgresPool(url: url, maximumConnections: 1)
            defer { pool.close() }
            try await pool.query("CREATE TABLE t (n int)")
            await #expect(throws: Abort.self) {
                try await pool.transaction { connection in
                    try await connection.query("INSERT INTO t VALUES (1), (2)")
                    throw Abort()
                }
            }
            try await pool.transaction { connection in
                try await connection.query("INSERT INTO t VALUES (3)")
            }
            let rows = try await pool.query("SELECT n FROM t")
            #expect(try rows.map { try $0.decode(Int.self, 0) } == [3])
        }
    }

    @Test func aPipelineIsOneRoundTripAndOneTransaction() async throws {
        try await TestDatabase.with(migrated: false) { url in
            let connection = try await PostgresConnection.connect(url: url)
            try await connection.query("CREATE TABLE t (n int PRIMARY KEY)")
            let before = await connection.roundTrips
            let answers = try await connection.pipeline([
                ("INSERT INTO t VALUES ($1)", [1]), ("SELECT count(*)::int FROM t WHERE n = $1", [1]),
                ("INSERT INTO t SELECT unnest($1::int[]) RETURNING n", [[2, 3]]),
            ])
            #expect(await connection.roundTrips - before <= 3, "one pipeline (and at most the prepares that travel in it)")
            #expect(answers.count == 3)
            #expect(try answers[1][0].decode(Int.self, 0) == 1, "a statement sees what an earlier one wrote")
            #expect(try answers[2].map { try $0.decode(Int.self, 0) } == [2, 3])
            // A failing statement undoes the ones before it and skips the ones after.
            await #expect(throws: PostgresError.self) {
                try await connection.pipeline([
                    ("INSERT INTO t VALUES ($1)", [4]), ("INSERT INTO t VALUES ($1)", [1]), ("INSERT INTO t VALUES ($1)", [5]),
                ])
            }
            let rows = try await connection.query("SELECT n FROM t ORDER BY n")
            #expect(try rows.map { try $0.decode(Int.self, 0) } == [1, 2, 3])
            // Inside a transaction, a pipeline is part of it.
            struct Abort: Error {}
            await #expect(throws: Abort.self) {
                try await connection.transaction { connection in
                    _ = try await connection.pipeline([("INSERT INTO t VALUES ($1)", [6])])
                    throw Abort()
                }
            }
            #expect(try await connection.query("SELECT count(*)::int FROM t")[0].decode(Int.self, 0) == 3)
            // A parameter that cannot be encoded fails the pipeline before anything is sent, and
            // the transaction's BEGIN still goes with its next statement: the insert is undone.
            struct Reading: Codable, Sendable { var value: Double }
            await #expect(throws: Abort.self) {
                try await connection.transaction { connection in
                    let refused: Bool
                    do {
                        _ = try await connection.pipeline([("SELECT $1::jsonb", [PostgresJSON(Reading(value: .nan))])])
                        refused = false
                    } catch {
                        refused = true
                    }
                    #expect(refused, "a NaN does not encode as JSON")
                    try await connection.query("INSERT INTO t VALUES ($1)", [7])
                    throw Abort()
                }
            }
            #expect(try await connection.query("SELECT count(*)::int FROM t")[0].decode(Int.self, 0) == 3, "the insert was rolled back")
            await connection.close()
        }
    }

    @Test func aPoolOfFourServesSixteenConcurrentQueries() async throws {
        try await TestDatabase.with(migrated: false) { url in
            let application = "pooltest\(UUID().uuidString.prefix(6))"
            let pool = PostgresPool(url: url, maximumConnections: 4, applicationName: application)
            defer { pool.close() }
            let results = try await withThrowingTaskGroup(of: (Int, Int, Int).self) { group in
                for index in 0..<16 {
                    group.addTask {
                        let rows = try await pool.query(
                            """
                            SELECT $1::int * 2, (SELECT count(*) FROM pg_stat_activity WHERE application_name = $2)::int
                            FROM pg_sleep(0.05)
                            """, [index, application])
                        return (index, try rows[0].decode(Int.self, 0), try rows[0].decode(Int.self, 1))
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(results.count == 16)
            #expect(results.allSatisfy { $0.1 == $0.0 * 2 })
            #expect(results.allSatisfy { $0.2 <= 4 }, "never more than 4 connections at once")
            #expect(pool.maximumConnections == 4)
        }
    }

    @Test func thePoolRecoversAfterTheServerRestarts() async throws {
        // A cluster of its own: restarting the shared one would disturb the other tests.
        let services = try await ServicesProcess.start(only: ["postgres"])
        defer { Task { try? await services.stop() } }
        let url = try #require(services.env["CAREFLEET_DATABASE_URL"])
        let pool = PostgresPool(url: url, maximumConnections: 2)
        defer { pool.close() }
        let before = try await pool.query("SELECT pg_backend_pid()")[0].decode(Int.self, 0)
        try await services.control("restart-postgres")
        let rows = try await pool.query("SELECT pg_backend_pid()")
        let after = try rows[0].decode(Int.self, 0)
        #expect(after != before, "a new connection to the restarted server")
        try await services.stop()
    }

    @Test func connectingToNothingIsAConnectionError() async throws {
        do {
            _ = try await PostgresConnection.connect(url: "postgres://postgres@127.0.0.1:1/none?connect_timeout=2")
            Issue.record("connected to nothing")
        } catch {
            #expect(error.kind == .connection)
            #expect(error.isRetriable)
        }
    }

    /// Ids and times write their array elements in place; the literal must be what quoting each
    /// element's own parameter text gives (the general path), `NULL` for a missing one.
    @Test func arrayElementsWrittenInPlaceAreTheQuotedParameterText() throws {
        func literal(_ parameter: PostgresParameter) -> String? {
            guard case .text(let text) = parameter else { return nil }
            return text
        }
        func quoted(_ values: [any PostgresBindable]) throws -> String {
            let elements = try values.map { value -> String in
                guard let text = literal(try value.postgresParameter) else { return "NULL" }
                return "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
            }
            return "{" + elements.joined(separator: ",") + "}"
        }
        let ids = (0..<5).map { _ in UUID() }
        let times = [0, 1_795_000_000.123456, -86_400.25, 951_782_400, 400_000_000_000, -70_000_000_000].map { Date(timeIntervalSince1970: $0) }
        #expect(literal(try ids.postgresParameter) == (try quoted(ids)))
        #expect(literal(try times.postgresParameter) == (try quoted(times)))
        let optionalIds: [UUID?] = [ids[0], nil, ids[1]]
        let optionalTimes: [Date?] = [nil, times[1]]
        #expect(literal(try optionalIds.postgresParameter) == #"{"\#(ids[0].canonical)",NULL,"\#(ids[1].canonical)"}"#)
        #expect(literal(try optionalTimes.postgresParameter) == #"{NULL,"2026-11-18 11:06:40.123456+00"}"#)
        #expect(literal(times[0].postgresParameter) == "1970-01-01 00:00:00.000000+00")
        #expect(literal(times[2].postgresParameter) == "1969-12-30 23:59:59.750000+00")
        #expect(literal(times[3].postgresParameter) == "2000-02-29 00:00:00.000000+00")
    }

    @Test func timestampTextRoundTripsThroughTheParser() throws {
        let samples = [0, 1_795_000_000.5, -86_400.25, 951_782_400]  // includes 2000-02-29
        for seconds in samples {
            let date = Date(timeIntervalSince1970: seconds)
            guard case .text(let text) = date.postgresParameter else {
                Issue.record("a date is sent as text")
                continue
            }
            #expect(try Date(postgresText: text) == date, "\(text)")
        }
    }
}
