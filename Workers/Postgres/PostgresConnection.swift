import BlockingCalls
import Foundation
import Logging
import Synchronization

/// One session with PostgreSQL. Queries take SQL with `$1…$n` placeholders and the values
/// separately; there is no API that puts a value into SQL text.
///
/// A connection runs one statement at a time; use it from one task (the pool lends it so).
/// Cancelling the task while it awaits a statement sends the server a cancel request (`PQcancel`):
/// the statement then fails with SQLSTATE 57014 (`isQueryCanceled`), and the connection is not
/// lent again by a pool (a late cancel request could hit a later statement).
public final class PostgresConnection: Sendable {
    let handle: LibPQConnection
    private let logger: Logger
    /// The `BEGIN` of a transaction whose body has not run a statement yet. It travels with the
    /// first statement, in one round trip (pipeline mode), instead of a round trip of its own.
    private let pendingBegin = Mutex<String?>(nil)

    init(handle: LibPQConnection, logger: Logger) {
        self.handle = handle
        self.logger = logger
    }

    /// Connects to a `postgres://user:password@host:port/database?…` URL. `statementTimeout`
    /// bounds every statement on the server (`statement_timeout`; nil: the server's setting).
    public static func connect(
        url: String, applicationName: String = "carefleet", statementTimeout: Duration? = nil,
        logger: Logger = Logger(label: "carefleet.postgres")
    ) async throws(PostgresError) -> PostgresConnection {
        let result = await BlockingCall.run("carefleet.postgres.connect") {
            LibPQConnection.connect(url: url, applicationName: applicationName, statementTimeout: statementTimeout)
        }
        return PostgresConnection(handle: try result.get(), logger: logger)
    }

    /// Runs one statement. `parameters[i]` is `$<i+1>`.
    @discardableResult
    public func query(_ sql: String, _ parameters: [any PostgresBindable] = []) async throws(PostgresError)
        -> PostgresRows
    {
        let encoded = try Self.encode(parameters)
        let handle = self.handle
        if let begin = pendingBegin.withLock({ $0.take() }) {
            return try await run {
                handle.pipeline([(begin, []), (sql, encoded)]).map { $0.last ?? PostgresRows(columns: [], cells: [], affectedRows: 0) }
            }
        }
        return try await run { handle.execute(sql, encoded) }
    }

    /// Runs `statements` in one round trip (libpq's pipeline mode), in order; answers their
    /// results in the same order. Outside a transaction they are one implicit transaction: all
    /// commit together at the end, or, when one fails, none does and its error is thrown. Inside
    /// `transaction`, they are part of it.
    ///
    /// Everything is sent before anything is read, so put the statement with a large result last.
    public func pipeline(_ statements: [(sql: String, parameters: [any PostgresBindable])]) async throws(PostgresError)
        -> [PostgresRows]
    {
        guard !statements.isEmpty else { return [] }
        var encoded: [(sql: String, parameters: [PostgresParameter])] = []
        encoded.reserveCapacity(statements.count + 1)
        for statement in statements { encoded.append((statement.sql, try Self.encode(statement.parameters))) }
        // Taken only once every parameter encoded: a pending BEGIN must not be lost to a throw.
        if let begin = pendingBegin.withLock({ $0.take() }) { encoded.insert((begin, []), at: 0) }
        let skip = encoded.count - statements.count
        let handle = self.handle
        let batch = encoded
        return try await run { handle.pipeline(batch).map { Array($0.dropFirst(skip)) } }
    }

    private static func encode(_ parameters: [any PostgresBindable]) throws(PostgresError) -> [PostgresParameter] {
        var values: [PostgresParameter] = []
        values.reserveCapacity(parameters.count)
        for parameter in parameters { values.append(try parameter.postgresParameter) }
        return values
    }

    /// Runs a script of several statements without parameters (migrations, `BEGIN`, `COMMIT`).
    @discardableResult
    public func execute(script sql: String) async throws(PostgresError) -> PostgresRows {
        let handle = self.handle
        // A script runs on the simple protocol, which a pipeline cannot carry: a pending BEGIN goes first.
        if let begin = pendingBegin.withLock({ $0.take() }) {
            _ = try await run { handle.executeScript(begin) }
        }
        return try await run { handle.executeScript(sql) }
    }

    /// Round trips this connection has made to the server (statements, prepares, pipelines).
    public var roundTrips: Int {
        get async {
            let handle = self.handle
            return await withCheckedContinuation { continuation in handle.queue.async { continuation.resume(returning: handle.roundTrips) } }
        }
    }

    /// Runs blocking libpq work on the connection's queue; a cancelled task sends a cancel request.
    private func run<Answer: Sendable>(_ work: @escaping @Sendable () -> Result<Answer, PostgresError>) async throws(PostgresError)
        -> Answer
    {
        let handle = self.handle
        // A statement a task starts after it was cancelled (clean-up) is its choice: let it run.
        let startedCancelled = Task.isCancelled
        return try await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                handle.queue.async { continuation.resume(returning: work()) }
            }
        } onCancel: {
            guard !startedCancelled else { return }
            // PQcancel opens a connection of its own and waits for it: not where tasks run.
            BlockingCall.start("carefleet.postgres.cancel") { handle.requestCancel() }
        }.get()
    }

    /// Runs `body` in a transaction: committed when it returns, rolled back when it throws.
    ///
    /// The `BEGIN` is sent with the body's first statement, in one round trip; a body that runs
    /// no statement costs none (there is nothing to commit or roll back).
    ///
    /// When the ROLLBACK itself fails (the connection broke, or a cancel request hit it), the
    /// connection is closed, which makes the server roll back, and is never lent again; the
    /// error of `body` is what is thrown.
    @discardableResult
    public func transaction<R: Sendable>(
        isolation: TransactionIsolation = .readCommitted, _ body: (PostgresConnection) async throws -> R
    ) async throws -> R {
        let begin = "BEGIN ISOLATION LEVEL \(isolation.sql)"
        let nested = pendingBegin.withLock { pending -> Bool in
            guard pending == nil else { return true }
            pending = begin
            return false
        }
        // A transaction opened inside another's body before any statement: the outer BEGIN is still to go.
        guard !nested else { return try await body(self) }
        let value: R
        do {
            value = try await body(self)
        } catch {
            if pendingBegin.withLock({ $0.take() }) == nil { await rollBackOrClose() }
            throw error
        }
        if pendingBegin.withLock({ $0.take() }) != nil { return value }  // no statement: nothing began
        try await execute(script: "COMMIT")
        return value
    }

    private func rollBackOrClose() async {
        if handle.isConnected {
            do {
                try await execute(script: "ROLLBACK")
                if handle.isReusable { return }
                logger.warning("connection not reusable after ROLLBACK; closing it")
            } catch {
                logger.warning("ROLLBACK failed; closing the connection", metadata: ["error": "\(error)"])
            }
        }
        await close()
    }

    /// Closes the connection; the server rolls back any transaction it had open. Idempotent.
    public func close() async {
        let handle = self.handle
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            handle.queue.async {
                handle.close()
                continuation.resume()
            }
        }
    }

    /// Whether the connection looks usable while idle (no statement running).
    public var isAlive: Bool { handle.isAlive }
}

public enum TransactionIsolation: Sendable {
    case readCommitted, repeatableRead, serializable

    var sql: String {
        switch self {
        case .readCommitted: "READ COMMITTED"
        case .repeatableRead: "REPEATABLE READ"
        case .serializable: "SERIALIZABLE"
        }
    }
}
