import Contracts
import Foundation
import Hummingbird

/// Per-request state: the caller (once authenticated), the peer address, the client's
/// description of itself and the correlation id.
public struct IngressContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var user: AuthenticatedUser?
    public var remoteAddress: String
    public var requestId: String

    /// Request bodies of the API are small JSON objects: the largest valid one (10,000 characters
    /// of notes, each possibly escaped as a 12-byte surrogate pair) fits, a megabyte does not.
    public var maxUploadSize: Int { 256 * 1024 }

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress?.ipAddress ?? "unknown"
        requestId = ""
    }

    /// The authenticated caller, or 401.
    public func requireUser() throws -> AuthenticatedUser {
        guard let user else { throw APIError.unauthorized("a valid access token is required") }
        return user
    }

    /// The caller, who must have one of `roles`, or 403.
    public func requireRole(_ roles: Role...) throws -> AuthenticatedUser {
        let user = try requireUser()
        guard roles.contains(user.role) else { throw APIError.forbidden("this needs the role \(roles.map(\.rawValue).joined(separator: " or "))") }
        return user
    }
}
