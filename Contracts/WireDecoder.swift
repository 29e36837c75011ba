import Foundation
import Identifiers

/// Decodes wire JSON into `Decodable` values: the document is parsed once into a `WireValue`
/// tree, which the `Decoder` reads.
///
/// Every worker decodes every message it consumes, so this is on the hottest path of the fleet.
/// Foundation's `JSONDecoder` spent most of its time elsewhere than in parsing: UUIDs went
/// through `sscanf`, timestamps through `ISO8601FormatStyle`, and a message was parsed twice
/// (once for its envelope, once for its payload). Here UUIDs and canonical timestamps have fast
/// paths, and `MessageCatalog` reads the envelope and the payload from one tree.
///
/// Errors are `DecodingError`s with the coding path, as `JSONDecoder`'s, so that
/// `DecodingProblem` names the field. Stricter than `JSONDecoder` in one way: an object with
/// the same key twice is not valid (which copy counts would be a guess).
public struct WireDecoder: Sendable {
    public init() {}

    public func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        try decode(type, from: try WireValue.parse(data))
    }

    public func decode<T: Decodable>(_ type: T.Type, from value: WireValue, codingPath: [any CodingKey] = []) throws -> T {
        try WireValueDecoder.unbox(value, as: type, codingPath: codingPath)
    }
}

/// A parsed JSON document.
public enum WireValue: Sendable {
    case null
    case bool(Bool)
    /// The number as written (converted when a type asks for it).
    case number(String)
    case string(String)
    case array([WireValue])
    /// Members in document order (objects are small: a list beats a dictionary here).
    case object([(key: String, value: WireValue)])

    /// How deep arrays and objects may nest (a hostile message must not exhaust the stack).
    static let maximumDepth = 512

    public static func parse(_ data: Data) throws -> WireValue {
        try data.withUnsafeBytes { raw in
            var parser = WireParser(bytes: raw.bindMemory(to: UInt8.self))
            return try parser.document()
        }
    }

    /// The value of an object's member named `name` (objects are small: a list beats a dictionary).
    static func member(_ name: String, of members: [(key: String, value: WireValue)]) -> WireValue? {
        members.first { $0.key == name }?.value
    }

    /// The error for a member that is not there: the keyed container's and the readers' alike.
    static func missing(_ key: any CodingKey, at codingPath: [any CodingKey]) -> DecodingError {
        .keyNotFound(key, DecodingError.Context(codingPath: codingPath, debugDescription: "No value associated with key \(key.stringValue)."))
    }

    var kind: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

/// Why a document was refused although its grammar is JSON: an object names a member twice. Up to
/// that member the document was read and is valid, so a reader may look for it by path there.
public struct WireRepeatedMember: Error, Sendable {
    public let name: String
}

/// A recursive-descent parser of RFC 8259 JSON over bytes.
struct WireParser {
    let bytes: UnsafeBufferPointer<UInt8>
    var position = 0

