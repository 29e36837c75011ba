import ArgumentParser
import Clinic
import Contracts
import FleetConfiguration
import Foundation
import Postgres

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The ingress's routes under load (wrk), each beside the HTTP ceiling of this machine measured
/// in the same run: a Hummingbird hello-world (`http-ceiling`, built with the package).
struct IngressBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingress",
        abstract: "Requests per second and latency of the ingress's routes, beside a Hummingbird hello-world in the same run.",
        discussion: """
            Sets up a tenant of its own (its first admin through the identity store, as `fleet seed` \
            does; doctors through the API), then drives POST /v1/appointments, GET /v1/auth/me, \
            GET /v1/doctors/{id}/slots and GET /health/live with wrk, and GET / of http-ceiling \
            (started here, on a free port). Start the fleet first (scripts/local up; use a release \
            build for figures that mean something). wrk comes with scripts/bootstrap.
            """)

    @OptionGroup var global: GlobalOptions
    @Option(help: "The ingress.") var url = "http://127.0.0.1:8080"
    @Option(help: "Seconds of load per route.") var duration = 10
    @Option(help: "Connections for every route but the slots (which takes --slot-connections).") var connections = 64
    @Option(help: "Connections for the slots route.") var slotConnections = 16
    @Option(help: "wrk threads.") var threads = 2
    @Option(help: "Where to keep the figures as JSON.") var json: String?

    func validate() throws {
        try OptionCheck.atLeast(1, duration, "--duration")
        try OptionCheck.atLeast(1, threads, "--threads")
        // wrk gives each thread its share of the connections.
        try OptionCheck.atLeast(threads, connections, "--connections")
        try OptionCheck.atLeast(threads, slotConnections, "--slot-connections")
    }

    struct Figure: Codable {
        var route: String
        var connections: Int
        var requestsPerSecond: Double
        var p50Milliseconds: Double
        var p99Milliseconds: Double
        var failedResponses: Int
        var ratioToCeiling: Double?
        var target: String
        var met: Bool
    }

    struct Result: Codable {
        var benchmark = "ingress"
        var durationSeconds: Int
        var ceiling: Figure
        var routes: [Figure]
        var measuredAt: String
    }

    func run() async throws {
        let config = try global.load()
        let scripts = try Self.scriptsDirectory()
        let ceilingBinary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
            .appendingPathComponent("http-ceiling").path
        guard FileManager.default.isExecutableFile(atPath: ceilingBinary) else {
            throw failure("no http-ceiling next to fleet (\(ceilingBinary)): swift build -c release --product http-ceiling")
        }
        guard let wrk = Self.which("wrk") else { throw failure("wrk is not installed: run scripts/bootstrap") }

        let setup = try await BenchClinic.make(config: config, ingress: url)
        FileHandle.standardError.write(Data("bench: tenant \(setup.tenant.uuidString.lowercased()), doctors \(setup.doctors.count)\n".utf8))

        let port = try Self.freePort()
        let ceilingProcess = try Self.start(ceilingBinary, [String(port)])
        defer { ceilingProcess.terminate() }
        try await Self.waitUntilAnswering("http://127.0.0.1:\(port)/")

        let day = String(WireCoding.formatTimestamp(Date().addingTimeInterval(2 * 86400)).prefix(10))
        let baseEpoch = Int((Date().timeIntervalSince1970 / 86400).rounded(.down) + 2) * 86400
        func load(_ name: String, _ target: String, connections: Int, script: String? = nil, environment: [String: String] = [:])
            throws -> WrkFigures
        {
            func arguments(seconds: Int) -> [String] {
                var arguments = ["-t\(threads)", "-c\(connections)", "-d\(seconds)s", "--latency"]
                if let script { arguments += ["-s", "\(scripts)/\(script)"] }
                return arguments + [target]
            }
            FileHandle.standardError.write(Data("bench: \(name) (\(connections) connections, 1 s warm-up, \(duration) s)\n".utf8))
            // Measured warm: the first requests of a route pay one-time costs (the ingress's first
            // produce to a topic fetches its metadata and producer id; caches fill), which under
            // load took longer than wrk's 2 s timeout and left a short run with no answer at all.
            // So the warm-up goes on (up to warmUpLimit seconds) until the route has answered.
            for _ in 0..<Self.warmUpLimit {
                let warmUp = try WrkFigures(parsing: try Self.output(of: wrk, arguments(seconds: 1), environment: environment))
                if warmUp.requestsPerSecond > 0 { break }
            }
            let figures = try WrkFigures(parsing: try Self.output(of: wrk, arguments(seconds: duration), environment: environment))
            guard figures.requestsPerSecond == 0 else { return figures }
            // Not one answer in the whole run after the route had answered: a stall of the machine
            // (seen on a loaded CI host), or of the ingress. One more run tells which; it is said.
            FileHandle.standardError.write(Data("bench: \(name) answered nothing in \(duration) s; measuring it once more\n".utf8))
            return try WrkFigures(parsing: try Self.output(of: wrk, arguments(seconds: duration), environment: environment))
        }
        let ceiling = try load("GET / of http-ceiling", "http://127.0.0.1:\(port)/", connections: connections)
        var routes: [(String, Int, WrkFigures, target: String, check: (WrkFigures) -> Bool, ratio: Bool)] = []
        let live = try load("GET /health/live", "\(url)/health/live", connections: connections)
        routes.append(("GET /health/live", connections, live, "≥ 0.70 of ceiling", { $0.requestsPerSecond >= 0.7 * ceiling.requestsPerSecond }, true))
        let me = try load(
            "GET /v1/auth/me", url, connections: connections, script: "get.lua",
            environment: ["TOKEN": setup.patientToken, "PATH_TO_GET": "/v1/auth/me"])
        routes.append(("GET /v1/auth/me", connections, me, "≥ 0.40 of ceiling", { $0.requestsPerSecond >= 0.4 * ceiling.requestsPerSecond }, true))
        let slots = try load(
            "GET /v1/doctors/{id}/slots", url, connections: slotConnections, script: "get.lua",
            environment: ["TOKEN": setup.patientToken, "PATH_TO_GET": "/v1/doctors/\(setup.doctors[0])/slots?from=\(day)&to=\(day)"])
        routes.append(
            ("GET /v1/doctors/{id}/slots (one day)", slotConnections, slots, "≥ 5,000/s, p99 < 25 ms",
             { $0.requestsPerSecond >= 5_000 && $0.p99Milliseconds < 25 }, false))
        let book = try load(
            "POST /v1/appointments", url, connections: connections, script: "book.lua",
            environment: [
                "TOKEN": setup.patientToken, "DOCTORS": setup.doctors.map { $0.uuidString.lowercased() }.joined(separator: ","),
                "BASE_EPOCH": String(baseEpoch),
            ])
        routes.append(
            ("POST /v1/appointments (\(setup.doctors.count) doctors)", connections, book, "≥ 0.30 of ceiling, p99 < 25 ms",
             { $0.requestsPerSecond >= 0.3 * ceiling.requestsPerSecond && $0.p99Milliseconds < 25 }, true))

        func figure(_ route: String, _ connections: Int, _ figures: WrkFigures, target: String, met: Bool, ratio: Bool) -> Figure {
            Figure(
                route: route, connections: connections, requestsPerSecond: figures.requestsPerSecond,
                p50Milliseconds: figures.p50Milliseconds, p99Milliseconds: figures.p99Milliseconds,
                failedResponses: figures.failedResponses,
                ratioToCeiling: ratio ? figures.requestsPerSecond / max(1, ceiling.requestsPerSecond) : nil, target: target,
                met: met && figures.failedResponses == 0)
        }
        let result = Result(
            durationSeconds: duration,
            ceiling: figure("GET / (http-ceiling, Hummingbird hello-world)", connections, ceiling, target: "—", met: true, ratio: true),
            routes: routes.map { figure($0.0, $0.1, $0.2, target: $0.target, met: $0.check($0.2), ratio: $0.ratio) },
            measuredAt: WireCoding.formatTimestamp(Date()))
        var rows = [["ROUTE", "CONNS", "REQ/S", "P50 MS", "P99 MS", "NON-2XX", "RATIO", "TARGET", "MET"]]
        for row in [result.ceiling] + result.routes {
            rows.append([
                row.route, String(row.connections), String(format: "%.0f", row.requestsPerSecond), String(format: "%.2f", row.p50Milliseconds),
                String(format: "%.2f", row.p99Milliseconds), String(row.failedResponses),
                row.ratioToCeiling.map { String(format: "%.2f", $0) } ?? "—", row.target, row.met ? "yes" : "NO",
            ])
        }
        print(Table.render(rows))
        try BenchFigures.keep(result, bench: "ingress", measuredAt: result.measuredAt, at: json)
    }

    /// The longest warm-up of one route, in one-second wrk runs, before it is measured anyway.
    static let warmUpLimit = 15

    // MARK: - Processes

    static func scriptsDirectory() throws -> String {
        let fileManager = FileManager.default
        var candidates = [fileManager.currentDirectoryPath]
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        for _ in 0..<5 {
            url.deleteLastPathComponent()
            candidates.append(url.path)
        }
        for candidate in candidates where fileManager.fileExists(atPath: "\(candidate)/scripts/bench/book.lua") {
            return "\(candidate)/scripts/bench"
        }
        throw failure("scripts/bench/book.lua not found: run fleet from the project folder")
    }

    static func which(_ name: String) -> String? {
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let path = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    static func freePort() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw failure("no socket for a free port") }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) } }
        guard bound == 0 else { throw failure("cannot bind a free port") }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    static func start(_ executable: String, _ arguments: [String]) throws -> ChildProcess {
        try ChildProcess.start(executable, arguments, capture: false)
    }

    static func output(of executable: String, _ arguments: [String], environment: [String: String]) throws -> String {
        let (status, text) = try ChildProcess.start(executable, arguments, environment: environment, capture: true).waitForOutput()
        guard status == 0 else { throw failure("\(executable) \(arguments.joined(separator: " ")) failed (\(status)): \(text)") }
        return text
    }

    static func waitUntilAnswering(_ url: String) async throws {
        guard let target = URL(string: url) else { throw failure("bad URL \(url)") }
        for _ in 0..<100 {
            if let (_, response) = try? await URLSession.shared.data(from: target), (response as? HTTPURLResponse)?.statusCode == 200 {
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw failure("\(url) did not answer within 10 s")
    }
}

/// What wrk printed: requests per second, the latency distribution, failed answers.
struct WrkFigures: Sendable {
    var requestsPerSecond: Double
    var p50Milliseconds: Double
    var p99Milliseconds: Double
    var failedResponses: Int

    init(parsing text: String) throws {
        func milliseconds(_ value: Substring) -> Double? {
            let units: [(String, Double)] = [("us", 0.001), ("ms", 1), ("s", 1000), ("m", 60_000)]
            for (unit, factor) in units where value.hasSuffix(unit) {
                return Double(value.dropLast(unit.count)).map { $0 * factor }
            }
            return nil
        }
        var perSecond: Double?
        var p50: Double?
        var p99: Double?
        var failed = 0
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let first = fields.first else { continue }
            if first == "Requests/sec:", fields.count > 1 { perSecond = Double(fields[1]) }
            if first == "50%", fields.count > 1 { p50 = milliseconds(fields[1]) }
            if first == "99%", fields.count > 1 { p99 = milliseconds(fields[1]) }
            if line.contains("Non-2xx or 3xx responses:"), let last = fields.last { failed += Int(last) ?? 0 }
            if first == "Socket", line.contains("errors:") {
                // "Socket errors: connect 0, read 0, write 0, timeout 12"
                failed += line.split(separator: ",").compactMap { Int($0.split(separator: " ").last ?? "") }.reduce(0, +)
            }
        }
        guard let perSecond, let p50, let p99 else { throw failure("wrk printed no figures:\n\(text)") }
        requestsPerSecond = perSecond
        p50Milliseconds = p50
        p99Milliseconds = p99
        failedResponses = failed
    }
}

