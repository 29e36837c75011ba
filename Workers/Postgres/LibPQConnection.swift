import BlockingCalls
import CLibPQ
import Dispatch
import Foundation
import Synchronization

/// Owns one libpq connection. Every libpq call on it runs on its own serial queue, never on
/// Swift's cooperative pool, because libpq calls block until the server answers.
final class LibPQConnection: @unchecked Sendable {  // the PGconn is only touched on `queue` (or while idle in the pool)
    private let conn: OpaquePointer
    /// libpq's cancel handle (`PQgetCancel`): thread-safe, usable while a statement runs.
    private let cancelHandle: OpaquePointer?
    let queue: DispatchQueue
    private let closed = Atomic<Bool>(false)
    /// Set once a cancel request was sent: a late one could hit a later statement, so such a
    /// connection is never lent again.
    private let cancelSent = Atomic<Bool>(false)
    /// Statements prepared on this connection, by their SQL text (only touched on `queue`). The
    /// same few statements run again and again on a connection (a route's reads, a worker's
    /// batch), so each is parsed once per connection instead of once per run.
    private var prepared: [String: String] = [:]
    private var preparedNames = 0
    /// Beyond this many, statements run unprepared (SQL built from input never fills the server's memory).
    static let maximumPrepared = 256

    private init(conn: OpaquePointer, label: String) {
        self.conn = conn
        self.cancelHandle = PQgetCancel(conn)
        // Serial, so on the overcommit pool: a statement that waits blocks no task (`BlockingCall`).
        self.queue = BlockingCall.queue(label)
    }

    deinit {
        if let cancelHandle { PQfreeCancel(cancelHandle) }
        if !closed.load(ordering: .acquiring) { PQfinish(conn) }
    }

    /// Connects (blocking: call from `queue`-like context only). Sessions speak UTC and ISO dates;
    /// `statementTimeout` (if any) bounds every statement on the server (`statement_timeout`).
    static func connect(url: String, applicationName: String, statementTimeout: Duration? = nil)
        -> Result<LibPQConnection, PostgresError>
    {
        var options = "-c TimeZone=UTC -c DateStyle=ISO,MDY -c IntervalStyle=iso_8601"
        if let statementTimeout {
            // Whole milliseconds, at least 1: 0 would mean no timeout at all.
            let (seconds, attoseconds) = statementTimeout.components
            options += " -c statement_timeout=\(max(1, seconds * 1000 + attoseconds / 1_000_000_000_000_000))"
        }
        let keywords = ["dbname", "options", "application_name", "connect_timeout"]
        let values = [url, options, applicationName, "10"]
        let conn = withCStringArray(keywords) { keywordPointers in
            withCStringArray(values) { valuePointers in
                PQconnectdbParams(keywordPointers, valuePointers, 1)
            }
        }
        guard let conn else { return .failure(PostgresError(kind: .connection, message: "out of memory")) }
        guard PQstatus(conn) == CONNECTION_OK else {
            let message = String(cString: PQerrorMessage(conn)).trimmingCharacters(in: .whitespacesAndNewlines)
            PQfinish(conn)
            return .failure(PostgresError(kind: .connection, message: message))
        }
        // Notices ("relation already exists, skipping") would go to stderr; they are not errors.
        PQsetNoticeProcessor(conn, { _, _ in }, nil)
        return .success(LibPQConnection(conn: conn, label: "carefleet.postgres.\(applicationName)"))
    }

    /// True when the connection looks usable. Called while the connection is idle: any bytes
    /// waiting on an idle socket are an error notice or the server closing it (e.g. a restart).
    var isAlive: Bool {
        guard isConnected else { return false }
        var descriptor = pollfd(fd: PQsocket(conn), events: Int16(POLLIN), revents: 0)
        return poll(&descriptor, 1, 0) == 0
    }

    /// False once libpq has seen the connection break, or once it was closed.
    var isConnected: Bool { !closed.load(ordering: .acquiring) && PQstatus(conn) == CONNECTION_OK }

    /// True when the connection can be lent again as it is: connected, outside any transaction
    /// (not in one, not in a failed one, no statement running) and never sent a cancel request.
    var isReusable: Bool {
        isConnected && PQtransactionStatus(conn) == PQTRANS_IDLE && !cancelSent.load(ordering: .acquiring)
    }