    init(bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    mutating func document() throws -> WireValue {
        let value = try self.value(depth: 0)
        skipWhitespace()
        guard position == bytes.count else { throw corrupted("unexpected bytes after the JSON value") }
        return value
    }

    func corrupted(_ reason: String) -> DecodingError {
        DecodingError.dataCorrupted(
            DecodingError.Context(codingPath: [], debugDescription: "The given data was not valid JSON: \(reason) at byte \(position)."))
    }

    mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    mutating func value(depth: Int) throws -> WireValue {
        skipWhitespace()
        guard position < bytes.count else { throw corrupted("unexpected end of data") }
        switch bytes[position] {
        case UInt8(ascii: "{"): return try object(depth: depth + 1)
        case UInt8(ascii: "["): return try array(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        default: throw corrupted("unexpected character")
        }
    }

    mutating func literal(_ word: StaticString) throws {
        let length = word.utf8CodeUnitCount
        guard position + length <= bytes.count else { throw corrupted("unexpected end of data") }
        for index in 0..<length where bytes[position + index] != word.utf8Start[index] {
            throw corrupted("unexpected character")
        }
        position += length
    }

    mutating func object(depth: Int) throws -> WireValue {
        guard depth <= WireValue.maximumDepth else { throw corrupted("nested too deeply") }
        position += 1
        var members: [(key: String, value: WireValue)] = []
        skipWhitespace()
        if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
            position += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else { throw corrupted("expected a member name") }
            let key = try string()
            guard !members.contains(where: { $0.key == key }) else {
                throw DecodingError.dataCorrupted(
                    DecodingError.Context(
                        codingPath: [],
                        debugDescription: "The given data was not valid JSON: the member '\(key)' appears twice at byte \(position).",
                        underlyingError: WireRepeatedMember(name: key)))
            }
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else { throw corrupted("expected ':'") }
            position += 1
            members.append((key, try value(depth: depth)))
            skipWhitespace()
            guard position < bytes.count else { throw corrupted("unexpected end of data") }
            switch bytes[position] {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "}"):
                position += 1
                return .object(members)
            default: throw corrupted("expected ',' or '}'")
            }
        }
    }

    mutating func array(depth: Int) throws -> WireValue {
        guard depth <= WireValue.maximumDepth else { throw corrupted("nested too deeply") }
        position += 1
        var items: [WireValue] = []
        skipWhitespace()
        if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
            position += 1
            return .array(items)
        }
        while true {
            items.append(try value(depth: depth))
            skipWhitespace()
            guard position < bytes.count else { throw corrupted("unexpected end of data") }
            switch bytes[position] {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "]"):
                position += 1
                return .array(items)
            default: throw corrupted("expected ',' or ']'")
            }
        }
    }

    mutating func number() throws -> String {
        let start = position
        func digits(_ parser: inout WireParser) -> Int {
            let first = parser.position
            while parser.position < parser.bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(parser.bytes[parser.position]) {
                parser.position += 1
            }
            return parser.position - first
        }
        if bytes[position] == UInt8(ascii: "-") { position += 1 }
        let leadingZero = position < bytes.count && bytes[position] == UInt8(ascii: "0")
        let integerDigits = digits(&self)
        guard integerDigits > 0, !(leadingZero && integerDigits > 1) else { throw corrupted("invalid number") }
        if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
            position += 1
            guard digits(&self) > 0 else { throw corrupted("invalid number") }
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E") {
            position += 1
            if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") { position += 1 }
            guard digits(&self) > 0 else { throw corrupted("invalid number") }
        }
        return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
    }

    /// A string starting at the opening quote. Runs without escapes are copied at once.
    mutating func string() throws -> String {
        position += 1
        let start = position
        // The common case: no escapes, so the bytes between the quotes are the string.
        while position < bytes.count {
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                let text = try validated(start..<position)
                position += 1
                return text
            }
            if byte == UInt8(ascii: "\\") { break }
            guard byte >= 0x20 else { throw corrupted("a control character in a string") }
            position += 1
        }
        var unescaped = Array(UnsafeBufferPointer(rebasing: bytes[start..<position]))
        while position < bytes.count {
            let byte = bytes[position]
            switch byte {
            case UInt8(ascii: "\""):
                position += 1
                guard let text = String(validating: unescaped, as: UTF8.self) else { throw corrupted("a string is not valid UTF-8") }
                return text
            case UInt8(ascii: "\\"):
                position += 1
                guard position < bytes.count else { throw corrupted("unexpected end of data") }
                let escaped = bytes[position]
                position += 1
                switch escaped {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): unescaped.append(escaped)
                case UInt8(ascii: "b"): unescaped.append(0x08)
                case UInt8(ascii: "f"): unescaped.append(0x0C)
                case UInt8(ascii: "n"): unescaped.append(0x0A)
                case UInt8(ascii: "r"): unescaped.append(0x0D)
                case UInt8(ascii: "t"): unescaped.append(0x09)
                case UInt8(ascii: "u"): try appendUnicodeEscape(to: &unescaped)
                default: throw corrupted("an invalid escape in a string")
                }
            default:
                guard byte >= 0x20 else { throw corrupted("a control character in a string") }
                unescaped.append(byte)
                position += 1
            }
        }
        throw corrupted("unexpected end of data in a string")
    }

    func validated(_ range: Range<Int>) throws -> String {
        guard let text = String(validating: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self) else {
            throw corrupted("a string is not valid UTF-8")
        }
        return text
    }

    mutating func hexQuad() throws -> UInt32 {
        guard position + 4 <= bytes.count else { throw corrupted("unexpected end of data") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let digit = Hex.value(of: bytes[position]) else { throw corrupted("an invalid \\u escape") }
            value = value << 4 | UInt32(digit)
            position += 1
        }
        return value
    }

    /// `\uXXXX`, with UTF-16 surrogate pairs joined; a lone surrogate is not a character.
    mutating func appendUnicodeEscape(to output: inout [UInt8]) throws {
        var scalar = try hexQuad()
        if (0xD800...0xDBFF).contains(scalar) {
            guard position + 2 <= bytes.count, bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u") else {
                throw corrupted("a lone UTF-16 surrogate")
            }
            position += 2
            let low = try hexQuad()
            guard (0xDC00...0xDFFF).contains(low) else { throw corrupted("a lone UTF-16 surrogate") }
            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
        }
        guard let unicode = Unicode.Scalar(scalar) else { throw corrupted("a lone UTF-16 surrogate") }
        output.append(contentsOf: String(Character(unicode)).utf8)
    }
}


