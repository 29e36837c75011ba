import Contracts
import Foundation
import JWTKit
import Synchronization

/// Who made a request, from a verified access token.
public struct AuthenticatedUser: Sendable, Equatable {
    public var id: UUID
    public var tenantId: UUID
    public var role: Role
    /// The session the token was issued for: revoking it refuses the token at once.
    public var sessionId: UUID
    /// When the token expires (a stream opened with it ends then).
    public var expiresAt: Date

    public init(id: UUID, tenantId: UUID, role: Role, sessionId: UUID, expiresAt: Date = .distantFuture) {
        self.id = id
        self.tenantId = tenantId
        self.role = role
        self.sessionId = sessionId
        self.expiresAt = expiresAt
    }

    public var principal: Principal { Principal(role: role, userId: id) }
}

/// The claims of an access token: `sub` (user), `tid` (tenant), `role`, `sid` (session), and the
/// registered `iss`, `aud`, `iat`, `nbf`, `exp`, `jti`.
struct AccessClaims: JWTPayload, Equatable {
    var sub: SubjectClaim
    var tid: String
    var role: String
    var sid: String
    var iss: IssuerClaim
    var aud: AudienceClaim
    var iat: IssuedAtClaim
    var nbf: NotBeforeClaim
    var exp: ExpirationClaim
    var jti: IDClaim

    /// Signature, expiry and not-before are checked by jwt-kit; issuer and audience by `AccessTokens`.
    func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp.verifyNotExpired()
        try nbf.verifyNotBefore()
    }
}

/// Access tokens: JWTs (HS256 through jwt-kit) with a key id, so keys can be rotated: tokens are
/// signed with the current key and verified with it or any previous key still configured.
///
/// A verified token is remembered until it expires (a bounded cache), so a client that sends the
/// same token with every request pays for the signature and the JSON once; revocation is
/// checked on every request anyway (`RevokedSessions`).
public final class AccessTokens: Sendable {
    public struct Key: Sendable {
        public var id: String
        public var secret: String

        public init(id: String, secret: String) {
            self.id = id
            self.secret = secret
        }
    }

    public enum Rejection: Error, Equatable, Sendable {
        case malformed, badSignature, expired, notYetValid, wrongIssuer, wrongAudience
    }

    public let lifetime: TimeInterval
    public let issuer: String
    public let audience: String
    private let signingKey: String
    private let keys: JWTKeyCollection
    private let verified = Mutex(VerifiedTokens())

    struct VerifiedTokens {
        var byToken: [String: (user: AuthenticatedUser, expires: Date)] = [:]
        static let capacity = 50_000
    }

    /// `keys[0]` signs; every key verifies.
    public init(keys: [Key], lifetime: TimeInterval, issuer: String = "carefleet", audience: String = "carefleet-api") async throws {
        guard let current = keys.first else { throw ConfigurationProblem("auth.jwt.secret: at least one key is needed") }
        for key in keys where key.secret.utf8.count < 32 {
            throw ConfigurationProblem("the JWT key '\(key.id)' must be at least 32 bytes")
        }
        self.lifetime = lifetime
        self.issuer = issuer
        self.audience = audience
        signingKey = current.id
        let collection = JWTKeyCollection()
        for key in keys {
            await collection.add(hmac: HMACKey(from: key.secret), digestAlgorithm: .sha256, kid: JWKIdentifier(string: key.id))
        }
        self.keys = collection
    }

    public func issue(for user: AuthenticatedUser, now: Date = Date()) async throws -> String {
        let claims = AccessClaims(
            sub: SubjectClaim(value: user.id.canonical), tid: user.tenantId.canonical,
            role: user.role.rawValue, sid: user.sessionId.canonical, iss: IssuerClaim(value: issuer),
            aud: AudienceClaim(value: [audience]), iat: IssuedAtClaim(value: now), nbf: NotBeforeClaim(value: now.addingTimeInterval(-5)),
            exp: ExpirationClaim(value: now.addingTimeInterval(lifetime)), jti: IDClaim(value: UUID().canonical))
        return try await keys.sign(claims, kid: JWKIdentifier(string: signingKey))
    }

    /// The user a token speaks for; fails when it is malformed, forged, expired or not for us.
    public func verify(_ token: String, now: Date = Date()) async throws(Rejection) -> AuthenticatedUser {
        if let cached = verified.withLock({ $0.byToken[token] }) {
            guard cached.expires > now else { throw .expired }
            return cached.user
        }
        guard token.utf8.count <= 4_096, token.split(separator: ".", omittingEmptySubsequences: false).count == 3 else {
            throw .malformed
        }
        let claims: AccessClaims
        do {
            claims = try await keys.verify(token, as: AccessClaims.self)
        } catch let error as JWTError {
            switch error.errorType {
            case .claimVerificationFailure:
                throw error.failedClaim is NotBeforeClaim ? .notYetValid : .expired
            case .signatureVerificationFailed: throw .badSignature
            default: throw .malformed
            }
        } catch {
            throw .malformed
        }
        guard claims.iss.value == issuer else { throw .wrongIssuer }
        guard claims.aud.value.contains(audience) else { throw .wrongAudience }
        guard let id = UUID(parsing: claims.sub.value), let tenant = UUID(parsing: claims.tid),
            let role = Role(rawValue: claims.role), role != .system, let session = UUID(parsing: claims.sid)
        else { throw .malformed }
        let user = AuthenticatedUser(id: id, tenantId: tenant, role: role, sessionId: session, expiresAt: claims.exp.value)
        verified.withLock { cache in
            if cache.byToken.count >= VerifiedTokens.capacity {
                // Forget the expired first; if the cache is full of live tokens, start afresh.
                cache.byToken = cache.byToken.filter { $0.value.expires > now }
                if cache.byToken.count >= VerifiedTokens.capacity { cache.byToken.removeAll(keepingCapacity: true) }
            }
            cache.byToken[token] = (user, claims.exp.value)
        }
        return user
    }
}

/// A configuration value the ingress cannot start with.
public struct ConfigurationProblem: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
