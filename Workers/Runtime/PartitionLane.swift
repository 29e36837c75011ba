import Contracts
import DequeModule
import Foundation
import Kafka
import Logging
import Synchronization

/// One assigned partition's queue and the task that works through it, in order.
///
/// The poll loop appends what it fetched; the lane hands consecutive messages to the handler,
/// sends failures along the retry ladder, and stores each finished offset for the next commit.
/// While it waits (a backoff, a retry's `x-not-before`, or a full queue) its partition is
/// paused, so the other partitions keep flowing and nothing piles up in memory.
final class PartitionLane: Sendable {
    let partition: TopicPartition
    private let role: TopicRole
    private let context: WorkerContext
    private let state = Mutex(State())

    enum PauseReason: Hashable, Sendable { case backpressure, waiting }

    private struct State {
        var queue: Deque<KafkaMessage> = []
        var waiter: CheckedContinuation<Void, Never>?
        var closed = false
        var busy = false
        var pausedFor: Set<PauseReason> = []
        /// The next offset to read once everything before it is finished.
        var finishedThrough: Int64?
    }

    init(partition: TopicPartition, role: TopicRole, context: WorkerContext) {
        self.partition = partition
        self.role = role
        self.context = context
    }

    // MARK: - Fed by the poll loop

    func enqueue(_ records: [KafkaMessage]) {
        let (waiter, overLimit) = state.withLock { state -> (CheckedContinuation<Void, Never>?, Bool) in
            guard !state.closed else { return (nil, false) }
            state.queue.append(contentsOf: records)
            defer { state.waiter = nil }
            return (state.waiter, state.queue.count > context.settings.partitionQueueLimit)
        }
        waiter?.resume()
        if overLimit { setPaused(.backpressure, true) }
    }

    /// Stops taking new messages; the message in hand is finished (or abandoned at its next wait).
    func close() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.closed = true
            state.queue.removeAll()
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    var isClosed: Bool { state.withLock { $0.closed } }
    var isBusy: Bool { state.withLock { $0.busy } }
    var finishedThrough: Int64? { state.withLock { $0.finishedThrough } }

    // MARK: - The lane's task

    func run() async {
        while let batch = await nextBatch() {
            await process(batch)
            state.withLock { $0.busy = false }
        }
    }

