import Foundation
import Kafka
import Postgres

/// `runtime.dead_letter_replays`: every dead letter that was republished, and where its copy went.
/// It makes a replay run twice republish nothing twice.
public struct ReplayLedger: Sendable {
    let pool: PostgresPool

    public init(pool: PostgresPool) {
        self.pool = pool
    }

    /// Where each replayed dead letter of `topic` went (nil until the broker acknowledged it).
    public func replayed(in topic: String) async throws -> [DeadLetterPosition: ReplayedCopy] {
        let rows = try await pool.query(
            """
            SELECT dlq_partition, dlq_offset, replayed_to, replayed_partition, replayed_offset, replayed_at
            FROM runtime.dead_letter_replays WHERE dlq_topic = $1
            """, [topic])
        var result: [DeadLetterPosition: ReplayedCopy] = [:]
        for row in rows {
            let position = DeadLetterPosition(
                topic: topic, partition: Int32(try row.decode(Int.self, 0)), offset: try row.decode(Int64.self, 1))
            result[position] = ReplayedCopy(
                from: position, topic: try row.decode(String.self, 2), partition: try row.decode(Int?.self, 3).map { Int32($0) },
                offset: try row.decode(Int64?.self, 4), at: try row.decode(Date.self, 5))
        }
        return result
    }

    /// Republishes `letter` unless it was replayed before: the claim and the broker's
    /// acknowledgement happen in one transaction, so a concurrent replay of the same message waits
    /// on the row lock and then skips it. The copy, or nil when it was replayed already.
    public func republish(_ letter: DeadLetter, with producer: KafkaProducer) async throws -> ReplayedCopy? {
        let record = letter.replayRecord()
        let position = letter.position
        return try await pool.transaction { connection -> ReplayedCopy? in
            let claim = try await connection.query(
                """
                INSERT INTO runtime.dead_letter_replays (dlq_topic, dlq_partition, dlq_offset, replayed_to)
                VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING
                """, [position.topic, Int(position.partition), position.offset, record.topic])
            guard claim.affectedRows == 1 else { return nil }
            let report = try await producer.send(record)
            try await connection.query(
                """
                UPDATE runtime.dead_letter_replays SET replayed_partition = $4, replayed_offset = $5
                WHERE dlq_topic = $1 AND dlq_partition = $2 AND dlq_offset = $3
                """, [position.topic, Int(position.partition), position.offset, Int(report.partition), report.offset])
            return ReplayedCopy(from: position, topic: report.topic, partition: report.partition, offset: report.offset, at: Date())
        }
    }
}

/// A dead letter's republished copy.
public struct ReplayedCopy: Sendable, Hashable {
    public var from: DeadLetterPosition
    public var topic: String
    public var partition: Int32?
    public var offset: Int64?
    public var at: Date

    /// `topic/partition/offset` of the copy (`topic` alone before the acknowledgement was recorded).
    public var destination: String {
        guard let partition, let offset else { return topic }
        return "\(topic)/\(partition)/\(offset)"
    }
}
