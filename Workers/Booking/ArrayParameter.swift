import Contracts
import Foundation
import Postgres

/// One PostgreSQL array parameter (`uuid[]`, `text[]`, `timestamptz[]`, `boolean[]`) written
/// element by element straight into UTF-8 bytes. A batch of 500 commands is a dozen such arrays
/// per statement; the generic `Array: PostgresBindable` goes through a `String` per element and
/// quotes character by character, which costs more than the statement itself.
struct ArrayParameter: PostgresBindable {
    private var bytes: [UInt8] = [UInt8(ascii: "{")]
    private var isEmpty = true

    init(capacity: Int = 0) {
        bytes.reserveCapacity(capacity)
    }

    private mutating func separate() {
        if !isEmpty { bytes.append(UInt8(ascii: ",")) }
        isEmpty = false
    }

    mutating func appendNull() {
        separate()
        bytes.append(contentsOf: "NULL".utf8)
    }

    /// Canonical lower-case text: no character that needs quoting.
    mutating func append(_ uuid: UUID?) {
        guard let uuid else { return appendNull() }
        separate()
        bytes.append(contentsOf: uuid.canonical.utf8)
    }

    /// ISO-8601 UTC with milliseconds (`2026-11-24T09:00:00.000Z`), which `timestamptz` reads as is.
    mutating func append(_ date: Date?) {
        guard let date else { return appendNull() }
        separate()
        bytes.append(contentsOf: WireCoding.formatTimestamp(date).utf8)
    }

    mutating func append(_ flag: Bool?) {
        guard let flag else { return appendNull() }
        separate()
        bytes.append(flag ? UInt8(ascii: "t") : UInt8(ascii: "f"))
    }

    mutating func append(_ text: String?) {
        guard let text else { return appendNull() }
        append(utf8: text.utf8)
    }

    /// Any text, double-quoted, with `"` and `\` escaped (so `NULL`, commas and braces stay text).
    mutating func append(utf8 text: some Sequence<UInt8>) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        for byte in text {
            if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { bytes.append(UInt8(ascii: "\\")) }
            bytes.append(byte)
        }
        bytes.append(UInt8(ascii: "\""))
    }

    var postgresParameter: PostgresParameter {
        var literal = bytes
        literal.append(UInt8(ascii: "}"))
        return .text(String(decoding: literal, as: UTF8.self))
    }
}
