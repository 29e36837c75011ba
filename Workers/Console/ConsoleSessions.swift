import Foundation
import Synchronization

/// A signed-in operator's session.
public struct ConsoleSession: Sendable {
    public var id: String
    public var operatorId: UUID
    public var email: String
    public var name: String
    /// Sent back in every form as `csrf`; a POST without it is refused.
    public var csrfToken: String
    public var expiresAt: Date
}

/// Sessions of this console process, in memory: a restart signs everyone out, and the cookie
/// holds only a random id that is worthless elsewhere. The console runs as a single copy.
public final class ConsoleSessions: Sendable {
    private let sessions = Mutex<[String: ConsoleSession]>([:])
    private let lifetime: TimeInterval

    public init(lifetime: TimeInterval) {
        self.lifetime = lifetime
    }

    public func start(operatorId: UUID, email: String, name: String) -> ConsoleSession {
        let session = ConsoleSession(
            id: Self.randomToken(), operatorId: operatorId, email: email, name: name, csrfToken: Self.randomToken(),
            expiresAt: Date().addingTimeInterval(lifetime))
        sessions.withLock { all in
            let now = Date()
            all = all.filter { $0.value.expiresAt > now }
            all[session.id] = session
        }
        return session
    }

    /// The live session with this id.
    public func session(_ id: String) -> ConsoleSession? {
        sessions.withLock { all in
            guard let session = all[id] else { return nil }
            guard session.expiresAt > Date() else {
                all[id] = nil
                return nil
            }
            return session
        }
    }

    public func end(_ id: String) {
        _ = sessions.withLock { $0.removeValue(forKey: id) }
    }

    /// 32 random bytes, hex (the system generator is the kernel's CSPRNG).
    public static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: .min ... .max, using: &generator)) }.joined()
    }

    /// Whether `text` looks like a token `randomToken` makes.
    public static func isToken(_ text: String) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0) }
    }

    /// Compares secrets in time that does not depend on where they differ.
    public static func same(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for index in x.indices { difference |= x[index] ^ y[index] }
        return difference == 0
    }
}
