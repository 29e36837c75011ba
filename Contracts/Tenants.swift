import Foundation

public enum Tenants {
    /// The tenant of a single-clinic install, and of messages published without one.
    public static let defaultTenant = UUID(uuid: (0, 0, 0, 0, 0, 0, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, 1))

    /// The tenant of platform operators: no clinic, no patients; it is never disabled.
    public static let platformTenant = UUID(uuid: (0, 0, 0, 0, 0, 0, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0xff, 0xff))
}
