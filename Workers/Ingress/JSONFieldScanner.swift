import Foundation
import NIOCore

/// Finds the first object member of a JSON document that its schema does not name, or that an
/// object holds twice, by one pass over the bytes (no second parse of the body into objects):
/// `hours[0].lunch`. It runs on a document the wire decoder read, or read up to a repeated member
/// (valid up to there, and the scanner stops there): it only tracks where it is, and assumes JSON.
///
/// Repeated names matter because a decoder that keeps one copy (as `JSONDecoder` does) acts on a
/// request other than the one a proxy, a log or a signature check reading the other copy sees.
/// The wire decoder refuses them but cannot say where; this names the path.
struct JSONFieldScanner {
    enum Finding: Equatable {
        /// A member the schema does not name.
        case unknown(String)
        /// A member name that appears twice in one object.
        case repeated(String)
    }

    let bytes: ByteBufferView
    var index: ByteBufferView.Index

    init(bytes: ByteBufferView) {
        self.bytes = bytes
        index = bytes.startIndex
    }

    mutating func firstProblem(for schema: Schema) -> Finding? {
        value(schema, path: "")
    }

    private var current: UInt8? { index < bytes.endIndex ? bytes[index] : nil }

    private mutating func skipWhitespace() {
        while let byte = current, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { index += 1 }
    }

    /// Scans one value; returns the first unknown or repeated member inside it, if any.
    private mutating func value(_ schema: Schema?, path: String) -> Finding? {
        skipWhitespace()
        var schema = schema
        while case .named(_, let inner)? = schema { schema = inner }
        switch current {
        case UInt8(ascii: "{"):
            index += 1
            // Request objects have a handful of members: a list beats a set.
            var names: [String] = []
            while true {
                skipWhitespace()
                guard let byte = current else { return nil }
                if byte == UInt8(ascii: "}") {
                    index += 1
                    return nil
                }
                if byte == UInt8(ascii: ",") {
                    index += 1
                    continue
                }
                let key = string()
                skipWhitespace()
                if current == UInt8(ascii: ":") { index += 1 }
                let memberPath = path.isEmpty ? key : "\(path).\(key)"
                if names.contains(key) { return .repeated(memberPath) }
                names.append(key)
                var member: Schema?
                if case .object(let properties, _, let additional)? = schema {
                    if let property = properties.first(where: { $0.0 == key }) {
                        member = property.1
                    } else if let additional {
                        member = additional
                    } else {
                        return .unknown(memberPath)
                    }
                }
                if let unknown = value(member, path: memberPath) { return unknown }
            }
        case UInt8(ascii: "["):
            index += 1
            var items: Schema?
            if case .array(let itemSchema, _)? = schema { items = itemSchema }
            var position = 0
            while true {
                skipWhitespace()
                guard let byte = current else { return nil }
                if byte == UInt8(ascii: "]") {
                    index += 1
                    return nil
                }
                if byte == UInt8(ascii: ",") {
                    index += 1
                    continue
                }
                let before = index
                if let unknown = value(items, path: "\(path)[\(position)]") { return unknown }
                // Not JSON here (`[}`): stop rather than spin on the same byte. Callers pass only
                // documents the wire decoder read, but a request must never hang on its body.
                guard index != before else { return nil }
                position += 1
            }
        case UInt8(ascii: "\""):
            _ = string()
            return nil
        default:
            // A number, true, false or null: up to the next delimiter.
            while let byte = current, byte != UInt8(ascii: ","), byte != UInt8(ascii: "}"), byte != UInt8(ascii: "]"),
                byte != 0x20, byte != 0x0A, byte != 0x0D, byte != 0x09
            {
                index += 1
            }
            return nil
        }
    }

    /// Reads a string at the current position (escapes resolved), leaving the index after it.
    private mutating func string() -> String {
        guard current == UInt8(ascii: "\"") else { return "" }
        index += 1
        let start = index
        var escaped = false
        while let byte = current, byte != UInt8(ascii: "\"") {
            if byte == UInt8(ascii: "\\") {
                escaped = true
                index += 1
            }
            index += 1
        }
        let raw = bytes[start..<min(index, bytes.endIndex)]
        index += 1
        guard escaped else { return String(decoding: raw, as: UTF8.self) }
        // Rare (a member name with escapes): let the JSON decoder read the string itself.
        let quoted = Data([UInt8(ascii: "\"")] + raw + [UInt8(ascii: "\"")])
        return (try? JSONDecoder().decode(String.self, from: quoted)) ?? String(decoding: raw, as: UTF8.self)
    }
}
