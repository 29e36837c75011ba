import Foundation

/// A role within one tenant. `system` is a program acting on its own (reminders, replays).
public enum Role: String, Codable, Sendable, CaseIterable {
    case patient, doctor, admin, system
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
