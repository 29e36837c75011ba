/// An error from PostgreSQL or from talking to it. `sqlState` is the server's five-character
/// SQLSTATE when it sent one; connection-level failures have none.
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        let name: String
        public var description: String { name }
        /// Could not connect, or the connection broke.
        public static let connection = Kind(name: "connection")
        /// The server rejected a statement (see `sqlState`).
        public static let server = Kind(name: "server")
        /// A value in a result could not be decoded as the requested type.
        public static let decoding = Kind(name: "decoding")
        /// The pool was closed, or a wait for a connection was cancelled.
        public static let pool = Kind(name: "pool")
    }

    public var kind: Kind
    public var sqlState: String?
    public var message: String
    public var detail: String?
    public var constraint: String?

    public init(
        kind: Kind, sqlState: String? = nil, message: String, detail: String? = nil, constraint: String? = nil
    ) {
        self.kind = kind
        self.sqlState = sqlState
        self.message = message
        self.detail = detail
        self.constraint = constraint
    }

    public var description: String {
        var text = sqlState.map { "\($0): \(message)" } ?? "\(kind): \(message)"
        if let detail { text += " (\(detail))" }
        return text
    }

    public var isUniqueViolation: Bool { sqlState == "23505" }
    public var isExclusionViolation: Bool { sqlState == "23P01" }
    public var isForeignKeyViolation: Bool { sqlState == "23503" }
    public var isSerializationFailure: Bool { sqlState == "40001" }
    public var isDeadlock: Bool { sqlState == "40P01" }
    public var isConnectionFailure: Bool {
        kind == .connection || sqlState?.hasPrefix("08") == true || sqlState == "57P01" || sqlState == "57P02"
            || sqlState == "57P03"
    }

    /// Worth trying again later: the connection, a concurrency conflict, or a server that is
    /// shutting down or overloaded. Everything else will fail the same way again.
    public var isRetriable: Bool {
        isConnectionFailure || isSerializationFailure || isDeadlock || sqlState == "53300"
            || sqlState == "55P03" || sqlState == "57014"
    }
}