    /// Closes the connection now (the server rolls back whatever transaction it had open).
    /// Call on `queue`. Idempotent.
    func close() {
        if !closed.exchange(true, ordering: .acquiringAndReleasing) { PQfinish(conn) }
    }

    /// Asks the server to cancel the statement running on this connection (blocking: it opens a
    /// connection of its own). Safe from any thread. Marks the connection as not reusable.
    func requestCancel() {
        // Only the cancel handle is touched here: it is independent of the PGconn the queue uses.
        guard let cancelHandle, !closed.load(ordering: .acquiring) else { return }
        cancelSent.store(true, ordering: .releasing)
        var errorText = [CChar](repeating: 0, count: 256)
        _ = PQcancel(cancelHandle, &errorText, Int32(errorText.count))  // a failed request changes nothing: the statement runs on
    }

    /// Round trips to the server so far (a statement, a prepare, a pipeline): what pipelining saves
    /// is counted here, for tests and profiles.
    private(set) var roundTrips = 0

    /// Runs one statement with parameters (extended protocol). Blocking.
    func execute(_ sql: String, _ parameters: [PostgresParameter]) -> Result<PostgresRows, PostgresError> {
        if let refusal = Self.refuseNUL(sql: sql, parameters) { return .failure(refusal) }
        if closed.load(ordering: .acquiring) { return .failure(Self.closedError) }
        let encoded = EncodedParameters(parameters)
        defer { encoded.free() }
        let count = Int32(parameters.count)
        let (values, lengths, formats) = (encoded.values, encoded.lengths, encoded.formats)
        switch statement(for: sql, parameterCount: count) {
        case .success(let name?):
            roundTrips += 1
            let outcome = read(PQexecPrepared(conn, name, count, values, lengths, formats, 0))
            // A table under the statement changed its columns (a migration during a rolling
            // upgrade): the server will not run the old statement again. Forget it; outside a
            // transaction, run the SQL afresh at once (inside one, the caller's retry does).
            guard case .failure(let error) = outcome, error.sqlState == "0A000" else { return outcome }
            prepared[sql] = nil
            guard PQtransactionStatus(conn) == PQTRANS_IDLE else { return outcome }
            roundTrips += 1
            return read(PQexecParams(conn, sql, count, nil, values, lengths, formats, 0))
        case .success(nil):
            roundTrips += 1
            return read(PQexecParams(conn, sql, count, nil, values, lengths, formats, 0))
        case .failure(let error):
            return .failure(error)
        }
    }

