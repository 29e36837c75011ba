import Foundation
import Identifiers

/// Encodes `Encodable` values as CareFleet's wire JSON: object keys sorted (the same value
/// always has the same bytes), times as ISO-8601 UTC with milliseconds, and UUIDs in their
/// canonical lower-case form (RFC 9562), the form keys, logs and the database use.
///
/// Foundation's `JSONEncoder` writes UUIDs upper case and offers no strategy to change that,
/// which is why the wire has an encoder of its own. Slashes are not escaped.
public struct WireEncoder: Sendable {
    public init() {}

    public func encode<T: Encodable>(_ value: T) throws -> Data {
        Data(try encodeBytes(value))
    }

    /// The JSON as bytes (for a `ByteBuffer` or a Kafka value without another copy).
    public func encodeBytes<T: Encodable>(_ value: T) throws -> [UInt8] {
        // The hot messages write themselves (see `WireWritable`); the tree gives the same bytes.
        if let writable = value as? any WireWritable { return writable.wireBytes() }
        return try encodeTree(value)
    }

    /// Through the tree of `Encodable`, whatever the value: what every writer is checked against.
    func encodeTree<T: Encodable>(_ value: T) throws -> [UInt8] {
        let node = try WireNode.make(value, codingPath: [])
        var output: [UInt8] = []
        output.reserveCapacity(512)
        node.write(into: &output)
        return output
    }
}

/// A JSON value under construction. Containers are references: `Encoder` hands out a
/// container first and fills it later (nested containers, super encoders).
enum WireNode {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    /// Written straight into the output in their wire forms, without a `String` in between.
    case uuid(UUID)
    case timestamp(Date)
    case array(WireArray)
    case object(WireObject)

    /// `codingPath` is built only when it is needed (a container, an error): building it for
    /// every member of every struct was an allocation per member.
    static func make<T: Encodable>(_ value: T, codingPath: @autoclosure () -> [any CodingKey]) throws -> WireNode {
        // Compare types first: a failed dynamic cast per candidate type, for every member of every
        // struct, was the biggest part of encoding a message.
        let type = ObjectIdentifier(T.self)
        if type == ObjectIdentifier(String.self), let string = value as? String { return .string(string) }
        if type == ObjectIdentifier(UUID.self), let uuid = value as? UUID { return .uuid(uuid) }
        if type == ObjectIdentifier(Date.self), let date = value as? Date { return .timestamp(date) }
        if type == ObjectIdentifier(Int.self), let int = value as? Int { return .number(String(int)) }
        if type == ObjectIdentifier(Bool.self), let bool = value as? Bool { return .bool(bool) }
        if type == ObjectIdentifier(Double.self), let double = value as? Double { return try number(double, codingPath: codingPath()) }
        if type == ObjectIdentifier(Int64.self), let int = value as? Int64 { return .number(String(int)) }
        if type == ObjectIdentifier(Int32.self), let int = value as? Int32 { return .number(String(int)) }
        if type == ObjectIdentifier(UInt64.self), let int = value as? UInt64 { return .number(String(int)) }
        if type == ObjectIdentifier(Float.self), let float = value as? Float { return try number(Double(float), codingPath: codingPath()) }
        if type == ObjectIdentifier(URL.self), let url = value as? URL { return .string(url.absoluteString) }
        if type == ObjectIdentifier(Data.self), let data = value as? Data { return .string(data.base64EncodedString()) }
        if type == ObjectIdentifier(Decimal.self), let decimal = value as? Decimal { return .number(decimal.description) }
        let encoder = WireNodeEncoder(codingPath: codingPath())
        try value.encode(to: encoder)
        // A type that encodes nothing is an empty object, as with JSONEncoder.
        return encoder.node ?? .object(WireObject())
    }

    static func number(_ value: Double, codingPath: [any CodingKey]) throws -> WireNode {
        guard value.isFinite else {
            throw EncodingError.invalidValue(
                value, EncodingError.Context(codingPath: codingPath, debugDescription: "\(value) is not valid JSON"))
        }
        if value == value.rounded(), abs(value) < 1e15 { return .number(String(Int64(value))) }
        return .number(String(value))
    }

