import Foundation

/// A role within one tenant. `system` is a program acting on its own (reminders, replays).
/// `platform` is an operator of the whole installation (creates and disables clinics); such
/// accounts live only in the platform's own tenant, made by `fleet`, never through a clinic's API.
public enum Role: String, Codable, Sendable, CaseIterable {
    case patient, doctor, admin, system, platform
}

/// Who caused a message: the `actor` field of the envelope.
public struct Principal: Codable, Sendable, Hashable {
    public var role: Role
    /// The user's id; `nil` only for `system`.
    public var userId: UUID?

    public init(role: Role, userId: UUID?) {
        self.role = role
        self.userId = userId
    }

    public static let system = Principal(role: .system, userId: nil)
}
