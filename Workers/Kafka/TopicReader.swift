import CRdKafka
import Foundation
import Logging

/// Reads stretches of partitions without joining any group: what operator tools use to look
/// into a topic (dead letters) without disturbing its consumers.
public struct TopicReader: Sendable {
    public let config: KafkaConfig

    public init(config: KafkaConfig) {
        self.config = config
    }

    /// Messages at offsets `range` of each partition, in offset order per partition. Stops at
    /// the end of each range (ranges end at most at the high watermark).
    public func read(_ ranges: [TopicPartition: Range<Int64>], timeout: Duration = .seconds(30)) async throws(KafkaError)
        -> [KafkaMessage]
    {
        let wanted = ranges.filter { !$0.value.isEmpty }
        guard !wanted.isEmpty else { return [] }
        let consumer = try KafkaConsumer(
            config: config, groupId: "carefleet-reader-\(UUID().uuidString.lowercased())",
            logger: Logger(label: "carefleet.kafka.reader"))
        try consumer.assign(wanted.map { TopicPartitionOffset($0.key, offset: $0.value.lowerBound) })
        var result: [TopicPartition: [KafkaMessage]] = [:]
        var remaining = Set(wanted.keys)
        let deadline = ContinuousClock.now + timeout
        while !remaining.isEmpty, ContinuousClock.now < deadline {
            for message in try await consumer.poll(maxMessages: 1000, timeout: .milliseconds(200)) {
                guard let range = wanted[message.topicPartition], range.contains(message.offset) else { continue }
                result[message.topicPartition, default: []].append(message)
                if message.offset >= range.upperBound - 1 { remaining.remove(message.topicPartition) }
            }
        }
        await consumer.close()
        if !remaining.isEmpty {
            throw KafkaError(RD_KAFKA_RESP_ERR__TIMED_OUT, "timed out reading \(remaining.sorted())")
        }
        return result.keys.sorted().flatMap { result[$0] ?? [] }
    }

    /// Every partition of `topic` from its low to its high watermark.
    public func readAll(_ topic: String, admin: KafkaAdmin, timeout: Duration = .seconds(60)) async throws(KafkaError)
        -> [KafkaMessage]
    {
        guard let partitions = try await admin.partitionCount(of: topic) else { return [] }
        var ranges: [TopicPartition: Range<Int64>] = [:]
        for partition in 0..<Int32(partitions) {
            let tp = TopicPartition(topic, partition)
            let (low, high) = try await admin.watermarks(tp)
            ranges[tp] = low..<high
        }
        return try await read(ranges, timeout: timeout)
    }
}
