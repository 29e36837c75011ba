import Contracts
import Foundation
import Kafka

/// What a replay would do: the dead letters that match, and which of them it would republish.
public struct ReplayPlan: Sendable {
    public var topic: String
    public var filter: DeadLetterFilter
    /// Every message that matches the filter (replayed or not).
    public var matched: Int
    /// The matching messages not replayed yet, oldest first (at most the limit): what a replay
    /// republishes.
    public var chosen: [DeadLetter]
    /// Matching messages that were replayed before.
    public var alreadyReplayed: Int
    /// Matching `delivery_unknown` letters left out: their email may have reached the recipient,
    /// so only an operator who accepts a possible second copy replays them.
    public var heldBack: Int = 0
}

/// What a replay did.
public struct ReplayOutcome: Sendable {
    public var matched: Int
    /// Each republished dead letter and where its copy went.
    public var replayed: [ReplayedCopy]
    /// Chosen messages that turned out to be replayed already (before, or by a concurrent replay).
    public var skipped: Int
}

extension DeadLetterQueue {
    /// The dry run: what `replay` would republish for `filter` (at most `limit` messages).
    public func plan(_ topic: String, filter: DeadLetterFilter, limit: Int? = nil, allowPossibleDuplicates: Bool = false)
        async throws -> ReplayPlan
    {
        let entries = try await browse(topic, filter: filter, includeReplayed: true)
        let notReplayed = entries.filter { $0.replayed == nil }.map(\.letter)
        let pending = notReplayed.filter { allowPossibleDuplicates || $0.errorClass != ErrorClass.deliveryUnknown.rawValue }
        return ReplayPlan(
            topic: topic, filter: filter, matched: entries.count,
            chosen: limit.map { Array(pending.prefix(max(0, $0))) } ?? pending, alreadyReplayed: entries.count - notReplayed.count,
            heldBack: notReplayed.count - pending.count)
    }

    /// Republishes the plan's chosen messages to their original topics (attempts reset,
    /// `x-replayed-from` set), each at most once ever. `progress` hears (done, total).
    public func replay(_ plan: ReplayPlan, progress: @Sendable (Int, Int) -> Void = { _, _ in }) async throws -> ReplayOutcome {
        try await replay(plan.chosen, matched: plan.matched, skippedBefore: plan.alreadyReplayed, progress: progress)
    }

    /// Republishes exactly the dead letters at `positions` of `topic` (what a dry run showed and
    /// an operator confirmed), each at most once ever; positions no longer in the topic are skipped.
    public func replay(_ topic: String, positions: Set<DeadLetterPosition>) async throws -> ReplayOutcome {
        guard case .deadLetter? = DerivedTopic(parsing: topic) else { throw DeadLetterError.notADeadLetterTopic(topic) }
        let wanted = positions.filter { $0.topic == topic }
        let entries = try await browse(topic, includeReplayed: true).filter { wanted.contains($0.letter.position) }
        let pending = entries.filter { $0.replayed == nil }.map(\.letter)
        return try await replay(pending, matched: wanted.count, skippedBefore: wanted.count - pending.count, progress: { _, _ in })
    }

    private func replay(
        _ letters: [DeadLetter], matched: Int, skippedBefore: Int, progress: @Sendable (Int, Int) -> Void
    ) async throws -> ReplayOutcome {
        var outcome = ReplayOutcome(matched: matched, replayed: [], skipped: skippedBefore)
        guard !letters.isEmpty else { return outcome }
        let producer = try KafkaProducer(config: kafka)
        do {
            for (index, letter) in letters.enumerated() {
                if let copy = try await ledger.republish(letter, with: producer) {
                    outcome.replayed.append(copy)
                } else {
                    outcome.skipped += 1
                }
                progress(index + 1, letters.count)
            }
        } catch {
            await producer.close()
            throw error
        }
        await producer.close()
        return outcome
    }
}
