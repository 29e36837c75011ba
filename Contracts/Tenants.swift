import Foundation

public enum Tenants {
    /// The tenant of a single-clinic install, and of messages published without one.
    public static let defaultTenant = UUID(uuid: (0, 0, 0, 0, 0, 0, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, 1))
}
