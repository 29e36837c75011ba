import CRdKafka

/// Owns an `rd_kafka_topic_partition_list_t`.
final class TopicPartitionList {
    let pointer: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>
    private let owned: Bool

    init(capacity: Int = 1) {
        pointer = rd_kafka_topic_partition_list_new(Int32(max(1, capacity)))
        owned = true
    }

    /// Borrows a list librdkafka owns (e.g. in a rebalance callback).
    init(borrowing pointer: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) {
        self.pointer = pointer
        owned = false
    }

    convenience init(_ partitions: [TopicPartition]) {
        self.init(capacity: partitions.count)
        for partition in partitions { add(partition) }
    }

    convenience init(_ offsets: [TopicPartitionOffset]) {
        self.init(capacity: offsets.count)
        for offset in offsets { add(offset.topicPartition, offset: offset.offset) }
    }

    deinit {
        if owned { rd_kafka_topic_partition_list_destroy(pointer) }
    }

    func add(_ partition: TopicPartition, offset: Int64? = nil) {
        let element = rd_kafka_topic_partition_list_add(pointer, partition.topic, partition.partition)
        if let offset { element?.pointee.offset = offset }
    }

    var elements: UnsafeMutableBufferPointer<rd_kafka_topic_partition_t> {
        UnsafeMutableBufferPointer(start: pointer.pointee.elems, count: Int(pointer.pointee.cnt))
    }

    var partitions: [TopicPartition] {
        elements.map { TopicPartition(String(cString: $0.topic), $0.partition) }
    }

    var offsets: [(TopicPartition, offset: Int64, error: rd_kafka_resp_err_t)] {
        elements.map { (TopicPartition(String(cString: $0.topic), $0.partition), $0.offset, $0.err) }
    }

    /// The first per-partition error in the list, if any.
    var firstError: KafkaError? {
        elements.first { $0.err != RD_KAFKA_RESP_ERR_NO_ERROR }.map {
            KafkaError($0.err, "\(String(cString: $0.topic))[\($0.partition)]: \(String(cString: rd_kafka_err2str($0.err)))")
        }
    }
}
