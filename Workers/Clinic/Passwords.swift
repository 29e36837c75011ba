import Dispatch
import HummingbirdBcrypt

/// bcrypt hashing off the cooperative pool (a hash takes tens to hundreds of milliseconds).
public struct Passwords: Sendable {
    /// log2 of bcrypt's rounds: 12 in production, 4 (the minimum) in tests.
    public let cost: UInt8
    private static let queue = DispatchQueue(label: "carefleet.bcrypt", attributes: .concurrent)

    public init(cost: Int) {
        self.cost = UInt8(min(31, max(4, cost)))
    }

    public func hash(_ password: String) async -> String {
        let cost = self.cost
        return await withCheckedContinuation { continuation in
            Self.queue.async { continuation.resume(returning: Bcrypt.hash(password, cost: cost)) }
        }
    }

    /// Hashes on the calling thread (start-up only).
    public func hashSynchronously(_ password: String) -> String { Bcrypt.hash(password, cost: cost) }

    public func verify(_ password: String, hash: String) async -> Bool {
        await withCheckedContinuation { continuation in
            Self.queue.async { continuation.resume(returning: Bcrypt.verify(password, hash: hash)) }
        }
    }

    /// The rules every new password meets.
    public static func problem(with password: String) -> String? {
        if password.count < 10 { return "must be at least 10 characters" }
        if password.count > 200 { return "must be at most 200 characters" }
        return nil
    }
}