/// The `Decoder` over a `WireValue`.
final class WireValueDecoder: Decoder {
    let value: WireValue
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(_ value: WireValue, codingPath: [any CodingKey]) {
        self.value = value
        self.codingPath = codingPath
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let members) = value else {
            throw Self.mismatch([String: Any].self, value, codingPath)
        }
        return KeyedDecodingContainer(WireKeyedDecodingContainer<Key>(members: members, codingPath: codingPath))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .array(let items) = value else { throw Self.mismatch([Any].self, value, codingPath) }
        return WireUnkeyedDecodingContainer(items: items, codingPath: codingPath)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { WireSingleValueDecodingContainer(decoder: self) }

    static func mismatch(_ type: Any.Type, _ value: WireValue, _ codingPath: [any CodingKey]) -> DecodingError {
        if case .null = value {
            return .valueNotFound(
                type, DecodingError.Context(codingPath: codingPath, debugDescription: "Expected \(type) value but found null instead."))
        }
        return .typeMismatch(
            type, DecodingError.Context(codingPath: codingPath, debugDescription: "Expected to decode \(type) but found \(value.kind) instead."))
    }

    /// `value` as `T`: scalars and the types the wire writes as strings (UUIDs, timestamps, URLs,
    /// data; "must be a string" when they are something else) directly; anything else through its `init(from:)`. The coding path is built only when
    /// it is needed (a container, an error).
    static func unbox<T: Decodable>(_ value: WireValue, as type: T.Type, codingPath: @autoclosure () -> [any CodingKey]) throws -> T {
        let id = ObjectIdentifier(T.self)
        if id == ObjectIdentifier(String.self) {
            guard case .string(let text) = value, let result = text as? T else { throw mismatch(T.self, value, codingPath()) }
            return result
        }
        if id == ObjectIdentifier(UUID.self) {
            guard case .string(let text) = value else { throw mismatch(String.self, value, codingPath()) }
            guard let uuid = UUID(parsing: text), let result = uuid as? T else {
                throw DecodingError.dataCorrupted(
                    DecodingError.Context(codingPath: codingPath(), debugDescription: "Attempted to decode UUID from invalid UUID string."))
            }
            return result
        }
        if id == ObjectIdentifier(Date.self) {
            guard case .string(let text) = value else { throw mismatch(String.self, value, codingPath()) }
            guard let date = WireCoding.parseTimestamp(text), let result = date as? T else {
                throw DecodingError.dataCorrupted(
                    DecodingError.Context(codingPath: codingPath(), debugDescription: "'\(text)' is not an ISO-8601 timestamp"))
            }
            return result
        }
        if id == ObjectIdentifier(Int.self) { return try cast(integer(value, as: Int.self, codingPath()), value, codingPath()) }
        if id == ObjectIdentifier(Bool.self) {
            guard case .bool(let flag) = value, let result = flag as? T else { throw mismatch(T.self, value, codingPath()) }
            return result
        }
        if id == ObjectIdentifier(Double.self) { return try cast(floating(value, codingPath()), value, codingPath()) }
        if id == ObjectIdentifier(Int64.self) { return try cast(integer(value, as: Int64.self, codingPath()), value, codingPath()) }
        if id == ObjectIdentifier(Int32.self) { return try cast(integer(value, as: Int32.self, codingPath()), value, codingPath()) }
        if id == ObjectIdentifier(UInt64.self) { return try cast(integer(value, as: UInt64.self, codingPath()), value, codingPath()) }
        if id == ObjectIdentifier(Float.self) {
            return try cast(Float(floating(value, codingPath())), value, codingPath())
        }
        if id == ObjectIdentifier(URL.self) {
            guard case .string(let text) = value else { throw mismatch(String.self, value, codingPath()) }
            guard let url = URL(string: text), let result = url as? T else {
                throw DecodingError.dataCorrupted(DecodingError.Context(codingPath: codingPath(), debugDescription: "Invalid URL string."))
            }
            return result
        }
        if id == ObjectIdentifier(Data.self) {
            guard case .string(let text) = value else { throw mismatch(String.self, value, codingPath()) }
            guard let data = Data(base64Encoded: text), let result = data as? T else {
                throw DecodingError.dataCorrupted(
                    DecodingError.Context(codingPath: codingPath(), debugDescription: "Encountered Data is not valid Base64."))
            }
            return result
        }
        if id == ObjectIdentifier(Decimal.self) {
            guard case .number(let text) = value, let decimal = Decimal(string: text, locale: Locale(identifier: "en_US_POSIX")),
                let result = decimal as? T
            else { throw mismatch(T.self, value, codingPath()) }
            return result
        }
        if let readable = T.self as? any WireReadable.Type {
            guard case .object(let members) = value else { throw mismatch([String: Any].self, value, codingPath()) }
            return try cast(try readable.init(wire: WireReader(members: members, codingPath: codingPath())), value, codingPath())
        }
        return try T(from: WireValueDecoder(value, codingPath: codingPath()))
    }

