import Crypto
import Foundation

/// The Standard Webhooks signature scheme (standardwebhooks.com): a receiver recomputes
/// `HMAC-SHA256(key, "<webhook-id>.<webhook-timestamp>.<body>")` with the endpoint's secret and
/// compares it with `webhook-signature`, and refuses timestamps far from its clock, so neither a
/// forged nor a replayed delivery passes.
public enum WebhookSigning {
    static let secretPrefix = "whsec_"

    /// A new endpoint secret: `whsec_` and the base64 of 24 random bytes.
    public static func newSecret() -> String {
        secretPrefix + Data(SymmetricKey(size: .init(bitCount: 192)).withUnsafeBytes { Array($0) }).base64EncodedString()
    }

    /// The key bytes of a `whsec_…` secret; nil for anything else.
    public static func key(of secret: String) -> SymmetricKey? {
        guard secret.hasPrefix(secretPrefix), let bytes = Data(base64Encoded: String(secret.dropFirst(secretPrefix.count))),
            !bytes.isEmpty
        else { return nil }
        return SymmetricKey(data: bytes)
    }

    /// `v1,<base64 signature>` of one delivery.
    public static func signature(id: String, timestamp: Int, body: String, key: SymmetricKey) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data("\(id).\(timestamp).\(body)".utf8), using: key)
        return "v1," + Data(mac).base64EncodedString()
    }

    /// What a receiver does: true when one of the space-separated `v1,` signatures matches.
    public static func verify(id: String, timestamp: Int, body: String, signatures: String, secret: String) -> Bool {
        guard let key = key(of: secret) else { return false }
        let content = Data("\(id).\(timestamp).\(body)".utf8)
        return signatures.split(separator: " ").contains { candidate in
            guard candidate.hasPrefix("v1,"), let mac = Data(base64Encoded: String(candidate.dropFirst(3))) else { return false }
            return HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: content, using: key)
        }
    }
}