    func write(into output: inout [UInt8]) {
        switch self {
        case .null: output.append(contentsOf: "null".utf8)
        case .bool(let value): output.append(contentsOf: (value ? "true" : "false").utf8)
        case .number(let text): output.append(contentsOf: text.utf8)
        case .string(let text): Self.writeString(text, into: &output)
        case .uuid(let uuid): Self.writeUUID(uuid, into: &output)
        case .timestamp(let date): Self.writeTimestamp(date, into: &output)
        case .array(let array):
            output.append(UInt8(ascii: "["))
            for index in array.items.indices {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                array.items[index].write(into: &output)
            }
            output.append(UInt8(ascii: "]"))
        case .object(let object):
            output.append(UInt8(ascii: "{"))
            // Kept sorted by their UTF-8 bytes as they were added: the same value always has the same bytes.
            for index in object.items.indices {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                Self.writeString(object.items[index].key, into: &output)
                output.append(UInt8(ascii: ":"))
                object.items[index].value.write(into: &output)
            }
            output.append(UInt8(ascii: "}"))
        }
    }

    static func writeUUID(_ uuid: UUID, into output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        uuid.appendCanonical(to: &output)
        output.append(UInt8(ascii: "\""))
    }

    static func writeTimestamp(_ date: Date, into output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        guard WireCoding.appendTimestamp(date, to: &output) else {
            output.removeLast()
            writeString(WireCoding.formatTimestamp(date), into: &output)
            return
        }
        output.append(UInt8(ascii: "\""))
    }

    /// Copies runs of bytes that need no escape at once: byte by byte, appending was the
    /// largest part of encoding a message.
    static func writeString(_ text: String, into output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        var text = text
        text.withUTF8 { bytes in
            var runStart = 0
            for index in 0..<bytes.count {
                let byte = bytes[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<index]))
                runStart = index + 1
                switch byte {
                case UInt8(ascii: "\""): output.append(contentsOf: [92, 34])
                case UInt8(ascii: "\\"): output.append(contentsOf: [92, 92])
                case 0x0A: output.append(contentsOf: [92, UInt8(ascii: "n")])
                case 0x0D: output.append(contentsOf: [92, UInt8(ascii: "r")])
                case 0x09: output.append(contentsOf: [92, UInt8(ascii: "t")])
                default:
                    output.append(contentsOf: [92, UInt8(ascii: "u"), 48, 48, Hex.digits[Int(byte >> 4)], Hex.digits[Int(byte & 0x0f)]])
                }
            }
            output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<bytes.count]))
        }
        output.append(UInt8(ascii: "\""))
    }
}

/// Mutable storage of a container while it is being encoded (one encoding, one thread).
final class WireArray {
    var items: [WireNode] = []
}

final class WireObject {
    /// Members sorted by their keys' UTF-8 bytes, kept so as they are set (objects are small: a
    /// sorted list beats a dictionary here, and writing needs no sort).
    var items: [(key: String, value: WireNode)] = []

    subscript(key: String) -> WireNode? {
        get { items.first { $0.key == key }?.value }
        set {
            // Members usually arrive in declaration order; search from the end for where the key goes.
            var index = items.count
            while index > 0, key.utf8.lexicographicallyPrecedes(items[index - 1].key.utf8) { index -= 1 }
            if index > 0, items[index - 1].key == key {
                if let newValue { items[index - 1].value = newValue } else { items.remove(at: index - 1) }
            } else if let newValue {
                // Appended and swapped into place: `insert` took the generic, slow path here.
                items.append((key, newValue))
                var position = items.count - 1
                while position > index {
                    items.swapAt(position, position - 1)
                    position -= 1
                }
            }
        }
    }
}

/// The `Encoder` behind `WireEncoder`: builds a `WireNode` tree.
final class WireNodeEncoder: Encoder {
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    var node: WireNode?

