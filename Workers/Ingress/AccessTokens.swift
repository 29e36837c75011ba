import Contracts
import Crypto
import Foundation

/// Short-lived access tokens: JWTs signed with HMAC-SHA256 (`alg: HS256`). Claims: `sub` (user),
/// `tid` (tenant), `role`, `iat`, `exp`, `jti`.
public struct AccessTokens: Sendable {
    private let key: SymmetricKey
    public let lifetime: TimeInterval

    public init(secret: String, lifetime: TimeInterval) {
        key = SymmetricKey(data: Data(secret.utf8))
        self.lifetime = lifetime
    }

    struct Claims: Codable {
        var sub: UUID
        var tid: UUID
        var role: Role
        var iat: Int
        var exp: Int
        var jti: UUID
    }

    public func issue(for user: AuthenticatedUser, now: Date = Date()) -> String {
        let claims = Claims(
            sub: user.id, tid: user.tenantId, role: user.role, iat: Int(now.timeIntervalSince1970),
            exp: Int(now.timeIntervalSince1970 + lifetime), jti: UUID())
        let header = Self.base64URL(Data(#"{"alg":"HS256","typ":"JWT"}"#.utf8))
        let payload = Self.base64URL((try? JSONEncoder().encode(claims)) ?? Data())
        let signature = Self.base64URL(Data(HMAC<SHA256>.authenticationCode(for: Data("\(header).\(payload)".utf8), using: key)))
        return "\(header).\(payload).\(signature)"
    }

    public enum Rejection: Error, Equatable { case malformed, badSignature, expired }

    /// The user a token speaks for; fails when it is malformed, tampered with or expired.
    public func verify(_ token: String, now: Date = Date()) throws(Rejection) -> AuthenticatedUser {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let header = Self.decodeBase64URL(parts[0]), let payload = Self.decodeBase64URL(parts[1]),
            let signature = Self.decodeBase64URL(parts[2])
        else { throw .malformed }
        guard let headerObject = try? JSONSerialization.jsonObject(with: header) as? [String: Any],
            headerObject["alg"] as? String == "HS256"
        else { throw .malformed }
        guard HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: Data("\(parts[0]).\(parts[1])".utf8), using: key)
        else { throw .badSignature }
        guard let claims = try? JSONDecoder().decode(Claims.self, from: payload) else { throw .malformed }
        guard Double(claims.exp) > now.timeIntervalSince1970 else { throw .expired }
        return AuthenticatedUser(id: claims.sub, tenantId: claims.tid, role: claims.role)
    }

    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func decodeBase64URL(_ text: Substring) -> Data? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64)
    }
}

/// Opaque refresh tokens (256 random bits); only their SHA-256 is stored.
enum RefreshTokens {
    static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return AccessTokens.base64URL(Data(bytes))
    }

    static func hash(_ token: String) -> String {
        SHA256.hash(data: Data(token.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}