/// A clinic of the bench's own: a tenant and its first admin (through the identity store, as an
/// operator makes them), doctors working around the clock (through the API) and a patient.
struct BenchClinic: Sendable {
    var tenant: UUID
    var doctors: [UUID]
    /// Every bench patient with a signed-in token; the first is `patient`.
    var patients: [(id: UUID, token: String)]
    var patient: UUID { patients[0].id }
    var patientToken: String { patients[0].token }
    /// Every bench doctor's slot length.
    var slotSeconds: Double { 1800 }

    /// A tenant of its own: an admin and `patients` patients (accounts made through the identity
    /// store), and `doctors` doctors made through the API, working around the clock in UTC with
    /// 30-minute slots.
    static func make(config: FleetConfig, ingress: String, doctors doctorCount: Int = 2, patients patientCount: Int = 1) async throws
        -> BenchClinic
    {
        let pool = PostgresPool(url: try config.require("database.url"), maximumConnections: 1, applicationName: "fleet-bench")
        defer { pool.close() }
        let identity = PostgresIdentityStore(pool: pool)
        let tenant = try await identity.createTenant(Tenant(id: UUID(), name: "Bench clinic \(WireCoding.formatTimestamp(Date()))"))
        let password = OpaqueToken.generate()
        let hash = try await Passwords(cost: 4).hash(password)
        let stamp = UUID().uuidString.prefix(8).lowercased()
        let patientEmails = (0..<max(1, patientCount)).map { $0 == 0 ? "patient-\(stamp)@bench.invalid" : "patient-\($0)-\(stamp)@bench.invalid" }
        var patientIds: [UUID] = []
        for (email, role) in [("admin-\(stamp)@bench.invalid", Role.admin)] + patientEmails.map({ ($0, Role.patient) }) {
            let user = try await identity.createAccount(
                NewAccount(tenantId: tenant.id, email: email, passwordHash: hash, role: role, displayName: "Bench \(role.rawValue)", emailVerified: true),
                audit: AuditEntry("bench_account", tenant: tenant.id, user: nil))
            if role == .patient { patientIds.append(user.id) }
        }
        let api = BenchAPI(base: ingress)
        let admin = try await api.login("admin-\(stamp)@bench.invalid", password: password, tenant: tenant.id)
        var doctors: [UUID] = []
        for index in 0..<doctorCount {
            let created = try await api.post(
                "/v1/doctors",
                [
                    "email": "doctor-\(index)-\(stamp)@bench.invalid", "password": password, "displayName": "Bench doctor \(index)",
                    "timeZone": "UTC", "slotMinutes": 30, "minimumNoticeMinutes": 0, "horizonDays": 730,
                    "hours": (1...7).map { ["weekday": $0, "start": "00:00", "end": "24:00"] },
                ], token: admin)
            guard let id = (created["id"] as? String).flatMap(UUID.init(uuidString:)) else {
                throw failure("could not create a bench doctor: \(created)")
            }
            doctors.append(id)
        }
        var patients: [(id: UUID, token: String)] = []
        for (id, email) in zip(patientIds, patientEmails) {
            patients.append((id, try await api.login(email, password: password, tenant: tenant.id)))
        }
        return BenchClinic(tenant: tenant.id, doctors: doctors, patients: patients)
    }
}

