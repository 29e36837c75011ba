import Contracts
import Foundation

/// The message type of runtime tests: a numbered piece of work.
public struct ProbeWork: MessagePayload {
    public static let messageType = "test.work"
    public static let version = 1
    public var n: Int
    /// What a test handler should do with it (tests define the meaning, e.g. "fail").
    public var behaviour: String?

    public init(n: Int, behaviour: String? = nil) {
        self.n = n
        self.behaviour = behaviour
    }

    public static let catalog = MessageCatalog([ProbeWork.self])

    /// A whole envelope of this payload, encoded.
    public static func envelope(_ n: Int, behaviour: String? = nil, id: UUID = UUID()) throws -> Data {
        try Envelope(
            id: id, correlationId: "probe-\(n)", tenantId: Tenants.defaultTenant, actor: .system,
            payload: ProbeWork(n: n, behaviour: behaviour)
        ).encoded()
    }
}
