import Foundation

/// One session with PostgreSQL. Queries take SQL with `$1…$n` placeholders and the values
/// separately; there is no API that puts a value into SQL text.
///
/// A connection runs one statement at a time; use it from one task (the pool lends it so).
public final class PostgresConnection: Sendable {
    let handle: LibPQConnection

    init(handle: LibPQConnection) {
        self.handle = handle
    }

    /// Connects to a `postgres://user:password@host:port/database?…` URL.
    public static func connect(url: String, applicationName: String = "carefleet") async throws(PostgresError)
        -> PostgresConnection
    {
        let queue = DispatchQueue(label: "carefleet.postgres.connect")
        let result = await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: LibPQConnection.connect(url: url, applicationName: applicationName)) }
        }
        return PostgresConnection(handle: try result.get())
    }

    /// Runs one statement. `parameters[i]` is `$<i+1>`.
    @discardableResult
    public func query(_ sql: String, _ parameters: [any PostgresBindable] = []) async throws(PostgresError)
        -> PostgresRows
    {
        let values = parameters.map(\.postgresParameter)
        let handle = self.handle
        return try await withCheckedContinuation { continuation in
            handle.queue.async { continuation.resume(returning: handle.execute(sql, values)) }
        }.get()
    }

    /// Runs a script of several statements without parameters (migrations, `BEGIN`, `COMMIT`).
    @discardableResult
    public func execute(script sql: String) async throws(PostgresError) -> PostgresRows {
        let handle = self.handle
        return try await withCheckedContinuation { continuation in
            handle.queue.async { continuation.resume(returning: handle.executeScript(sql)) }
        }.get()
    }

    /// Runs `body` in a transaction: committed when it returns, rolled back when it throws.
    @discardableResult
    public func transaction<R: Sendable>(
        isolation: TransactionIsolation = .readCommitted, _ body: (PostgresConnection) async throws -> R
    ) async throws -> R {
        try await execute(script: "BEGIN ISOLATION LEVEL \(isolation.sql)")
        let value: R
        do {
            value = try await body(self)
        } catch {
            if handle.isConnected { _ = try? await execute(script: "ROLLBACK") }
            throw error
        }
        try await execute(script: "COMMIT")
        return value
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