    /// `result`, of the type `T` was found to be.
    static func cast<T>(_ result: Any, _ value: WireValue, _ codingPath: @autoclosure () -> [any CodingKey]) throws -> T {
        guard let typed = result as? T else { throw mismatch(T.self, value, codingPath()) }
        return typed
    }

    static func integer<I: FixedWidthInteger>(_ value: WireValue, as type: I.Type, _ codingPath: @autoclosure () -> [any CodingKey]) throws -> I {
        guard case .number(let text) = value else { throw mismatch(I.self, value, codingPath()) }
        if let integer = I(text) { return integer }
        // `1.0` and `1e3` are whole numbers too; `1.5` and `1e30` are not this type.
        if let double = Double(text), let integer = I(exactly: double) { return integer }
        throw DecodingError.dataCorrupted(
            DecodingError.Context(codingPath: codingPath(), debugDescription: "Parsed JSON number <\(text)> does not fit in \(I.self)."))
    }

    static func floating(_ value: WireValue, _ codingPath: @autoclosure () -> [any CodingKey]) throws -> Double {
        guard case .number(let text) = value else { throw mismatch(Double.self, value, codingPath()) }
        guard let double = Double(text), double.isFinite else {
            throw DecodingError.dataCorrupted(
                DecodingError.Context(codingPath: codingPath(), debugDescription: "Parsed JSON number <\(text)> does not fit in Double."))
        }
        return double
    }
}

