import Foundation

/// A type that reads itself from a parsed wire object, without `Decoder`'s containers.
///
/// `Decodable` through `WireValueDecoder` costs a keyed container box, a generic metadata lookup
/// and a coding path per member: `perf` of the notification worker under the booking bench put
/// decoding at 13% of its CPU, `EnvelopeMetadata.init(from:)` alone at 4%. A reader asks for its
/// members by name, in the order the synthesized `init(from:)` decodes them (declaration order),
/// and each member's value goes through the same `unbox` as before: the same values, and for bad
/// input the same `DecodingError`s with the same coding paths (`WireReaderTests` checks both).
public protocol WireReadable: Decodable {
    init(wire reader: WireReader) throws
}

/// The members of one wire object, as a reader sees them.
public struct WireReader {
    let members: [(key: String, value: WireValue)]
    let codingPath: [any CodingKey]

    /// A member that must be there (a `null` is a value: the type says whether it may be one).
    public func required<T: Decodable>(_ name: String, as type: T.Type = T.self) throws -> T {
        guard let value = WireValue.member(name, of: members) else { throw WireValue.missing(WireDecodingKey(member: name), at: codingPath) }
        return try WireValueDecoder.unbox(value, as: type, codingPath: codingPath + [WireDecodingKey(member: name)])
    }

    /// A member that may be missing or `null`.
    public func optional<T: Decodable>(_ name: String, as type: T.Type = T.self) throws -> T? {
        guard let value = WireValue.member(name, of: members) else { return nil }
        if case .null = value { return nil }
        return try WireValueDecoder.unbox(value, as: type, codingPath: codingPath + [WireDecodingKey(member: name)])
    }
}

extension WireDecodingKey {
    init(member name: String) {
        stringValue = name
        intValue = nil
    }
}
