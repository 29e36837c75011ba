import Contracts
import Foundation
import Hummingbird

/// Who made a request, from a verified access token.
public struct AuthenticatedUser: Sendable, Equatable {
    public var id: UUID
    public var tenantId: UUID
    public var role: Role

    public init(id: UUID, tenantId: UUID, role: Role) {
        self.id = id
        self.tenantId = tenantId
        self.role = role
    }

    public var principal: Principal { Principal(role: role, userId: id) }
}

/// Per-request state: the caller (once authenticated), the peer address and the correlation id.
public struct IngressContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var user: AuthenticatedUser?
    public var remoteAddress: String
    public var requestId: String

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