struct WireKeyedDecodingContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let members: [(key: String, value: WireValue)]
    let codingPath: [any CodingKey]

    var allKeys: [Key] { members.compactMap { Key(stringValue: $0.key) } }

    func contains(_ key: Key) -> Bool { lookup(key) != nil }

    func lookup(_ key: Key) -> WireValue? { WireValue.member(key.stringValue, of: members) }

    func require(_ key: Key) throws -> WireValue {
        guard let value = lookup(key) else { throw WireValue.missing(key, at: codingPath) }
        return value
    }

    func decodeNil(forKey key: Key) throws -> Bool {
        guard case .null = try require(key) else { return false }
        return true
    }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try WireValueDecoder.unbox(try require(key), as: type, codingPath: codingPath + [key])
    }

    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard let value = lookup(key) else { return nil }
        if case .null = value { return nil }
        return try WireValueDecoder.unbox(value, as: type, codingPath: codingPath + [key])
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try WireValueDecoder(try require(key), codingPath: codingPath + [key]).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try WireValueDecoder(try require(key), codingPath: codingPath + [key]).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder {
        WireValueDecoder(lookup(WireDecodingKey.super) ?? .null, codingPath: codingPath + [WireDecodingKey.super])
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        WireValueDecoder(lookup(key) ?? .null, codingPath: codingPath + [key])
    }

    private func lookup(_ key: WireDecodingKey) -> WireValue? { WireValue.member(key.stringValue, of: members) }
}

struct WireUnkeyedDecodingContainer: UnkeyedDecodingContainer {
    let items: [WireValue]
    let codingPath: [any CodingKey]
    var currentIndex = 0

    init(items: [WireValue], codingPath: [any CodingKey]) {
        self.items = items
        self.codingPath = codingPath
    }

    var count: Int? { items.count }
    var isAtEnd: Bool { currentIndex >= items.count }

    mutating func next(_ type: Any.Type) throws -> WireValue {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(
                type,
                DecodingError.Context(
                    codingPath: codingPath + [WireDecodingKey(index: currentIndex)], debugDescription: "Unkeyed container is at end."))
        }
        defer { currentIndex += 1 }
        return items[currentIndex]
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd else {
            _ = try next(Never.self)
            return false
        }
        guard case .null = items[currentIndex] else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let index = currentIndex
        let value = try next(type)
        return try WireValueDecoder.unbox(value, as: type, codingPath: codingPath + [WireDecodingKey(index: index)])
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        let index = currentIndex
        let value = try next([String: Any].self)
        return try WireValueDecoder(value, codingPath: codingPath + [WireDecodingKey(index: index)]).container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let index = currentIndex
        let value = try next([Any].self)
        return try WireValueDecoder(value, codingPath: codingPath + [WireDecodingKey(index: index)]).unkeyedContainer()
    }

    mutating func superDecoder() throws -> any Decoder {
        let index = currentIndex
        let value = try next(Any.self)
        return WireValueDecoder(value, codingPath: codingPath + [WireDecodingKey(index: index)])
    }
}

struct WireSingleValueDecodingContainer: SingleValueDecodingContainer {
    let decoder: WireValueDecoder
    var codingPath: [any CodingKey] { decoder.codingPath }

    func decodeNil() -> Bool {
        guard case .null = decoder.value else { return false }
        return true
    }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try WireValueDecoder.unbox(decoder.value, as: type, codingPath: decoder.codingPath)
    }
}

struct WireDecodingKey: CodingKey {
    let stringValue: String
    let intValue: Int?

    init(index: Int) {
        stringValue = "Index \(index)"
        intValue = index
    }

    init?(stringValue: String) {
        self.stringValue = stringValue
        intValue = nil
    }

    init?(intValue: Int) { self.init(index: intValue) }

    static let `super` = WireDecodingKey(stringValue: "super") ?? WireDecodingKey(index: 0)
}
