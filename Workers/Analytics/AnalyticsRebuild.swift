import Contracts
import Foundation
import Kafka
import Postgres

/// Recomputes the rollups from the events topic, from its beginning, into a fresh schema, then
/// swaps them in (for one tenant or all) in one transaction. The live worker keeps running: the
/// swap locks the live tables, counts the events that arrived meanwhile, and replaces the rows.
public struct AnalyticsRebuild: Sendable {
    public let pool: PostgresPool
    public let kafka: KafkaConfig
    public let eventsTopic: String
    public let tenant: UUID?

    public init(pool: PostgresPool, kafka: KafkaConfig, eventsTopic: String, tenant: UUID?) {
        self.pool = pool
        self.kafka = kafka
        self.eventsTopic = eventsTopic
        self.tenant = tenant
    }

    public struct Outcome: Sendable {
        public var events: Int
        public var counted: Int
        /// Events that did not decode (the live worker dead-lettered them too): skipped, and said so.
        public var undecodable: Int = 0
    }

    static let tables = ["daily_rollups", "daily_declines", "lead_times", "counted_events"]

    /// `progress(done, total)` is called as events are read.
    public func run(progress: @Sendable (Int, Int) -> Void = { _, _ in }) async throws -> Outcome {
        let admin = try KafkaAdmin(config: kafka)
        let schema = "analytics_rebuild_\(UUID().uuidString.prefix(8).lowercased())"
        let ledger = RollupLedger(schema: schema)
        try await pool.withConnection { connection in
            try await connection.execute(script: "CREATE SCHEMA \(schema)")
            for table in Self.tables {
                try await connection.execute(script: "CREATE TABLE \(schema).\(table) (LIKE analytics.\(table) INCLUDING ALL)")
            }
        }
        do {
            // 1. Everything up to the high watermarks of now.
            let partitions = try await admin.partitionCount(of: eventsTopic) ?? 0
            var ranges: [TopicPartition: Range<Int64>] = [:]
            for partition in 0..<Int32(partitions) {
                let tp = TopicPartition(eventsTopic, partition)
                let (low, high) = try await admin.watermarks(tp)
                ranges[tp] = low..<high
            }
            let total = ranges.values.reduce(0) { $0 + $1.count }
            var outcome = Outcome(events: 0, counted: 0)
            progress(0, total)
            for (partition, range) in ranges.sorted(by: { $0.key < $1.key }) {
                var start = range.lowerBound
                while start < range.upperBound {
                    let end = min(range.upperBound, start + 2000)
                    let counted = try await count([partition: start..<end], with: ledger)
                    outcome.events += Int(end - start)
                    outcome.counted += counted.counted
                    outcome.undecodable += counted.undecodable
                    progress(outcome.events, total)
                    start = end
                }
            }
            // 2. The swap: live writers wait; events since the snapshot are counted too.
            try await pool.transaction { connection in
                try await connection.execute(script: "LOCK TABLE analytics.counted_events IN EXCLUSIVE MODE")
                var since: [TopicPartition: Range<Int64>] = [:]
                for (partition, range) in ranges {
                    let (_, high) = try await admin.watermarks(partition)
                    if high > range.upperBound { since[partition] = range.upperBound..<high }
                }
                let late = try await count(since, with: ledger, on: connection)
                outcome.counted += late.counted
                outcome.undecodable += late.undecodable
                for table in Self.tables {
                    try await connection.query("DELETE FROM analytics.\(table) WHERE ($1::uuid IS NULL OR tenant_id = $1)", [tenant])
                    try await connection.query(
                        "INSERT INTO analytics.\(table) SELECT * FROM \(schema).\(table) WHERE ($1::uuid IS NULL OR tenant_id = $1)",
                        [tenant])
                }
            }
            try await dropSchema(schema)
            return outcome
        } catch {
            try? await dropSchema(schema)
            throw error
        }
    }

    private func count(_ ranges: [TopicPartition: Range<Int64>], with ledger: RollupLedger) async throws
        -> (counted: Int, undecodable: Int)
    {
        try await pool.transaction { connection in try await count(ranges, with: ledger, on: connection) }
    }

    /// Reads the ranges and counts their events of the chosen tenant(s) into `ledger`'s schema,
    /// as one batch; events that do not decode are counted apart, never silently dropped.
    private func count(_ ranges: [TopicPartition: Range<Int64>], with ledger: RollupLedger, on connection: PostgresConnection)
        async throws -> (counted: Int, undecodable: Int)
    {
        guard !ranges.isEmpty else { return (0, 0) }
        var events: [DecodedMessage] = []
        var undecodable = 0
        for message in try await TopicReader(config: kafka).read(ranges) {
            guard let value = message.value, let event = try? Catalogs.appointmentEvents.decode(value) else {
                undecodable += 1
                continue
            }
            if let tenant, event.metadata.tenantId != tenant { continue }
            events.append(event)
        }
        return (try await ledger.apply(events, on: connection), undecodable)
    }

    private func dropSchema(_ schema: String) async throws {
        try await pool.withConnection { try await $0.execute(script: "DROP SCHEMA IF EXISTS \(schema) CASCADE") }
    }
}