/// JSON over HTTP to the ingress, for the benches' set-up.
struct BenchAPI: Sendable {
    let base: String

    /// The shared session opens at most 6 connections to a host (Foundation's default) and
    /// queues the rest: at 800 bookings/s requests waited in that queue until they timed out
    /// (URLError -1001), which the pipeline bench took for the fleet's limit.
    private static let session: URLSession = {
        let configuration = URLSessionConfiguration.default
        configuration.httpMaximumConnectionsPerHost = 64
        return URLSession(configuration: configuration)
    }()

    func post(_ path: String, _ body: [String: Any], token: String? = nil, headers: [String: String] = [:]) async throws -> [String: Any] {
        try await exchange(path, body, token: token, headers: headers).body
    }

    /// A POST's status and JSON answer (empty when the answer is not a JSON object).
    func exchange(
        _ path: String, _ body: [String: Any], token: String? = nil, headers: [String: String] = [:]
    ) async throws -> (status: Int, body: [String: Any]) {
        guard let url = URL(string: base + path) else { throw failure("bad URL \(base + path)") }
        var request = URLRequest(url: url)
        request.httpMethod = "POST"
        request.httpBody = try JSONSerialization.data(withJSONObject: body)
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        let (data, response) = try await Self.session.data(for: request)
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        return (status, (try? JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:])
    }

    func login(_ email: String, password: String, tenant: UUID) async throws -> String {
        let answer = try await post("/v1/auth/login", ["email": email, "password": password], headers: ["X-Tenant-Id": tenant.uuidString])
        guard let token = answer["accessToken"] as? String else { throw failure("could not sign in as \(email): \(answer)") }
        return token
    }
}
