import Synchronization

/// The sends still waiting for their delivery reports, keyed by a per-record id.
///
/// The id travels through librdkafka as the message's opaque pointer (a number, not a retained
/// object), so a report that never comes leaks nothing, and `close()` can fail whatever is left.
final class DeliveryTable: Sendable {
    private let state = Mutex(State())

    private struct State {
        // Starts at 1: the id becomes a pointer, and 0 would be the null pointer.
        var nextId: UInt64 = 1
        var pending: [UInt64: (batch: DeliveryBatch, index: Int)] = [:]
        var closed = false
    }

    /// Reserves an id for record `index` of `batch`; nil once the table is closed.
    func register(_ batch: DeliveryBatch, index: Int) -> UInt64? {
        state.withLock { state in
            guard !state.closed else { return nil }
            let id = state.nextId
            state.nextId += 1
            state.pending[id] = (batch, index)
            return id
        }
    }

    /// Forgets an id whose record librdkafka did not take (no report will come for it).
    func withdraw(_ id: UInt64) {
        _ = state.withLock { $0.pending.removeValue(forKey: id) }
    }

    /// Hands a delivery report to the send waiting for it. A report for an unknown id (already
    /// failed by `close`) is dropped: its sender has had its answer.
    func complete(_ id: UInt64, _ result: Result<DeliveryReport, KafkaError>) {
        guard let entry = state.withLock({ $0.pending.removeValue(forKey: id) }) else { return }
        entry.batch.complete(entry.index, result)
    }

    /// Refuses new sends and fails every one still waiting with `error`.
    func close(failingPendingWith error: KafkaError) {
        let left = state.withLock { state in
            state.closed = true
            defer { state.pending = [:] }
            return Array(state.pending.values)
        }
        for entry in left { entry.batch.complete(entry.index, .failure(error)) }
    }

    var pendingCount: Int { state.withLock { $0.pending.count } }
}

/// The outcomes of one `send` call's records, awaited together with one suspension.
final class DeliveryBatch: Sendable {
    typealias Outcome = Result<DeliveryReport, KafkaError>
    private let state: Mutex<State>

    private struct State {
        var outcomes: [Outcome?]
        var remaining: Int
        var waiter: CheckedContinuation<[Outcome], Never>?
    }

    init(count: Int) {
        state = Mutex(State(outcomes: Array(repeating: nil, count: count), remaining: count))
    }

    /// Records the outcome of record `index` (the first outcome of a record counts).
    func complete(_ index: Int, _ outcome: Outcome) {
        let finished: (CheckedContinuation<[Outcome], Never>, [Outcome])? = state.withLock { state in
            guard state.outcomes[index] == nil else { return nil }
            state.outcomes[index] = outcome
            state.remaining -= 1
            guard state.remaining == 0, let waiter = state.waiter else { return nil }
            state.waiter = nil
            return (waiter, state.outcomes.compactMap { $0 })
        }
        if let (waiter, outcomes) = finished { waiter.resume(returning: outcomes) }
    }

    /// Returns once every record has its outcome, in record order.
    func outcomes() async -> [Outcome] {
        await withCheckedContinuation { continuation in
            let ready: [Outcome]? = state.withLock { state in
                guard state.remaining > 0 else { return state.outcomes.compactMap { $0 } }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}
