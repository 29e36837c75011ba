import Foundation
import Kafka
import Logging
import Synchronization

/// The lanes of the partitions this member owns. It is also the consumer's rebalance listener:
/// before partitions are revoked it closes their lanes and waits (bounded) for the messages in
/// hand to finish, so their offsets are committed before another member takes over.
final class LaneRegistry: KafkaRebalanceListener, Sendable {
    private let lanes = Mutex<[TopicPartition: PartitionLane]>([:])
    private let revokeDeadline: Duration
    private let logger: Logger
    /// Set once the consumer exists (the consumer needs the listener first).
    private let consumer = Mutex<KafkaConsumer?>(nil)

    init(revokeDeadline: Duration, logger: Logger) {
        self.revokeDeadline = revokeDeadline
        self.logger = logger
    }

    func attach(_ consumer: KafkaConsumer) { self.consumer.withLock { $0 = consumer } }

    /// The lane of `partition`, made by `make` (which also starts its task) if there is none.
    func lane(for partition: TopicPartition, make: () -> PartitionLane) -> PartitionLane {
        lanes.withLock { lanes in
            if let lane = lanes[partition] { return lane }
            let lane = make()
            lanes[partition] = lane
            return lane
        }
    }

    var all: [PartitionLane] { lanes.withLock { Array($0.values) } }

    func partitionsAssigned(_ partitions: [TopicPartition]) {
        // A partition paused by an earlier owner-lane must flow for its new lane. A partition
        // that was not paused is no error; any other failure would leave it stalled, so it is said.
        do {
            try consumer.withLock { $0 }?.resume(partitions)
        } catch {
            logger.error("could not resume assigned partitions; they may not be consumed", metadata: ["partitions": "\(partitions)", "error": "\(error)"])
        }
    }

    func partitionsRevoked(_ partitions: [TopicPartition], lost: Bool) {
        let revoked = lanes.withLock { lanes in partitions.compactMap { lanes.removeValue(forKey: $0) } }
        for lane in revoked { lane.close() }
        guard !lost else { return }
        // Runs on the consumer's poll thread (not the cooperative pool), so it may block here.
        let deadline = Date().addingTimeInterval(revokeDeadline.seconds)
        while revoked.contains(where: \.isBusy), Date() < deadline { usleep(5_000) }
        if revoked.contains(where: \.isBusy) {
            logger.warning("revoke deadline passed with messages in hand; they will be redelivered")
        }
    }

    /// Closes every lane (shutdown).
    func closeAll() {
        for lane in all { lane.close() }
    }

    /// Forgets lanes and consumer once the worker stopped (they refer back to this registry).
    func clear() {
        lanes.withLock { $0.removeAll() }
        consumer.withLock { $0 = nil }
    }
}
