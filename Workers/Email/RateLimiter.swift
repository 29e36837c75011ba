import Runtime

/// At most `perSecond` sends per second across the whole worker (a token bucket); 0: no limit.
/// For relays that cap the rate (e.g. a provider's sending quota).
public final class RateLimiter: Sendable {
    private let interval: Duration
    private let next = Locked(ContinuousClock.now)

    public init(perSecond: Double) {
        interval = perSecond > 0 ? .nanoseconds(Int64(1_000_000_000 / perSecond)) : .zero
    }

    /// Waits for the next send slot. Throws `CancellationError` when the task is cancelled meanwhile.
    public func wait() async throws {
        guard interval > .zero else { return }
        let slot = next.withLock { next in
            let slot = max(next, ContinuousClock.now)
            next = slot + interval
            return slot
        }
        if slot > ContinuousClock.now { try await Task.sleep(until: slot, clock: .continuous) }
    }
}
