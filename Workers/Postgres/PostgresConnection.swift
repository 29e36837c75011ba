import Foundation
import Logging

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
        let queue = DispatchQueue(label: "carefleet.postgres.connect")
        let result = await withCheckedContinuation { continuation in
            queue.async {
                continuation.resume(
                    returning: LibPQConnection.connect(
                        url: url, applicationName: applicationName, statementTimeout: statementTimeout))
            }
        }
        return PostgresConnection(handle: try result.get(), logger: logger)
    }

    /// Runs one statement. `parameters[i]` is `$<i+1>`.
    @discardableResult
    public func query(_ sql: String, _ parameters: [any PostgresBindable] = []) async throws(PostgresError)
        -> PostgresRows
    {
        var values: [PostgresParameter] = []
        values.reserveCapacity(parameters.count)
        for parameter in parameters { values.append(try parameter.postgresParameter) }
        let handle = self.handle
        let encoded = values
        return try await run { handle.execute(sql, encoded) }
    }

    /// Runs a script of several statements without parameters (migrations, `BEGIN`, `COMMIT`).
    @discardableResult
    public func execute(script sql: String) async throws(PostgresError) -> PostgresRows {
        let handle = self.handle
        return try await run { handle.executeScript(sql) }
    }

    /// Runs blocking libpq work on the connection's queue; a cancelled task sends a cancel request.
    private func run(_ work: @escaping @Sendable () -> Result<PostgresRows, PostgresError>) async throws(PostgresError)
        -> PostgresRows
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
            // PQcancel opens a connection of its own and waits for it: not on the cooperative pool.
            DispatchQueue.global().async { handle.requestCancel() }
        }.get()
    }

    /// Runs `body` in a transaction: committed when it returns, rolled back when it throws.
    ///
    /// When the ROLLBACK itself fails (the connection broke, or a cancel request hit it), the
    /// connection is closed, which makes the server roll back, and is never lent again; the
    /// error of `body` is what is thrown.
    @discardableResult
    public func transaction<R: Sendable>(
        isolation: TransactionIsolation = .readCommitted, _ body: (PostgresConnection) async throws -> R
    ) async throws -> R {
        try await execute(script: "BEGIN ISOLATION LEVEL \(isolation.sql)")
        let value: R
        do {
            value = try await body(self)
        } catch {
            await rollBackOrClose()
            throw error
        }
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
