import Foundation
import Identifiers

/// A query parameter as sent to the server: text, binary (bytea) or NULL.
/// Values are always sent separately from the SQL text, never spliced into it.
public enum PostgresParameter: Sendable, Equatable {
    case null
    case text(String)
    case binary(Data)
}

/// A Swift value that can be a `$n` parameter. Encoding may fail (JSON); then the statement is
/// not sent and the error is thrown (never a NULL in its place).
public protocol PostgresBindable: Sendable {
    var postgresParameter: PostgresParameter { get throws(PostgresError) }
    /// Appends the value as one element of an array literal: quoted, or `NULL`. The default goes
    /// through `postgresParameter`; ids and times write their bytes in place (see `Array`).
    func appendArrayElement(to literal: inout [UInt8]) throws(PostgresError)
}

extension PostgresBindable {
    public func appendArrayElement(to literal: inout [UInt8]) throws(PostgresError) {
        PostgresArrayLiteral.appendElement(try postgresParameter, to: &literal)
    }
}

extension String: PostgresBindable {
    public var postgresParameter: PostgresParameter { .text(self) }
}
extension Substring: PostgresBindable {
    public var postgresParameter: PostgresParameter { .text(String(self)) }
}
extension Int: PostgresBindable {
    public var postgresParameter: PostgresParameter { .text(String(self)) }
}
extension Int32: PostgresBindable {
    public var postgresParameter: PostgresParameter { .text(String(self)) }
}
extension Int64: PostgresBindable {
    public var postgresParameter: PostgresParameter { .text(String(self)) }
}
extension Bool: PostgresBindable {
    public var postgresParameter: PostgresParameter { .text(self ? "t" : "f") }
}
extension Double: PostgresBindable {
    public var postgresParameter: PostgresParameter { .text(String(self)) }
}
extension UUID: PostgresBindable {
    public var postgresParameter: PostgresParameter { .text(canonical) }

    public func appendArrayElement(to literal: inout [UInt8]) {
        literal.append(UInt8(ascii: "\""))
        appendCanonical(to: &literal)
        literal.append(UInt8(ascii: "\""))
    }
}
extension Date: PostgresBindable {
    public var postgresParameter: PostgresParameter { .text(PostgresTimestamp.format(self)) }

    public func appendArrayElement(to literal: inout [UInt8]) {
        literal.append(UInt8(ascii: "\""))
        PostgresTimestamp.append(self, to: &literal)
        literal.append(UInt8(ascii: "\""))
    }
}
extension Data: PostgresBindable {
    public var postgresParameter: PostgresParameter { .binary(self) }
}
extension Optional: PostgresBindable where Wrapped: PostgresBindable {
    public var postgresParameter: PostgresParameter {
        get throws(PostgresError) {
            switch self {
            case .none: .null
            case .some(let value): try value.postgresParameter
            }
        }
    }

    public func appendArrayElement(to literal: inout [UInt8]) throws(PostgresError) {
        switch self {
        case .none: literal.append(contentsOf: "NULL".utf8)
        case .some(let value): try value.appendArrayElement(to: &literal)
        }
    }
}

/// An array parameter (`text[]`, `uuid[]`, `bigint[]` …) in PostgreSQL's array literal syntax,
/// every element quoted, so set-based SQL can take a whole batch in one `$n`. Written as UTF-8
/// bytes: a batch handler's arrays hold hundreds of elements, and building them a `Character`
/// at a time cost a worker more CPU than the statements they carry (`perf`, notification worker).
extension Array: PostgresBindable where Element: PostgresBindable {
    public var postgresParameter: PostgresParameter {
        get throws(PostgresError) {
            var literal: [UInt8] = [UInt8(ascii: "{")]
            literal.reserveCapacity(count * 40 + 2)
            for (index, element) in enumerated() {
                if index > 0 { literal.append(UInt8(ascii: ",")) }
                try element.appendArrayElement(to: &literal)
            }
            literal.append(UInt8(ascii: "}"))
            return .text(String(decoding: literal, as: UTF8.self))
        }
    }
}

/// A value stored as `json`/`jsonb`, encoded with `JSONEncoder`.
public struct PostgresJSON<Value: Codable & Sendable>: PostgresBindable, PostgresDecodable, Sendable {
    public var value: Value
    public init(_ value: Value) { self.value = value }

    /// The JSON text; a value that does not encode (e.g. a non-finite Double) throws an
    /// `.encoding` error, so the statement is not sent.
    public var postgresParameter: PostgresParameter {
        get throws(PostgresError) {
            do {
                return .text(String(decoding: try PostgresJSONCoding.encoder.encode(value), as: UTF8.self))
            } catch {
                // The encoder's message may quote the value: detail only (see PostgresError).
                throw PostgresError(
                    kind: .encoding, message: "\(Value.self) does not encode as JSON", detail: "\(error)")
            }
        }
    }

    public init(postgresText text: String) throws(PostgresError) {
        do {
            value = try PostgresJSONCoding.decoder.decode(Value.self, from: Data(text.utf8))
        } catch {
            throw PostgresError(
                kind: .decoding, message: "JSON column does not decode as \(Value.self)", detail: "\(error)")
        }
    }
}

/// JSON columns use ISO-8601 dates and sorted keys.
enum PostgresJSONCoding {
    static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }
    static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}

enum PostgresArrayLiteral {
    /// One element as its parameter would be sent, quoted: the general path of every element type.
    static func appendElement(_ parameter: PostgresParameter, to literal: inout [UInt8]) {
        switch parameter {
        case .null: literal.append(contentsOf: "NULL".utf8)
        case .text(let text): appendQuoted(text, to: &literal)
        case .binary(let data): appendQuoted("\\x" + data.hexString, to: &literal)
        }
    }

    /// Double-quoted, with quotes and backslashes escaped: `NULL`, commas and braces stay text.
    static func appendQuoted(_ text: String, to literal: inout [UInt8]) {
        var text = text
        literal.append(UInt8(ascii: "\""))
        text.withUTF8 { bytes in
            for byte in bytes {
                if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { literal.append(UInt8(ascii: "\\")) }
                literal.append(byte)
            }
        }
        literal.append(UInt8(ascii: "\""))
    }
}

extension Data {
    var hexString: String {
        let digits = Array("0123456789abcdef".utf8)
        var bytes = [UInt8]()
        bytes.reserveCapacity(count * 2)
        for byte in self {
            bytes.append(digits[Int(byte >> 4)])
            bytes.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
