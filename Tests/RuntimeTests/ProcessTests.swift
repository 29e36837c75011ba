import Contracts
import Foundation
import Kafka
import Postgres
import TestSupport
import Testing

@Suite("Worker processes: kill -9, SIGTERM, two members", .serialized, .timeLimit(.minutes(4)))
struct ProcessTests {
    static func produce(_ count: Int, to topic: String) async throws {
        let producer = try KafkaProducer(config: try await TestKafka.config())
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for chunk in stride(from: 0, to: count, by: 500) {
                tasks.addTask {
                    for n in chunk..<min(count, chunk + 500) {
                        try await producer.send(ProducerRecord(topic: topic, key: "key-\(n)", value: try ProbeWork.envelope(n)))
                    }
                }
            }
            try await tasks.waitForAll()
        }
        await producer.close()
    }

    static func count(_ sql: String, _ pool: PostgresPool) async throws -> Int {
        try await pool.query(sql)[0].decode(Int.self, 0)
    }

    @Test func aWorkerKilledWithSigkillAndRestartedAppliesEveryMessageExactlyOnce() async throws {
        let total = 5000
        let topic = TestKafka.uniqueName("probe")
        try await TestKafka.createTopics([topic], partitions: 6)
        try await Self.produce(total, to: topic)
        let group = "probe-\(UUID().uuidString.prefix(8).lowercased())"
        try await TestDatabase.with { url in
            let pool = PostgresPool(url: url, maximumConnections: 2)
            defer { pool.close() }
            let first = try await ProbeProcess(topic: topic, group: group, databaseURL: url, name: "first")
            try await eventually(timeout: .seconds(60), "the first worker applied 1,000 messages") {
                (try? await Self.count("SELECT count(*) FROM probe_effects", pool)) ?? 0 >= 1000
            }
            first.signal(SIGKILL)
            #expect(await first.waitForExit(timeout: .seconds(10)) != nil)
            let appliedBeforeKill = try await Self.count("SELECT count(*) FROM probe_effects", pool)
            #expect(appliedBeforeKill < total, "killed mid-stream")

            let second = try await ProbeProcess(topic: topic, group: group, databaseURL: url, name: "second")
            try await eventually(timeout: .seconds(90), "every message applied") {
                try await Self.count("SELECT count(*) FROM probe_effects", pool) == total
            }
            second.signal(SIGTERM)
            #expect(await second.waitForExit(timeout: .seconds(15)) == 0, "\(second.log.suffix(2000))")

            #expect(try await Self.count("SELECT count(*) FROM probe_effects WHERE applications <> 1", pool) == 0)
            #expect(try await Self.count("SELECT count(DISTINCT n) FROM probe_effects", pool) == total)
            let deliveries = try await Self.count("SELECT count(*) FROM probe_deliveries", pool)
            #expect(deliveries >= total)
            // Deliveries beyond `total` are redeliveries after the kill: the idempotency record absorbed them.
            print("kill -9 test: \(deliveries - total) redeliveries absorbed by the idempotency record")
        }
    }

    @Test func sigtermHandsPartitionsToTheOtherMemberWithoutLossOrDoubles() async throws {
        // Slow handlers (50 ms each), so that plenty of work is left when one member leaves (even on a loaded machine).
        let total = 1200
        let topic = TestKafka.uniqueName("probe")
        try await TestKafka.createTopics([topic], partitions: 6)
        let group = "probe-\(UUID().uuidString.prefix(8).lowercased())"
        try await TestDatabase.with { url in
            let pool = PostgresPool(url: url, maximumConnections: 2)
            defer { pool.close() }
            // All the work is waiting before the members start: on a loaded machine a slow producer
            // would let them keep up with it, leaving nothing for the hand-over.
            try await Self.produce(total, to: topic)
            let ports = (try freeLoopbackPort(), try freeLoopbackPort())
            let leaving = try await ProbeProcess(topic: topic, group: group, databaseURL: url, name: "leaving", delayMillis: 50, httpPort: ports.0)
            let staying = try await ProbeProcess(topic: topic, group: group, databaseURL: url, name: "staying", delayMillis: 50, httpPort: ports.1)
            try await eventually(timeout: .seconds(30), "both joined and share the partitions") {
                var shares: [Int] = []
                for port in [ports.0, ports.1] {
                    guard let health = try? await httpGet("http://127.0.0.1:\(port)/health"),
                        let report = try? JSONSerialization.jsonObject(with: Data(health.body.utf8)) as? [String: Any]
                    else { return false }
                    shares.append(report["assignedPartitions"] as? Int ?? 0)
                }
                return shares.allSatisfy { $0 > 0 } && shares.reduce(0, +) == 6
            }
            try await eventually(timeout: .seconds(60), "a third of the work is done") {
                (try? await Self.count("SELECT count(*) FROM probe_effects", pool)) ?? 0 >= total / 3
            }
            let stopped = ContinuousClock.now
            let doneAtSignal = try await Self.count("SELECT count(*) FROM probe_effects", pool)
            leaving.signal(SIGTERM)
            let status = await leaving.waitForExit(timeout: .seconds(15))
            #expect(status == 0, "exit 0 after SIGTERM: \(leaving.log.suffix(2000))")
            #expect(ContinuousClock.now - stopped < .seconds(12), "within the shutdown deadline")
            #expect(leaving.log.contains("partitions assigned"), "the leaving member had partitions")
            #expect(doneAtSignal < total, "work was left when the member was told to stop")

            do {
                try await eventually(timeout: .seconds(60), "the remaining member finishes everything") {
                    try await Self.count("SELECT count(*) FROM probe_effects", pool) == total
                }
            } catch {
                let done = try await Self.count("SELECT count(*) FROM probe_effects", pool)
                Issue.record("\(done) of \(total) done; remaining member's log:\n\(staying.log.suffix(6000))")
                throw error
            }
            #expect(try await Self.count("SELECT count(*) FROM probe_effects WHERE applications <> 1", pool) == 0)
            #expect(staying.isRunning)
            try await eventually(timeout: .seconds(20), "the staying member owns all 6 partitions") {
                let assignments = staying.log.split(separator: "\n").compactMap {
                    try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
                }.filter { $0["message"] as? String == "partitions assigned" }
                let last = assignments.last?["partitions"] as? String ?? ""
                return last.components(separatedBy: "\(topic)[").count - 1 == 6
            }
            staying.signal(SIGTERM)
            #expect(await staying.waitForExit(timeout: .seconds(15)) == 0)
        }
    }

    @Test func everyWorkerServesHealthMetricsAndJSONLogs() async throws {
        let topic = TestKafka.uniqueName("probe")
        try await TestKafka.createTopics([topic], partitions: 6)
        let group = "probe-\(UUID().uuidString.prefix(8).lowercased())"
        try await TestDatabase.with { url in
            let pool = PostgresPool(url: url, maximumConnections: 1)
            defer { pool.close() }
            let port = try freeLoopbackPort()
            let worker = try await ProbeProcess(topic: topic, group: group, databaseURL: url, name: "observed", httpPort: port)
            try await Self.produce(50, to: topic)
            try await eventually(timeout: .seconds(60), "handled") {
                (try? await Self.count("SELECT count(*) FROM probe_effects", pool)) ?? 0 == 50
            }
            let health = try await httpGet("http://127.0.0.1:\(port)/health")
            #expect(health.status == 200)
            let report = try #require(try JSONSerialization.jsonObject(with: Data(health.body.utf8)) as? [String: Any])
            #expect(report["status"] as? String == "ok")
            #expect(report["group"] as? String == group)
            #expect((report["assignedPartitions"] as? Int ?? 0) == 6)

            // The counters follow the handling a moment later: wait until they say 50.
            var metrics = try await httpGet("http://127.0.0.1:\(port)/metrics")
            var handled: [Substring] = []
            var sum = 0.0
            try await eventually("the metrics count all 50") {
                metrics = try await httpGet("http://127.0.0.1:\(port)/metrics")
                handled = metrics.body.split(separator: "\n").filter {
                    $0.hasPrefix("carefleet_messages_handled_total") && $0.contains(topic)
                }
                sum = handled.compactMap { line in line.split(separator: " ").last.flatMap { Double($0) } }.reduce(0, +)
                return sum == 50 && metrics.body.contains("carefleet_consumer_lag{")
            }
            #expect(metrics.status == 200)
            #expect(sum == 50, "\(handled)")
            #expect(metrics.body.contains("carefleet_handler_duration_seconds"))
            #expect(metrics.body.contains("carefleet_consumer_lag{"))

            worker.signal(SIGTERM)
            #expect(await worker.waitForExit(timeout: .seconds(15)) == 0)
            let lines = worker.log.split(separator: "\n").compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
            #expect(lines.contains { $0["message"] as? String == "worker started" && $0["group"] as? String == group })
            #expect(lines.allSatisfy { $0["time"] != nil && $0["level"] != nil })
        }
    }
}