    private func nextBatch() async -> [KafkaMessage]? {
        while true {
            let taken = state.withLock { state -> [KafkaMessage]?? in
                if state.closed { return .some(nil) }
                guard !state.queue.isEmpty else { return nil }
                let count = min(state.queue.count, role.stage > 0 ? 1 : max(1, context.handler.maxBatchSize(forSource: role.source)))
                let batch = Array(state.queue.prefix(count))
                state.queue.removeFirst(count)
                state.busy = true
                return .some(batch)
            }
            if let taken {
                if taken != nil, state.withLock({ $0.queue.count }) <= context.settings.partitionQueueLimit / 2 {
                    setPaused(.backpressure, false)
                }
                return taken
            }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ready = state.withLock { state in
                    if state.closed || !state.queue.isEmpty { return true }
                    state.waiter = continuation
                    return false
                }
                if ready { continuation.resume() }
            }
        }
    }

    private func process(_ records: [KafkaMessage]) async {
        // A retry stage holds each message until its x-not-before.
        if role.stage > 0, let record = records.first, let due = FailureRecords.notBefore(of: record), due > Date() {
            setPaused(.waiting, true)
            let waited = await sleep(until: due)
            setPaused(.waiting, false)
            guard waited else { return }
        }
        var decoded: [Int64: IncomingMessage] = [:]
        var poison: [Int64: ContractError] = [:]
        for record in records {
            switch decode(record) {
            case .success(let message): decoded[record.offset] = message
            case .failure(let error): poison[record.offset] = error
            }
        }
        var results: [Int64: Result<Void, any Error>] = [:]
        let batch = records.compactMap { decoded[$0.offset] }
        if !batch.isEmpty {
            let started = ContinuousClock.now
            let outcome = await context.limiter.run { await context.handler.handle(batch: batch) }
            context.metrics.handlerLatency(partition.topic, ContinuousClock.now - started)
            for (index, message) in batch.enumerated() {
                results[message.record.offset] =
                    index < outcome.count
                    ? outcome[index] : .failure(HandlerError.transient("handler returned too few results"))
            }
        }
        // Offsets are stored once for the whole run of finished messages (the lane stops at the
        // first message it could not finish; everything from there is redelivered).
        var finished: KafkaMessage?
        defer { if let finished { finish(finished) } }
        var handled = 0
        defer { if handled > 0 { context.metrics.handled(partition.topic, count: handled) } }
        for record in records {
            if let error = poison[record.offset] {
                let failure = FailureClassifier.classify(error)
                let attempts = FailureRecords.previousAttempts(of: record) + 1
                guard await handOver(record, failure: failure, attempts: attempts, correlationId: nil, firstFailedAt: Date(), to: .deadLetter)
                else { return }
            } else if let message = decoded[record.offset] {
                switch results[record.offset] ?? .success(()) {
                case .success:
                    handled += 1
                case .failure(let error):
                    guard await retryInPlace(message, after: error) else { return }
                }
            }
            finished = record
        }
    }

    private func decode(_ record: KafkaMessage) -> Result<IncomingMessage, ContractError> {
        guard let catalog = context.settings.catalogs[role.source] else {
            return .failure(.unknownType("no decoder for topic \(role.source)"))
        }
        guard let value = record.value else { return .failure(.undecodable("empty message")) }
        do {
            let decoded = try catalog.decode(value)
            return .success(
                IncomingMessage(
                    decoded: decoded, record: record, sourceTopic: role.source, stage: role.stage,
                    attempt: FailureRecords.previousAttempts(of: record) + 1))
        } catch {
            return .failure(error)
        }
    }

    /// Tries a failed message again in place, with backoff, then hands it to the next stage.
    /// Returns false when the lane closed meanwhile (the message stays unfinished).
    private func retryInPlace(_ message: IncomingMessage, after error: any Error) async -> Bool {
        let ladder = context.settings.group.ladder
        let failedAt = Date()
        var failure = FailureClassifier.classify(error)
        var tries = 1
        log(failure, message, attempt: message.attempt)
        context.metrics.failed(partition.topic, errorClass: failure.errorClass.rawValue)
        while !failure.isPermanent, tries < ladder.attemptsPerStage {
            let delay = max(ladder.backoff(afterTry: tries, unitRandom: Double.random(in: 0..<1)), failure.retryAfter ?? .zero)
            setPaused(.waiting, true)
            let waited = await sleep(until: Date().addingTimeInterval(delay.seconds))
            setPaused(.waiting, false)
            guard waited else { return false }
            tries += 1
            context.metrics.retried(partition.topic, stage: "in_place")
            let again = IncomingMessage(
                decoded: message.decoded, record: message.record, sourceTopic: message.sourceTopic, stage: message.stage,
                attempt: message.attempt + tries - 1)
            let outcome = await context.limiter.run { await context.handler.handle(batch: [again]) }
            switch outcome.first ?? .failure(HandlerError.transient("handler returned no result")) {
            case .success:
                context.metrics.handled(partition.topic)
                return true
            case .failure(let error):
                failure = FailureClassifier.classify(error)
                log(failure, message, attempt: again.attempt)
                context.metrics.failed(partition.topic, errorClass: failure.errorClass.rawValue)
            }
        }
        let step: RetryStep = failure.isPermanent ? .deadLetter : ladder.next(afterStage: role.stage)
        return await handOver(
            message.record, failure: failure, attempts: message.attempt + tries - 1,
            correlationId: message.metadata.correlationId, firstFailedAt: failedAt, to: step)
    }

    /// Writes the message to a retry topic or the dead-letter topic and waits for the broker's
    /// acknowledgement, trying again while the broker is unreachable. False if the lane closed first.
    private func handOver(
        _ record: KafkaMessage, failure: Failure, attempts: Int, correlationId: String?, firstFailedAt: Date, to step: RetryStep
    ) async -> Bool {
        let group = context.settings.group
        let now = Date()
        let (topic, notBefore): (String, Date?) =
            switch step {
            case .retryTopic(let stage, let delay):
                (group.retryTopic(of: role.source, stage: stage), now.addingTimeInterval(delay.seconds))
            case .deadLetter:
                (group.deadLetterTopic(of: role.source), nil)
            }
        let output = FailureRecords.make(
            from: record, to: topic, group: group.name, failure: failure, attempts: attempts,
            correlationId: correlationId, notBefore: notBefore, failedAt: firstFailedAt)
        var backoff = 0.2
        while true {
            do {
                try await context.producer.send(output)
                break
            } catch {
                context.logger.warning(
                    "could not write to \(topic), trying again",
                    metadata: ["error": "\(error)", "offset": "\(record.offset)", "partition": "\(record.partition)"])
                guard await sleep(until: Date().addingTimeInterval(backoff)) else { return false }
                backoff = min(backoff * 2, 5)
            }
        }
        switch step {
        case .retryTopic(let stage, _):
            context.metrics.retried(partition.topic, stage: String(stage))
        case .deadLetter:
            context.metrics.deadLettered(partition.topic, errorClass: failure.errorClass.rawValue)
            context.logger.error(
                "message dead-lettered",
                metadata: [
                    "topic": "\(record.topic)", "partition": "\(record.partition)", "offset": "\(record.offset)",
                    "dead_letter_topic": "\(topic)", "error_class": "\(failure.errorClass)", "attempts": "\(attempts)",
                    "correlation_id": "\(correlationId ?? record.header(HeaderName.correlationId) ?? "")",
                ])
        }
        return true
    }

    private func finish(_ record: KafkaMessage) {
        state.withLock { $0.finishedThrough = record.offset + 1 }
        context.consumer.store([TopicPartitionOffset(partition, offset: record.offset + 1)])
    }

    private func log(_ failure: Failure, _ message: IncomingMessage, attempt: Int) {
        let record = message.record
        context.logger.warning(
            "handler failed",
            metadata: [
                "topic": "\(record.topic)", "partition": "\(record.partition)", "offset": "\(record.offset)",
                "attempt": "\(attempt)", "error_class": "\(failure.errorClass)", "error": "\(failure.message)",
                "permanent": "\(failure.isPermanent)", "correlation_id": "\(message.metadata.correlationId)",
            ])
    }

    /// Sleeps in short steps so a closing lane (revoke, shutdown) stops waiting at once.
    private func sleep(until date: Date) async -> Bool {
        while Date() < date {
            if isClosed || Task.isCancelled { return false }
            let step = min(date.timeIntervalSinceNow, 0.05)
            if step > 0 { try? await Task.sleep(for: .milliseconds(Int64(step * 1000) + 1)) }
        }
        return !isClosed
    }

    private func setPaused(_ reason: PauseReason, _ paused: Bool) {
        let change = state.withLock { state -> Bool? in
            let wasPaused = !state.pausedFor.isEmpty
            if paused { state.pausedFor.insert(reason) } else { state.pausedFor.remove(reason) }
            let isPaused = !state.pausedFor.isEmpty
            return wasPaused == isPaused || state.closed ? nil : isPaused
        }
        guard let change else { return }
        do {
            if change { try context.consumer.pause([partition]) } else { try context.consumer.resume([partition]) }
        } catch {
            context.logger.warning("pause/resume failed", metadata: ["partition": "\(partition)", "error": "\(error)"])
        }
    }
}

/// A subscribed topic's place in the ladder: the source topic (stage 0) or retry stage n.
struct TopicRole: Sendable, Hashable {
    var source: String
    var stage: Int

    init(topic: String, group: String) {
        if case .retry(let source, let owner, let stage)? = DerivedTopic(parsing: topic), owner == group {
            self.source = source
            self.stage = stage
        } else {
            self.source = topic
            self.stage = 0
        }
    }
}

extension Duration {
    var seconds: TimeInterval {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
