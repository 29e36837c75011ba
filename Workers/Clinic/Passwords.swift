import HummingbirdBcrypt
import NIOPosix

/// bcrypt off the cooperative pool, on NIO's bounded thread pool (a hash takes tens to hundreds
/// of milliseconds; an unbounded queue would let a burst of logins start a thread each).
///
/// bcrypt reads its input as a C string and only its first 72 bytes: a NUL would cut the password
/// short and two long passwords sharing 72 bytes would collide. New passwords with either are
/// refused (`problem(with:)`), and a password that could not have been set never reaches bcrypt:
/// `verify` answers false for it after the same amount of work.
public struct Passwords: Sendable {
    /// log2 of bcrypt's rounds: 12 in production, 4 (the minimum) in tests.
    public let cost: UInt8
    /// bcrypt's limit on the password's length in bytes.
    public static let maximumBytes = 72

    public init(cost: Int) {
        self.cost = UInt8(min(31, max(4, cost)))
    }

    public func hash(_ password: String) async throws -> String {
        guard Self.problem(with: password) == nil else { throw PasswordError.unacceptable }
        let cost = self.cost
        return try await NIOThreadPool.singleton.runIfActive { Bcrypt.hash(password, cost: cost) }
    }

    /// Hashes on the calling thread (start-up only).
    public func hashSynchronously(_ password: String) -> String { Bcrypt.hash(password, cost: cost) }

    public func verify(_ password: String, hash: String) async throws -> Bool {
        // A password no account can have still costs one bcrypt, so timing tells nothing.
        let acceptable = Self.isStorable(password)
        let candidate = acceptable ? password : "unacceptable password stand-in"
        let matches = try await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(candidate, hash: hash) }
        return acceptable && matches
    }

    /// The rules every new password meets; nil when it meets them.
    public static func problem(with password: String) -> String? {
        if password.count < 10 { return "must be at least 10 characters" }
        if password.utf8.count > maximumBytes { return "must be at most \(maximumBytes) bytes (UTF-8)" }
        if password.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            return "must not contain control characters"
        }
        return nil
    }

    static func isStorable(_ password: String) -> Bool {
        password.utf8.count <= maximumBytes && !password.utf8.contains(0)
    }
}

public enum PasswordError: Error, Sendable {
    /// `hash` was asked for a password that `problem(with:)` refuses.
    case unacceptable
}
