import Foundation
import Identifiers

/// A value that can be read from a result column (text format).
public protocol PostgresDecodable: Sendable {
    init(postgresText: String) throws(PostgresError)
}

extension String: PostgresDecodable {
    public init(postgresText: String) { self = postgresText }
}
extension Int: PostgresDecodable {
    public init(postgresText text: String) throws(PostgresError) { self = try PostgresDecoding.integer(text) }
}
extension Int32: PostgresDecodable {
    public init(postgresText text: String) throws(PostgresError) { self = try PostgresDecoding.integer(text) }
}
extension Int64: PostgresDecodable {
    public init(postgresText text: String) throws(PostgresError) { self = try PostgresDecoding.integer(text) }
}
extension Double: PostgresDecodable {
    public init(postgresText text: String) throws(PostgresError) {
        switch text {
        case "NaN": self = .nan
        case "Infinity": self = .infinity
        case "-Infinity": self = -.infinity
        default:
            guard let value = Double(text) else { throw PostgresDecoding.mismatch(text, Double.self) }
            self = value
        }
    }
}
extension Bool: PostgresDecodable {
    public init(postgresText text: String) throws(PostgresError) {
        switch text {
        case "t", "true": self = true
        case "f", "false": self = false
        default: throw PostgresDecoding.mismatch(text, Bool.self)
        }
    }
}
extension UUID: PostgresDecodable {
    public init(postgresText text: String) throws(PostgresError) {
        guard let value = UUID(parsing: text) else { throw PostgresDecoding.mismatch(text, UUID.self) }
        self = value
    }
}
extension Date: PostgresDecodable {
    public init(postgresText text: String) throws(PostgresError) {
        guard let value = PostgresTimestamp.parse(text) else { throw PostgresDecoding.mismatch(text, Date.self) }
        self = value
    }
}
extension Data: PostgresDecodable {
    /// `bytea` in the server's hex output format (`\x0a1b…`).
    public init(postgresText text: String) throws(PostgresError) {
        let bytes = Array(text.utf8)
        guard bytes.count >= 2, bytes[0] == 92, bytes[1] == 120, bytes.count % 2 == 0 else {
            throw PostgresDecoding.mismatch(text, Data.self)
        }
        func nibble(_ byte: UInt8) -> UInt8? {
            switch byte {
            case 48...57: byte - 48
            case 97...102: byte - 87
            case 65...70: byte - 55
            default: nil
            }
        }
        var data = Data(capacity: (bytes.count - 2) / 2)
        var index = 2
        while index < bytes.count {
            guard let high = nibble(bytes[index]), let low = nibble(bytes[index + 1]) else {
                throw PostgresDecoding.mismatch(text, Data.self)
            }
            data.append(high << 4 | low)
            index += 2
        }
        self = data
    }
}

enum PostgresDecoding {
    static func integer<T: FixedWidthInteger>(_ text: String) throws(PostgresError) -> T {
        guard let value = T(text) else { throw mismatch(text, T.self) }
        return value
    }

    /// The cell's text may be personal data: it goes to `detail`, which only debugDescription shows.
    static func mismatch(_ text: String, _ type: Any.Type) -> PostgresError {
        PostgresError(kind: .decoding, message: "the value is not a \(type)", detail: "'\(text.prefix(64))'")
    }
}

/// The rows of a result, read in text format.
public struct PostgresRows: Sendable, RandomAccessCollection {
    public let columns: [String]
    let cells: [[String?]]
    /// Rows changed by INSERT/UPDATE/DELETE (`PQcmdTuples`), 0 otherwise.
    public let affectedRows: Int

    public var startIndex: Int { 0 }
    public var endIndex: Int { cells.count }
    public subscript(position: Int) -> PostgresRow {
        PostgresRow(columns: columns, cells: cells[position])
    }
}

public struct PostgresRow: Sendable {
    public let columns: [String]
    let cells: [String?]

    public func isNull(_ column: Int) -> Bool { cells[column] == nil }

    /// The value of column `column` (by position) as `T`; NULL is an error.
    public func decode<T: PostgresDecodable>(_ type: T.Type, _ column: Int) throws(PostgresError) -> T {
        guard column < cells.count else {
            throw PostgresError(kind: .decoding, message: "no column \(column) (row has \(cells.count))")
        }
        guard let text = cells[column] else {
            throw PostgresError(kind: .decoding, message: "column '\(columns[column])' is NULL, expected \(T.self)")
        }
        do {
            return try T(postgresText: text)
        } catch {
            var named = error
            named.message = "column '\(columns[column])': \(error.message)"
            throw named
        }
    }

    /// The value of column `column` as `T`, or `nil` when it is NULL.
    public func decode<T: PostgresDecodable>(_ type: T?.Type, _ column: Int) throws(PostgresError) -> T? {
        guard column < cells.count, cells[column] != nil else { return nil }
        return try decode(T.self, column)
    }

    public func decode<T: PostgresDecodable>(_ type: T.Type, _ name: String) throws(PostgresError) -> T {
        try decode(T.self, index(of: name))
    }

    public func decode<T: PostgresDecodable>(_ type: T?.Type, _ name: String) throws(PostgresError) -> T? {
        try decode(T?.self, index(of: name))
    }

    /// A `json`/`jsonb` column decoded with `JSONDecoder`.
    public func decodeJSON<T: Codable & Sendable>(_ type: T.Type, _ name: String) throws(PostgresError) -> T {
        try decode(PostgresJSON<T>.self, index(of: name)).value
    }

    private func index(of name: String) throws(PostgresError) -> Int {
        guard let index = columns.firstIndex(of: name) else {
            throw PostgresError(kind: .decoding, message: "no column named '\(name)' in \(columns)")
        }
        return index
    }
}