    /// Runs `statements` in one round trip (libpq's pipeline mode): all are sent, then one sync,
    /// then every result is read, in order. The server runs them one after another as if sent
    /// singly; after the first that fails it skips the rest (`PGRES_PIPELINE_ABORTED`) up to the
    /// sync, and that first error is what this answers. Blocking.
    ///
    /// Statements with parameters run prepared; one not prepared yet on this connection is
    /// prepared in the same pipeline. Meant for a few statements whose results are small until
    /// the last (everything is sent before anything is read: the server must not block writing).
    func pipeline(_ statements: [(sql: String, parameters: [PostgresParameter])]) -> Result<[PostgresRows], PostgresError> {
        for statement in statements {
            if let refusal = Self.refuseNUL(sql: statement.sql, statement.parameters) { return .failure(refusal) }
        }
        if closed.load(ordering: .acquiring) { return .failure(Self.closedError) }
        guard PQenterPipelineMode(conn) == 1 else { return .failure(connectionError()) }
        roundTrips += 1
        /// What each result the server sends back answers, in order.
        enum Expected {
            case prepare(sql: String, name: String)
            case statement(sql: String, name: String?)
        }
        var expected: [Expected] = []
        var preparing: [String: String] = [:]  // SQL → name, prepared in this pipeline
        for statement in statements {
            let count = Int32(statement.parameters.count)
            var name: String?
            if count > 0 {
                name = prepared[statement.sql] ?? preparing[statement.sql]
                if name == nil, prepared.count + preparing.count < Self.maximumPrepared {
                    let fresh = nextStatementName()
                    guard PQsendPrepare(conn, fresh, statement.sql, count, nil) == 1 else { break }
                    expected.append(.prepare(sql: statement.sql, name: fresh))
                    preparing[statement.sql] = fresh
                    name = fresh
                }
            }
            let encoded = EncodedParameters(statement.parameters)
            defer { encoded.free() }
            let accepted =
                if let name {
                    PQsendQueryPrepared(conn, name, count, encoded.values, encoded.lengths, encoded.formats, 0)
                } else {
                    PQsendQueryParams(conn, statement.sql, count, nil, encoded.values, encoded.lengths, encoded.formats, 0)
                }
            guard accepted == 1 else { break }
            expected.append(.statement(sql: statement.sql, name: name))
        }
        // Even after a failed send the sync goes out, so what was sent is answered and the
        // connection leaves pipeline mode in step with the server.
        let synced = PQpipelineSync(conn) == 1
        var rows: [PostgresRows] = []
        var firstFailure: PostgresError?
        for entry in expected {
            guard let result = PQgetResult(conn) else {
                firstFailure = firstFailure ?? connectionError()
                break
            }
            let outcome: Result<PostgresRows, PostgresError>
            if PQresultStatus(result) == PGRES_PIPELINE_ABORTED {
                PQclear(result)
                outcome = .failure(PostgresError(kind: .server, message: "not run: an earlier statement of its pipeline failed"))
            } else {
                outcome = read(result)
            }
            switch (entry, outcome) {
            case (.prepare(let sql, let name), .success): prepared[sql] = name
            case (.prepare, .failure(let error)): firstFailure = firstFailure ?? error
            case (.statement, .success(let answer)): rows.append(answer)
            case (.statement(let sql, let name), .failure(let error)):
                // As in `execute`: a statement the server will not run again is forgotten.
                if error.sqlState == "0A000", name != nil { prepared[sql] = nil }
                firstFailure = firstFailure ?? error
            }
            // Each result ends with a NULL.
            while let extra = PQgetResult(conn) { PQclear(extra) }
        }
        if synced, PQstatus(conn) == CONNECTION_OK {
            // The sync's own result; then pipeline mode can end.
            while let result = PQgetResult(conn) {
                let status = PQresultStatus(result)
                PQclear(result)
                if status == PGRES_PIPELINE_SYNC { break }
            }
        }
        if PQexitPipelineMode(conn) != 1 {
            // Out of step with the server: this connection must not be lent again.
            close()
            return .failure(firstFailure ?? connectionError())
        }
        if let firstFailure { return .failure(firstFailure) }
        guard rows.count == statements.count else { return .failure(connectionError()) }
        return .success(rows)
    }

    /// The name of `sql` prepared on this connection (preparing it the first time); nil when too
    /// many are prepared already. A statement the server refuses to prepare fails here with the
    /// server's error, as it would have failed to run.
    private func statement(for sql: String, parameterCount: Int32) -> Result<String?, PostgresError> {
        if let name = prepared[sql] { return .success(name) }
        guard prepared.count < Self.maximumPrepared else { return .success(nil) }
        let name = nextStatementName()
        roundTrips += 1
        switch read(PQprepare(conn, name, sql, parameterCount, nil)) {
        case .success:
            prepared[sql] = name
            return .success(name)
        case .failure(let error):
            return .failure(error)
        }
    }

    /// A statement name not used before on this connection.
    private func nextStatementName() -> String {
        preparedNames += 1
        return "carefleet_\(preparedNames)"
    }

    /// Runs one or more `;`-separated statements without parameters (simple protocol). Blocking.
    func executeScript(_ sql: String) -> Result<PostgresRows, PostgresError> {
        if let refusal = Self.refuseNUL(sql: sql, []) { return .failure(refusal) }
        if closed.load(ordering: .acquiring) { return .failure(Self.closedError) }
        roundTrips += 1
        return read(PQexec(conn, sql))
    }

    private static let closedError = PostgresError(kind: .connection, message: "connection closed")

    /// libpq takes text as NUL-terminated C strings: a NUL inside would silently end the value
    /// (or the statement) there. Such text is refused, naming the parameter but not its value.
    static func refuseNUL(sql: String, _ parameters: [PostgresParameter]) -> PostgresError? {
        if sql.utf8.contains(0) {
            return PostgresError(kind: .parameter, message: "the SQL text contains a NUL byte")
        }
        for (index, parameter) in parameters.enumerated() {
            if case .text(let text) = parameter, text.utf8.contains(0) {
                return PostgresError(
                    kind: .parameter,
                    message: "parameter $\(index + 1) contains a NUL byte, which libpq would cut off there")
            }
        }
        return nil
    }

