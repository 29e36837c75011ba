import Foundation
import Logging
import Synchronization

/// A pool of at most `maximumConnections` connections to one database. A connection found
/// broken (e.g. after a server restart) is dropped and replaced by a new one.
public final class PostgresPool: Sendable {
    public let url: String
    public let maximumConnections: Int
    /// Every statement on the pool's connections is cancelled by the server after this long
    /// (`statement_timeout`, SQLSTATE 57014); nil leaves the server's setting.
    public let statementTimeout: Duration?
    private let applicationName: String
    private let logger: Logger
    private let state = Mutex(State())

    private struct State {
        var idle: [PostgresConnection] = []
        var open = 0
        var waiters: [(id: UInt64, continuation: CheckedContinuation<PostgresConnection, any Error>)] = []
        var nextWaiterId: UInt64 = 0
        var closed = false
    }

    public init(
        url: String, maximumConnections: Int = 10, applicationName: String = "carefleet",
        statementTimeout: Duration? = nil,
        logger: Logger? = nil
    ) {
        self.url = url
        self.maximumConnections = max(1, maximumConnections)
        self.statementTimeout = statementTimeout
        self.applicationName = applicationName
        self.logger = logger ?? Logger(label: "carefleet.postgres")
    }

    /// Lends one connection to `body` for its whole duration.
    @discardableResult
    public func withConnection<R: Sendable>(_ body: (PostgresConnection) async throws -> R) async throws -> R {
        let connection = try await acquire()
        do {
            let value = try await body(connection)
            release(connection)
            return value
        } catch {
            release(connection)
            throw error
        }
    }

    /// Runs one statement on any connection.
    @discardableResult
    public func query(_ sql: String, _ parameters: [any PostgresBindable] = []) async throws -> PostgresRows {
        try await withConnection { try await $0.query(sql, parameters) }
    }

    /// Runs `statements` on any connection in one round trip, as one transaction (see
    /// `PostgresConnection.pipeline`).
    @discardableResult
    public func pipeline(_ statements: [(sql: String, parameters: [any PostgresBindable])]) async throws -> [PostgresRows] {
        try await withConnection { try await $0.pipeline(statements) }
    }

    /// Runs `body` in one transaction: committed when it returns, rolled back when it throws.
    @discardableResult
    public func transaction<R: Sendable>(
        isolation: TransactionIsolation = .readCommitted, _ body: (PostgresConnection) async throws -> R
    ) async throws -> R {
        try await withConnection { try await $0.transaction(isolation: isolation, body) }
    }

    /// Closes idle connections and fails waiters; connections in use close when returned.
    public func close() {
        let (idle, waiters) = state.withLock { state in
            state.closed = true
            defer {
                state.idle = []
                state.waiters = []
            }
            state.open -= state.idle.count
            return (state.idle, state.waiters)
        }
        _ = idle
        for waiter in waiters {
            waiter.continuation.resume(throwing: PostgresError(kind: .pool, message: "pool closed"))
        }
    }

    // MARK: - Lending

    private enum Acquisition {
        case idle(PostgresConnection)
        case connect
        case wait
        case closed
    }

    private func acquire() async throws -> PostgresConnection {
        while true {
            let step: Acquisition = state.withLock { state in
                if state.closed { return .closed }
                if let connection = state.idle.popLast() { return .idle(connection) }
                if state.open < maximumConnections {
                    state.open += 1
                    return .connect
                }
                return .wait
            }
            switch step {
            case .closed:
                throw PostgresError(kind: .pool, message: "pool closed")
            case .idle(let connection):
                if connection.isAlive { return connection }
                logger.info("dropping a broken idle PostgreSQL connection")
                state.withLock { $0.open -= 1 }
                continue
            case .connect:
                return try await openConnection()
            case .wait:
                return try await waitForConnection()
            }
        }
    }

    private func openConnection() async throws -> PostgresConnection {
        do {
            return try await PostgresConnection.connect(
                url: url, applicationName: applicationName, statementTimeout: statementTimeout, logger: logger)
        } catch {
            state.withLock { $0.open -= 1 }
            handOnCapacity()
            throw error
        }
    }

    private func waitForConnection() async throws -> PostgresConnection {
        let id = state.withLock { state in
            state.nextWaiterId += 1
            return state.nextWaiterId
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let registered = state.withLock { state in
                    if state.closed || Task.isCancelled { return false }
                    state.waiters.append((id, continuation))
                    return true
                }
                if !registered {
                    continuation.resume(throwing: PostgresError(kind: .pool, message: "cancelled or closed"))
                } else {
                    // A connection may have come back between our first look and registering.
                    handOnCapacity()
                }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<PostgresConnection, any Error>? in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: index).continuation
            }
            waiter?.resume(throwing: CancellationError())
        }
    }

    /// Takes a connection back. Only one that is connected and outside any transaction is lent
    /// again: one left inside a (failed) transaction, or that was sent a cancel request, is
    /// closed, so the server rolls its transaction back and no later borrower inherits it.
    private func release(_ connection: PostgresConnection) {
        let healthy = connection.handle.isReusable
        if !healthy, connection.handle.isConnected {
            logger.warning("closing a PostgreSQL connection returned inside a transaction or after a cancel")
            let handle = connection.handle
            handle.queue.async { handle.close() }
        }
        let waiter = state.withLock { state -> CheckedContinuation<PostgresConnection, any Error>? in
            guard healthy, !state.closed else {
                state.open -= 1
                return nil
            }
            if !state.waiters.isEmpty { return state.waiters.removeFirst().continuation }
            state.idle.append(connection)
            return nil
        }
        if let waiter {
            waiter.resume(returning: connection)
        } else if !healthy {
            handOnCapacity()
        }
    }

    /// Serves a waiter from an idle connection or a free slot, after a connection was dropped
    /// or a waiter registered late.
    private func handOnCapacity() {
        enum Hand {
            case idle(PostgresConnection, CheckedContinuation<PostgresConnection, any Error>)
            case connect(CheckedContinuation<PostgresConnection, any Error>)
            case nothing
        }
        let hand: Hand = state.withLock { state in
            guard !state.closed, !state.waiters.isEmpty else { return .nothing }
            if let connection = state.idle.popLast() {
                return .idle(connection, state.waiters.removeFirst().continuation)
            }
            if state.open < maximumConnections {
                state.open += 1
                return .connect(state.waiters.removeFirst().continuation)
            }
            return .nothing
        }
        switch hand {
        case .nothing:
            return
        case .idle(let connection, let waiter):
            waiter.resume(returning: connection)
        case .connect(let waiter):
            Task {
                do {
                    waiter.resume(returning: try await openConnection())
                } catch {
                    waiter.resume(throwing: error)
                }
            }
        }
    }
}
