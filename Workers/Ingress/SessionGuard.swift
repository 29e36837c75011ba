import Clinic
import Foundation
import Logging
import Synchronization

/// The sessions whose access tokens must be refused, kept in memory so the check costs a lookup.
///
/// Fed three ways: a revocation made by this copy is added at once (`revoke`); every copy asks
/// the database for sessions revoked since it last asked (`refresh`, every second by default),
/// so a logout on one copy is refused by the others within that interval; and an entry is kept
/// only as long as a token of that session could still be valid (the access-token lifetime).
public final class RevokedSessions: Sendable {
    private let state = Mutex(State())
    private let store: any SessionStore
    /// How long an access token lives: older revocations need no remembering.
    private let horizon: TimeInterval

    struct State {
        var revoked: [UUID: Date] = [:]
        /// The newest revocation time seen; the next refresh asks from a little before it.
        var seenUntil: Date?
    }

    public init(store: any SessionStore, accessTokenLifetime: TimeInterval) {
        self.store = store
        horizon = accessTokenLifetime
    }

    public func isRevoked(_ session: UUID) -> Bool {
        state.withLock { $0.revoked[session] != nil }
    }

    /// Sessions this copy just revoked: refused from now on, before any refresh.
    public func revoke(_ sessions: [UUID], at date: Date = Date()) {
        state.withLock { state in for session in sessions { state.revoked[session] = date } }
    }

    /// Asks the database for revocations since the last refresh (from the token lifetime back at
    /// first), and forgets those older than any live token.
    public func refresh(now: Date = Date()) async throws {
        // A little overlap: a revocation committed late with an earlier timestamp is not missed.
        let since = state.withLock { $0.seenUntil.map { $0.addingTimeInterval(-5) } } ?? now.addingTimeInterval(-horizon)
        let revoked = try await store.revoked(since: since)
        state.withLock { state in
            for (session, at) in revoked {
                state.revoked[session] = at
                if at > (state.seenUntil ?? .distantPast) { state.seenUntil = at }
            }
            if state.seenUntil == nil { state.seenUntil = since }
            let forgetBefore = now.addingTimeInterval(-horizon - 60)
            state.revoked = state.revoked.filter { $0.value >= forgetBefore }
        }
    }

    var count: Int { state.withLock { $0.revoked.count } }
}

/// When each session was last used, recorded in memory on every request and written in one
/// statement per flush, so `GET /v1/auth/sessions` can say "last used" without a write per request.
public final class SessionActivity: Sendable {
    private let pending = Mutex<[UUID: Date]>([:])
    private let store: any SessionStore

    public init(store: any SessionStore) {
        self.store = store
    }

    public func used(_ session: UUID, at date: Date = Date()) {
        pending.withLock { $0[session] = date }
    }

    public func flush() async throws {
        let batch = pending.withLock { pending in
            defer { pending.removeAll(keepingCapacity: true) }
            return pending
        }
        do {
            try await store.touch(batch)
        } catch {
            pending.withLock { pending in pending.merge(batch) { max($0, $1) } }
            throw error
        }
    }
}

/// A value per key, kept for a while: directory facts the command path checks (the booking
/// worker decides with the truth anyway) and profiles `GET /v1/auth/me` shows.
public final class ExpiringCache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private let entries = Mutex<[Key: (value: Value, until: ContinuousClock.Instant)]>([:])
    private let lifetime: Duration
    private let capacity: Int

    public init(lifetime: Duration, capacity: Int = 100_000) {
        self.lifetime = lifetime
        self.capacity = capacity
    }

    /// The cached value, or `load`'s (cached when not nil and `keep` agrees: a value loaded while
    /// the key was being forgotten may already be stale).
    public func value(for key: Key, keep: () -> Bool = { true }, load: () async throws -> Value?) async rethrows -> Value? {
        let now = ContinuousClock.now
        if let entry = entries.withLock({ $0[key] }), entry.until > now { return entry.value }
        guard let value = try await load() else { return nil }
        guard keep() else { return value }
        entries.withLock { entries in
            if entries.count >= capacity { entries = entries.filter { $0.value.until > now } }
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[key] = (value, now + lifetime)
        }
        return value
    }

    public func forget(_ key: Key) {
        entries.withLock { _ = $0.removeValue(forKey: key) }
    }

    public func forgetAll(where predicate: (Key) -> Bool) {
        entries.withLock { entries in entries = entries.filter { !predicate($0.key) } }
    }
}
