/// Why a message failed, as written in the `x-error-class` header of a dead letter.
/// Extensible: a handler may name its own permanent class (e.g. `smtp_rejected`).
public struct ErrorClass: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }

    /// Bytes that are not an envelope, or a payload that does not match its type.
    public static let undecodable = ErrorClass("undecodable")
    /// A `type` nobody here knows.
    public static let unknownType = ErrorClass("unknown_type")
    /// A known `type` in a `version` nobody here knows.
    public static let unknownVersion = ErrorClass("unknown_version")
    /// Decoded but breaks a contract rule.
    public static let validation = ErrorClass("validation")
    /// The handler says this message can never succeed.
    public static let permanent = ErrorClass("permanent")
    /// Failed every try of the retry ladder with transient errors.
    public static let transient = ErrorClass("transient")
    /// The email worker cannot tell whether the SMTP server took the email: sending it again may
    /// make a second copy (`fleet dlq replay` asks for `--allow-possible-duplicates`).
    public static let deliveryUnknown = ErrorClass("delivery_unknown")

    /// Classes that go to the dead-letter topic at once, without retrying.
    public var isPoison: Bool {
        self == .undecodable || self == .unknownType || self == .unknownVersion || self == .validation
    }
}
