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
        self.queue = DispatchQueue(label: label)
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

    /// Runs one statement with parameters (extended protocol). Blocking.
    func execute(_ sql: String, _ parameters: [PostgresParameter]) -> Result<PostgresRows, PostgresError> {
        if let refusal = Self.refuseNUL(sql: sql, parameters) { return .failure(refusal) }
        if closed.load(ordering: .acquiring) { return .failure(Self.closedError) }
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
        defer { for buffer in buffers { free(buffer) } }
        let values = buffers.map { $0.map { UnsafePointer<CChar>($0.assumingMemoryBound(to: CChar.self)) } }
        let count = Int32(parameters.count)
        switch statement(for: sql, parameterCount: count) {
        case .success(let name?):
            let outcome = read(PQexecPrepared(conn, name, count, values, lengths, formats, 0))
            // A table under the statement changed its columns (a migration during a rolling
            // upgrade): the server will not run the old statement again. Forget it; outside a
            // transaction, run the SQL afresh at once (inside one, the caller's retry does).
            guard case .failure(let error) = outcome, error.sqlState == "0A000" else { return outcome }
            prepared[sql] = nil
            guard PQtransactionStatus(conn) == PQTRANS_IDLE else { return outcome }
            return read(PQexecParams(conn, sql, count, nil, values, lengths, formats, 0))
        case .success(nil):
            return read(PQexecParams(conn, sql, count, nil, values, lengths, formats, 0))
        case .failure(let error):
            return .failure(error)
        }
    }

    /// The name of `sql` prepared on this connection (preparing it the first time); nil when too
    /// many are prepared already. A statement the server refuses to prepare fails here with the
    /// server's error, as it would have failed to run.
    private func statement(for sql: String, parameterCount: Int32) -> Result<String?, PostgresError> {
        if let name = prepared[sql] { return .success(name) }
        guard prepared.count < Self.maximumPrepared else { return .success(nil) }
        preparedNames += 1
        let name = "carefleet_\(preparedNames)"
        switch read(PQprepare(conn, name, sql, parameterCount, nil)) {
        case .success:
            prepared[sql] = name
            return .success(name)
        case .failure(let error):
            return .failure(error)
        }
    }

    /// Runs one or more `;`-separated statements without parameters (simple protocol). Blocking.
    func executeScript(_ sql: String) -> Result<PostgresRows, PostgresError> {
        if let refusal = Self.refuseNUL(sql: sql, []) { return .failure(refusal) }
        if closed.load(ordering: .acquiring) { return .failure(Self.closedError) }
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

/// Lends a `const char * const *` of NUL-terminated copies of `strings` for the closure's duration.
private func withCStringArray<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    let copies = strings.map { UnsafePointer<CChar>(strdup($0)) }
    defer { for copy in copies { free(UnsafeMutablePointer(mutating: copy)) } }
    return (copies + [nil]).withUnsafeBufferPointer { buffer in
        body(buffer.baseAddress!)  // an array literal always has storage
    }
}
