import Foundation

// Emails about an account itself rather than an appointment, on `notifications.email` (keyed by
// recipient user id): verify a new address, a notice that someone tried to register with an
// address that has an account, a link for a new clinic admin to set a password, a notice to the
// admins that a webhook endpoint was disabled.

public enum AccountEmailKind: String, Codable, Sendable, CaseIterable {
    /// A new account: follow the link to verify the address (and sign in).
    case verifyEmail = "verify_email"
    /// Someone registered with an address that already has an account: sign in or reset.
    case alreadyRegistered = "already_registered"
    /// A new account made for the recipient (a clinic's first admin): set a password.
    case setPassword = "set_password"
    /// A webhook endpoint of the clinic failed for too long and was disabled (to each admin).
    case webhookDisabled = "webhook_disabled"

    /// Kinds whose email is about a one-time link.
    public var needsLink: Bool { self == .verifyEmail || self == .setPassword }
}

public struct AccountEmailRequested: MessagePayload {
    public static let messageType = "notification.account_email_requested"
    public static let version = 1
    /// Sent once per key, like every email.
    public var idempotencyKey: String
    public var kind: AccountEmailKind
    public var recipient: EmailRecipient
    /// The clinic the account belongs to.
    public var clinicName: String
    /// A one-time link (verify, set password); nil for notices. Single use and short-lived: the
    /// ingress keeps only a hash of the token in it.
    public var link: String?
    public var linkExpiresAt: Date?
    /// What happened, in plain words, for notices such as `webhook_disabled` (never health data).
    public var detail: String?

    public init(
        idempotencyKey: String, kind: AccountEmailKind, recipient: EmailRecipient, clinicName: String, link: String? = nil,
        linkExpiresAt: Date? = nil, detail: String? = nil
    ) {
        self.idempotencyKey = idempotencyKey
        self.kind = kind
        self.recipient = recipient
        self.clinicName = clinicName
        self.link = link
        self.linkExpiresAt = linkExpiresAt
        self.detail = detail
    }

    public func validate() throws(ContractError) {
        try EmailValidation.key(idempotencyKey)
        try EmailValidation.address(recipient.email)
        if kind.needsLink, link == nil {
            throw .invalid(field: "payload.link", reason: "a \(kind.rawValue) email needs its link")
        }
    }
}

/// Rules every email request follows.
enum EmailValidation {
    static func key(_ key: String) throws(ContractError) {
        guard !key.isEmpty, key.count <= 300 else {
            throw .invalid(field: "payload.idempotencyKey", reason: "must be 1 to 300 characters")
        }
    }

    static func address(_ email: String) throws(ContractError) {
        guard email.contains("@"), !email.contains(where: { $0 == "\r" || $0 == "\n" || $0 == "\0" }) else {
            throw .invalid(field: "payload.recipient.email", reason: "must be an email address")
        }
    }
}
