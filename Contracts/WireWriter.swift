import Foundation
import Identifiers

/// A message that writes its own wire JSON straight to bytes: the messages a worker sends
/// thousands of per second (commands, booking events, notifications and email requests).
///
/// `WireEncoder` builds a tree of every value through `Encodable` (a box, a dynamic cast and a
/// sorted insertion per member) and then writes it: `perf` of the notification worker under the
/// booking bench put 42% of its CPU there. A writer knows its members and their order, and
/// writes them once. `WireEncoder` takes this path for a top-level value that has it, so a
/// writer must give exactly the bytes the tree gives: keys in the order of their UTF-8 bytes,
/// nil optionals left out. `WireWriterTests` holds every writer to that, byte for byte.
public protocol WireWritable: Encodable {
    /// Writes the value as one JSON value: an object, members in key order.
    func write(to writer: inout WireWriter)
}

extension WireWritable {
    /// The value's wire JSON.
    public func wireBytes() -> [UInt8] {
        var writer = WireWriter()
        write(to: &writer)
        return writer.bytes
    }
}

/// Appends wire JSON to a byte array. Keys are static (Swift names, nothing to escape); values
/// are written as `WireEncoder` writes them.
public struct WireWriter {
    public private(set) var bytes: [UInt8]
    /// Whether the next member needs a comma before it: false right after `{`.
    private var needsComma = false

    public init(capacity: Int = 512) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// `{`, the members `body` writes (in key order), `}`.
    public mutating func object(_ body: (inout WireWriter) -> Void) {
        bytes.append(UInt8(ascii: "{"))
        needsComma = false
        body(&self)
        bytes.append(UInt8(ascii: "}"))
        // The object was a member's value (or the whole document): what follows needs a comma.
        needsComma = true
    }

    private mutating func key(_ name: StaticString) {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
        bytes.append(UInt8(ascii: "\""))
        name.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
        needsComma = true
    }

    public mutating func member(_ name: StaticString, _ value: String) {
        key(name)
        WireNode.writeString(value, into: &bytes)
    }

    public mutating func member(_ name: StaticString, _ value: UUID) {
        key(name)
        WireNode.writeUUID(value, into: &bytes)
    }

    public mutating func member(_ name: StaticString, _ value: Date) {
        key(name)
        WireNode.writeTimestamp(value, into: &bytes)
    }

    public mutating func member(_ name: StaticString, _ value: Int) {
        key(name)
        Self.appendDecimal(value, to: &bytes)
    }

    public mutating func member(_ name: StaticString, _ value: Bool) {
        key(name)
        bytes.append(contentsOf: (value ? "true" : "false").utf8)
    }

    /// An enum with string raw values (roles, statuses, reasons), written as its raw value.
    public mutating func member<Value: RawRepresentable<String>>(_ name: StaticString, _ value: Value) {
        member(name, value.rawValue)
    }

    public mutating func member<Value: WireWritable>(_ name: StaticString, _ value: Value) {
        key(name)
        value.write(to: &self)
    }

    // Optionals: a nil member is left out, as `WireEncoder` (and JSONEncoder) leave it out.

    public mutating func member(_ name: StaticString, _ value: String?) {
        if let value { member(name, value) }
    }

    public mutating func member(_ name: StaticString, _ value: UUID?) {
        if let value { member(name, value) }
    }

    public mutating func member(_ name: StaticString, _ value: Date?) {
        if let value { member(name, value) }
    }

    public mutating func member(_ name: StaticString, _ value: Int?) {
        if let value { member(name, value) }
    }

    public mutating func member(_ name: StaticString, _ value: Bool?) {
        if let value { member(name, value) }
    }

    public mutating func member<Value: RawRepresentable<String>>(_ name: StaticString, _ value: Value?) {
        if let value { member(name, value.rawValue) }
    }

    public mutating func member<Value: WireWritable>(_ name: StaticString, _ value: Value?) {
        if let value { member(name, value) }
    }

    /// The decimal digits of `value`, as `String(value)` writes them, without the `String`.
    static func appendDecimal(_ value: Int, to bytes: inout [UInt8]) {
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        // The magnitude, so that Int.min has one too.
        var rest = value.magnitude
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
            UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        withUnsafeMutableBytes(of: &digits) { buffer in
            repeat {
                buffer[19 - count] = UInt8(48 + rest % 10)
                rest /= 10
                count += 1
            } while rest > 0
            bytes.append(contentsOf: buffer[(20 - count)...])
        }
    }
}