    private func read(_ result: OpaquePointer?) -> Result<PostgresRows, PostgresError> {
        guard let result else { return .failure(connectionError()) }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
            let rowCount = Int(PQntuples(result))
            let columnCount = Int(PQnfields(result))
            let columns = (0..<columnCount).map { String(cString: PQfname(result, Int32($0))) }
            var cells: [[String?]] = []
            cells.reserveCapacity(rowCount)
            for row in 0..<Int32(rowCount) {
                var values: [String?] = []
                values.reserveCapacity(columnCount)
                for column in 0..<Int32(columnCount) {
                    values.append(
                        PQgetisnull(result, row, column) == 1 ? nil : String(cString: PQgetvalue(result, row, column)))
                }
                cells.append(values)
            }
            let affected = Int(String(cString: PQcmdTuples(result))) ?? 0
            return .success(PostgresRows(columns: columns, cells: cells, affectedRows: affected))
        default:
            func field(_ code: Character) -> String? {
                guard let ascii = code.asciiValue, let value = PQresultErrorField(result, Int32(ascii)) else {
                    return nil
                }
                return String(cString: value)
            }
            let sqlState = field("C")
            if sqlState == nil, PQstatus(conn) != CONNECTION_OK { return .failure(connectionError()) }
            let kind: PostgresError.Kind = PQstatus(conn) == CONNECTION_OK ? .server : .connection
            let message =
                field("M")
                ?? String(cString: PQresultErrorMessage(result)).trimmingCharacters(in: .whitespacesAndNewlines)
            return .failure(
                PostgresError(
                    kind: kind, sqlState: sqlState, message: message, detail: field("D"), constraint: field("n"),
                    schema: field("s"), table: field("t"), column: field("c")))
        }
    }

    private func connectionError() -> PostgresError {
        let message = String(cString: PQerrorMessage(conn)).trimmingCharacters(in: .whitespacesAndNewlines)
        return PostgresError(kind: .connection, message: message.isEmpty ? "connection lost" : message)
    }
}

/// Parameters as libpq takes them: one C buffer per value (nil for NULL), with lengths and
/// formats (text, or binary for bytes). Freed by the caller with `free()`.
private struct EncodedParameters {
    let buffers: [UnsafeMutableRawPointer?]
    let lengths: [Int32]
    let formats: [Int32]

    init(_ parameters: [PostgresParameter]) {
        var buffers: [UnsafeMutableRawPointer?] = []
        var lengths: [Int32] = []
        var formats: [Int32] = []
        buffers.reserveCapacity(parameters.count)
        for parameter in parameters {
            switch parameter {
            case .null:
                buffers.append(nil)
                lengths.append(0)
                formats.append(0)
            case .text(let text):
                buffers.append(UnsafeMutableRawPointer(strdup(text)))
                lengths.append(0)
                formats.append(0)
            case .binary(let data):
                let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(1, data.count), alignment: 1)
                data.copyBytes(to: buffer.assumingMemoryBound(to: UInt8.self), count: data.count)
                buffers.append(buffer)
                lengths.append(Int32(data.count))
                formats.append(1)
            }
        }
        self.buffers = buffers
        self.lengths = lengths
        self.formats = formats
    }

    var values: [UnsafePointer<CChar>?] { buffers.map { $0.map { UnsafePointer<CChar>($0.assumingMemoryBound(to: CChar.self)) } } }

    func free() {
        for buffer in buffers { Foundation.free(buffer) }
    }
}

/// Lends a `const char * const *` of NUL-terminated copies of `strings` for the closure's duration.
private func withCStringArray<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    let copies = strings.map { UnsafePointer<CChar>(strdup($0)) }
    defer { for copy in copies { free(UnsafeMutablePointer(mutating: copy)) } }
    return (copies + [nil]).withUnsafeBufferPointer { buffer in
        body(buffer.baseAddress!)  // an array literal always has storage
    }
}