    init(codingPath: [any CodingKey]) {
        self.codingPath = codingPath
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        let object: WireObject
        if case .object(let existing)? = node {
            object = existing
        } else {
            object = WireObject()
            node = .object(object)
        }
        return KeyedEncodingContainer(WireKeyedContainer<Key>(object: object, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        let array: WireArray
        if case .array(let existing)? = node {
            array = existing
        } else {
            array = WireArray()
            node = .array(array)
        }
        return WireUnkeyedContainer(array: array, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer { WireSingleValueContainer(encoder: self) }
}

struct WireKeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let object: WireObject
    let codingPath: [any CodingKey]

    mutating func encodeNil(forKey key: Key) throws { object[key.stringValue] = .null }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        object[key.stringValue] = try WireNode.make(value, codingPath: codingPath + [key])
    }

    // Optionals that are nil are left out, as JSONEncoder does.
    mutating func encodeIfPresent<T: Encodable>(_ value: T?, forKey key: Key) throws {
        guard let value else { return }
        try encode(value, forKey: key)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key)
        -> KeyedEncodingContainer<NestedKey>
    {
        let nested = WireObject()
        object[key.stringValue] = .object(nested)
        return KeyedEncodingContainer(WireKeyedContainer<NestedKey>(object: nested, codingPath: codingPath + [key]))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let nested = WireArray()
        object[key.stringValue] = .array(nested)
        return WireUnkeyedContainer(array: nested, codingPath: codingPath + [key])
    }

    mutating func superEncoder() -> any Encoder { superEncoder(forKey: WireSuperKey.super) }

    mutating func superEncoder(forKey key: some CodingKey) -> any Encoder {
        WireReferencingEncoder(codingPath: codingPath + [key]) { [object] node in object[key.stringValue] = node }
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        WireReferencingEncoder(codingPath: codingPath + [key]) { [object] node in object[key.stringValue] = node }
    }
}

struct WireUnkeyedContainer: UnkeyedEncodingContainer {
    let array: WireArray
    let codingPath: [any CodingKey]
    var count: Int { array.items.count }

    mutating func encodeNil() throws { array.items.append(.null) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        array.items.append(try WireNode.make(value, codingPath: codingPath + [WireIndexKey(count)]))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let nested = WireObject()
        let key = WireIndexKey(count)
        array.items.append(.object(nested))
        return KeyedEncodingContainer(WireKeyedContainer<NestedKey>(object: nested, codingPath: codingPath + [key]))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let nested = WireArray()
        let key = WireIndexKey(count)
        array.items.append(.array(nested))
        return WireUnkeyedContainer(array: nested, codingPath: codingPath + [key])
    }

    mutating func superEncoder() -> any Encoder {
        let index = array.items.count
        array.items.append(.null)
        return WireReferencingEncoder(codingPath: codingPath + [WireIndexKey(index)]) { [array] node in array.items[index] = node }
    }
}

struct WireSingleValueContainer: SingleValueEncodingContainer {
    let encoder: WireNodeEncoder
    var codingPath: [any CodingKey] { encoder.codingPath }

    mutating func encodeNil() throws { encoder.node = .null }

    mutating func encode<T: Encodable>(_ value: T) throws {
        encoder.node = try WireNode.make(value, codingPath: codingPath)
    }
}

/// An encoder whose result lands in a parent container when the value has been encoded.
final class WireReferencingEncoder: Encoder {
    private let inner: WireNodeEncoder
    private let store: (WireNode) -> Void
    var codingPath: [any CodingKey] { inner.codingPath }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(codingPath: [any CodingKey], store: @escaping (WireNode) -> Void) {
        inner = WireNodeEncoder(codingPath: codingPath)
        self.store = store
    }

    deinit { store(inner.node ?? .object(WireObject())) }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> { inner.container(keyedBy: type) }
    func unkeyedContainer() -> any UnkeyedEncodingContainer { inner.unkeyedContainer() }
    func singleValueContainer() -> any SingleValueEncodingContainer { inner.singleValueContainer() }
}

struct WireIndexKey: CodingKey {
    let intValue: Int?
    var stringValue: String { "Index \(intValue ?? 0)" }
    init(_ index: Int) { intValue = index }
    init?(stringValue: String) { nil }
    init?(intValue: Int) { self.intValue = intValue }
}

enum WireSuperKey: String, CodingKey {
    case `super`
}
