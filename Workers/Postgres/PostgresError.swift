/// An error from PostgreSQL or from talking to it. `sqlState` is the server's five-character
/// SQLSTATE when it sent one; connection-level failures have none.
///
/// `description` (what `"\(error)"` and loggers print) is safe to log: the SQLSTATE, the server's
/// message with every quoted value masked, and the constraint and table. The server's `detail`
/// (for a unique violation it holds the key's values, e.g. an email) and the unmasked message
/// appear only in `debugDescription` (`String(reflecting: error)`), as in postgres-nio's `PSQLError`.
public struct PostgresError: Error, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        let name: String
        public var description: String { name }
        /// Could not connect, or the connection broke.
        public static let connection = Kind(name: "connection")
        /// The server rejected a statement (see `sqlState`).
        public static let server = Kind(name: "server")
        /// A value in a result could not be decoded as the requested type.
        public static let decoding = Kind(name: "decoding")
        /// A Swift value could not be encoded as a parameter (e.g. JSON that does not encode).
        public static let encoding = Kind(name: "encoding")
        /// A statement or parameter libpq cannot carry as given: text with a NUL byte, which libpq
        /// would silently cut off at the NUL. Refused before anything is sent.
        public static let parameter = Kind(name: "parameter")
        /// The pool was closed, or a wait for a connection was cancelled.
        public static let pool = Kind(name: "pool")
    }

    public var kind: Kind
    public var sqlState: String?
    /// The server's primary message, or ours. A server message may quote the offending value
    /// (`invalid input syntax for type uuid: "…"`): log `description`, never this.
    public var message: String
    /// The server's DETAIL, or the offending value of a client-side error. May hold personal
    /// data (the key of a unique violation): only `debugDescription` shows it.
    public var detail: String?
    public var constraint: String?
    public var schema: String?
    public var table: String?
    public var column: String?

    public init(
        kind: Kind, sqlState: String? = nil, message: String, detail: String? = nil, constraint: String? = nil,
        schema: String? = nil, table: String? = nil, column: String? = nil
    ) {
        self.kind = kind
        self.sqlState = sqlState
        self.message = message
        self.detail = detail
        self.constraint = constraint
        self.schema = schema
        self.table = table
        self.column = column
    }

    /// Generic and safe to log: no DETAIL, and the server's message with quoted values masked.
    public var description: String {
        var text = "PostgresError(\(kind)"
        if let sqlState { text += " \(sqlState)" }
        text += "): "
        // Our own messages (decoding, parameters, connection) are written to hold no values.
        text += kind == .server ? maskedMessage : message
        if let constraint { text += " [constraint \(constraint)]" }
        if let table { text += " [table \(schema.map { "\($0)." } ?? "")\(table)]" }
        return text
    }

    /// Everything, for a developer's eyes: includes the DETAIL and the unmasked message.
    public var debugDescription: String {
        var fields = ["kind: \(kind)"]
        if let sqlState { fields.append("sqlState: \(sqlState)") }
        fields.append("message: \(String(reflecting: message))")
        if let detail { fields.append("detail: \(String(reflecting: detail))") }
        if let constraint { fields.append("constraint: \(constraint)") }
        if let schema { fields.append("schema: \(schema)") }
        if let table { fields.append("table: \(table)") }
        if let column { fields.append("column: \(column)") }
        return "PostgresError(\(fields.joined(separator: ", ")))"
    }

    /// The server's message with values masked. The server quotes both identifiers and values in
    /// double quotes; a quoted name that the error's own fields name (table, column, constraint,
    /// schema) is kept, and at the first other quoted text the rest is replaced by `"…"`: a value
    /// may itself contain quotes, so nothing after it can be trusted to be free of it.
    var maskedMessage: String {
        let names = Set([constraint, schema, table, column].compactMap { $0 })
        var result = ""
        var rest = Substring(message)
        while let open = rest.firstIndex(of: "\"") {
            result += rest[..<open]
            let afterOpen = rest.index(after: open)
            guard let close = rest[afterOpen...].firstIndex(of: "\""), names.contains(String(rest[afterOpen..<close]))
            else {
                return result + "\"…\""
            }
            result += rest[open...close]
            rest = rest[rest.index(after: close)...]
        }
        return result + rest
    }

    public var isUniqueViolation: Bool { sqlState == "23505" }
    public var isExclusionViolation: Bool { sqlState == "23P01" }
    public var isForeignKeyViolation: Bool { sqlState == "23503" }
    public var isSerializationFailure: Bool { sqlState == "40001" }
    public var isDeadlock: Bool { sqlState == "40P01" }
    /// The statement was cancelled: by `statement_timeout`, or by a cancel request.
    public var isQueryCanceled: Bool { sqlState == "57014" }
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
