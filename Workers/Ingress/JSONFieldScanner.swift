import Foundation
import NIOCore

/// Finds the first object member of a JSON document that its schema does not name, by one pass
/// over the bytes (no second parse of the body into objects): `hours[0].lunch`. The document has
/// already been decoded successfully, so it is valid JSON; the scanner only tracks where it is.
struct JSONFieldScanner {
    let bytes: ByteBufferView
    var index: ByteBufferView.Index

    init(bytes: ByteBufferView) {
        self.bytes = bytes
        index = bytes.startIndex
    }

    mutating func unknownField(for schema: Schema) -> String? {
        value(schema, path: "")
    }

    private var current: UInt8? { index < bytes.endIndex ? bytes[index] : nil }

    private mutating func skipWhitespace() {
        while let byte = current, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { index += 1 }
    }

    /// Scans one value; returns the path of an unknown member inside it, if any.
    private mutating func value(_ schema: Schema?, path: String) -> String? {
        skipWhitespace()
        var schema = schema
        while case .named(_, let inner)? = schema { schema = inner }
        switch current {
        case UInt8(ascii: "{"):
            index += 1
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
                var member: Schema?
                if case .object(let properties, _, let additional)? = schema {
                    if let property = properties.first(where: { $0.0 == key }) {
                        member = property.1
                    } else if let additional {
                        member = additional
                    } else {
                        return memberPath
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
                if let unknown = value(items, path: "\(path)[\(position)]") { return unknown }
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
