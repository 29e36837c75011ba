import Foundation

/// A payload type of the wire contract. `messageType` + `version` select its decoder.
public protocol MessagePayload: Codable, Sendable, Equatable {
    static var messageType: String { get }
    static var version: Int { get }
    /// Checks what the type system cannot (e.g. end after start). A failure is permanent.
    func validate() throws(ContractError)
}

extension MessagePayload {
    public func validate() throws(ContractError) {}
}

/// Why bytes are not a message we can handle. Each case is its own error class in dead letters.
public enum ContractError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Not JSON, or not an envelope, or a payload that does not match its type.
    case undecodable(String)
    /// A `type` this catalog does not know.
    case unknownType(String)
    /// A known `type` with a `version` this catalog does not know.
    case unknownVersion(type: String, version: Int)
    /// Decoded, but breaks a rule of the contract.
    case invalid(field: String, reason: String)

    public var errorClass: ErrorClass {
        switch self {
        case .undecodable: .undecodable
        case .unknownType: .unknownType
        case .unknownVersion: .unknownVersion
        case .invalid: .validation
        }
    }

    public var description: String {
        switch self {
        case .undecodable(let reason): "undecodable message: \(reason)"
        case .unknownType(let type): "unknown message type '\(type)'"
        case .unknownVersion(let type, let version): "unknown version \(version) of message type '\(type)'"
        case .invalid(let field, let reason): "invalid field '\(field)': \(reason)"
        }
    }
}
