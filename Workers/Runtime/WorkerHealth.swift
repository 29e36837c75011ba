import Foundation
import Synchronization

/// What `/health` reports: whether the worker is consuming.
public final class WorkerHealth: Sendable {
    public let group: String
    private let state = Mutex(State())

    struct State {
        var running = false
        var lastPoll: Date?
        var assigned = 0
        var failure: String?
    }

    public struct Report: Codable, Sendable {
        public var status: String
        public var group: String
        public var assignedPartitions: Int
        public var secondsSinceLastPoll: Double?
        public var failure: String?
    }

    init(group: String) { self.group = group }

    func started() { state.withLock { $0.running = true } }
    func stopped() { state.withLock { $0.running = false } }
    func failed(_ reason: String) { state.withLock { $0.failure = reason } }
    func polled(assigned: Int) {
        state.withLock {
            $0.lastPoll = Date()
            $0.assigned = assigned
        }
    }

    /// Healthy while running, polling (at least every 30 s) and without a fatal error.
    public var report: Report {
        state.withLock { state in
            let since = state.lastPoll.map { Date().timeIntervalSince($0) }
            let healthy = state.running && state.failure == nil && (since ?? 0) < 30
            return Report(
                status: healthy ? "ok" : "failing", group: group, assignedPartitions: state.assigned,
                secondsSinceLastPoll: since, failure: state.failure)
        }
    }
}
