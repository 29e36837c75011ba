import Foundation
import Postgres

/// PostgreSQL's own limit for the booking transaction on this machine, the probe of
/// `bench/pg_limits.sh` ("batch50"): pgbench calls a server-side function that books 50
/// appointments per transaction (each: lock the doctor's row, look for an overlap, record a
/// command id, insert), from `clients` connections. It runs in a scratch database of the fleet's
/// own server, so it pays the same fsync and settings as the booking worker, in the same run.
enum BookingCeiling {
    struct Figures: Codable {
        var clients: Int
        var seconds: Int
        var bookingsPerCall: Int
        var callsPerSecond: Double
        var bookingsPerSecond: Double
    }

    static let bookingsPerCall = 50

    /// The tables and functions of the probe (`schema.sql`, `fn.sql`).
    static let schema = """
        CREATE EXTENSION IF NOT EXISTS btree_gist;
        CREATE TABLE doctors (id bigint PRIMARY KEY, name text);
        INSERT INTO doctors SELECT g, 'dr ' || g FROM generate_series(1, 1000) g;
        CREATE TABLE appointments (
            id bigserial PRIMARY KEY, doctor_id bigint REFERENCES doctors (id), patient_id bigint,
            starts_at timestamptz, ends_at timestamptz, status text,
            EXCLUDE USING gist (doctor_id WITH =, tstzrange(starts_at, ends_at) WITH &&) WHERE (status IN ('pending', 'confirmed')));
        CREATE TABLE processed (command_id uuid PRIMARY KEY, at timestamptz DEFAULT now());
        CREATE FUNCTION book_one(d bigint, s timestamptz) RETURNS bigint LANGUAGE plpgsql AS $$
        DECLARE n int; new_id bigint;
        BEGIN
            PERFORM 1 FROM doctors WHERE id = d FOR UPDATE;
            SELECT count(*) INTO n FROM appointments WHERE doctor_id = d AND status IN ('pending', 'confirmed')
                AND tstzrange(starts_at, ends_at) && tstzrange(s, s + interval '30 min');
            IF n > 0 THEN RETURN NULL; END IF;
            INSERT INTO processed (command_id) VALUES (gen_random_uuid());
            INSERT INTO appointments (doctor_id, patient_id, starts_at, ends_at, status)
            VALUES (d, 1, s, s + interval '30 min', 'confirmed') RETURNING id INTO new_id;
            RETURN new_id;
        END $$;
        CREATE FUNCTION book_many(ds bigint[], ss timestamptz[]) RETURNS int LANGUAGE plpgsql AS $$
        DECLARE i int; ok int := 0;
        BEGIN
            FOR i IN 1..array_length(ds, 1) LOOP
                IF book_one(ds[i], ss[i]) IS NOT NULL THEN ok := ok + 1; END IF;
            END LOOP;
            RETURN ok;
        END $$;
        """

    /// The pgbench script (`many.sql`): 50 bookings of random doctors and slots per call.
    static let script = """
        \\set d random(1, 1000)
        \\set s random(0, 10000000)
        SELECT book_many(ARRAY(SELECT ((:d + g) % 1000) + 1 FROM generate_series(1, 50) g)::bigint[], ARRAY(SELECT timestamptz '2027-01-01' + ((:s + g * 7919) * interval '30 min') FROM generate_series(1, 50) g));

        """

    static func measure(databaseURL: String, clients: Int, seconds: Int) async throws -> Figures {
        guard let pgbench = IngressBench.which("pgbench") ?? ["/usr/lib/postgresql/15/bin/pgbench"].first(where: {
            FileManager.default.isExecutableFile(atPath: $0)
        }) else { throw failure("pgbench is not installed (Debian: postgresql-contrib / postgresql-15)") }
        let name = "carefleet_ceiling_\(UUID.random().canonical.prefix(8))"
        let scratchURL = try url(databaseURL, database: name)
        let admin = PostgresPool(url: databaseURL, maximumConnections: 1, applicationName: "fleet-bench-ceiling")
        defer { admin.close() }
        try await admin.query("CREATE DATABASE \(name)")
        do {
            let calls = try await callsPerSecond(pgbench: pgbench, databaseURL: scratchURL, clients: clients, seconds: seconds)
            try await admin.query("DROP DATABASE \(name) WITH (FORCE)")
            return Figures(
                clients: clients, seconds: seconds, bookingsPerCall: bookingsPerCall, callsPerSecond: calls,
                bookingsPerSecond: calls * Double(bookingsPerCall))
        } catch {
            _ = try? await admin.query("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
            throw error
        }
    }

    /// Sets the probe up in the (empty) database and runs pgbench on it: its transactions per second.
    static func callsPerSecond(pgbench: String, databaseURL: String, clients: Int, seconds: Int) async throws -> Double {
        let scratch = PostgresPool(url: databaseURL, maximumConnections: 1, applicationName: "fleet-bench-ceiling")
        defer { scratch.close() }
        try await scratch.withConnection { try await $0.execute(script: schema) }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("booking-ceiling-\(UUID.random().canonical).sql")
        try Data(script.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        // A count of calls, not `-T`: pgbench ends a timed run on SIGALRM, which a child of this
        // process inherits blocked, so a timed run never ends. A short run sizes the real one.
        func run(callsPerClient: Int) throws -> Double {
            let output = try IngressBench.output(
                of: pgbench,
                ["-n", "-c", String(clients), "-j", String(min(clients, 2)), "-t", String(callsPerClient), "-f", file.path, databaseURL],
                environment: [:])
            guard let line = output.split(separator: "\n").first(where: { $0.hasPrefix("tps = ") }),
                let calls = Double(line.dropFirst("tps = ".count).prefix(while: { $0.isNumber || $0 == "." }))
            else { throw failure("pgbench printed no tps:\n\(output)") }
            return calls
        }
        let sizing = try run(callsPerClient: 5)
        return try run(callsPerClient: max(5, Int(sizing * Double(seconds) / Double(max(1, clients)))))
    }

    /// `databaseURL` with another database name.
    static func url(_ databaseURL: String, database: String) throws -> String {
        guard var components = URLComponents(string: databaseURL), components.host != nil else {
            throw failure("database.url '\(databaseURL)' is not a postgres:// URL")
        }
        components.path = "/" + database
        guard let url = components.string else { throw failure("cannot name database \(database) in \(databaseURL)") }
        return url
    }
}
