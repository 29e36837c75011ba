import Contracts
import Foundation
import Kafka
import TestSupport
import Testing

@Suite("fleet publish, lag and dlq against running workers", .timeLimit(.minutes(3)))
struct FleetCommandTests {
    @Test func dlqReplayIsFilteredDryRunnableAndNeverRepeats() async throws {
        let group = try await TestGroup.make(partitions: 2)
        let handler = RecordingHandler()
        try await TestDatabase.with { url in
            try await withWorker(group.settings(), handler: handler) { _ in
                _ = try await group.send(try ProbeWork.envelope(1, behaviour: "reject"), key: "doctor-a")
                _ = try await group.send(try ProbeWork.envelope(2, behaviour: "reject"), key: "doctor-a")
                _ = try await group.send(try ProbeWork.envelope(3, behaviour: "reject"), key: "doctor-b")
                try await eventually("three dead letters") { try await group.depth(of: group.deadLetterTopic) == 3 }
                handler.rejecting.withLock { $0 = false }  // the cause is fixed
                let sourceDepth = try await group.depth(of: group.topic)
                let database = ["CAREFLEET_DATABASE_URL": url]

                let list = try await FleetBinary.run(["dlq", "list"], environment: database)
                #expect(list.status == 0, "\(list.output)")
                let listed = try #require(list.output.split(separator: "\n").first { $0.hasPrefix(group.deadLetterTopic) })
                #expect(listed.contains(" 3 ") && listed.contains("test_rejected"), "\(listed)")

                let show = try await FleetBinary.run(["dlq", "show", group.deadLetterTopic, "--json"], environment: database)
                #expect(show.status == 0)
                let shown = show.output.split(separator: "\n").compactMap {
                    try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
                }
                #expect(shown.count == 3)
                #expect(shown.allSatisfy { ($0["headers"] as? [String: String])?[HeaderName.errorClass] == "test_rejected" })

                let dryRun = try await FleetBinary.run(["dlq", "replay", group.deadLetterTopic, "--dry-run"], environment: database)
                #expect(dryRun.status == 0, "\(dryRun.output)")
                #expect(dryRun.output.contains("would replay 3"))
                #expect(try await group.depth(of: group.topic) == sourceDepth, "a dry run publishes nothing")

                let replay = try await FleetBinary.run(
                    ["dlq", "replay", group.deadLetterTopic, "--key", "doctor-a", "--error-class", "test_rejected"],
                    environment: database)
                #expect(replay.status == 0, "\(replay.output)")
                #expect(replay.output.contains("matched 2, replayed 2, skipped 0"))
                try await eventually("the replayed messages are handled") {
                    handler.calls.value.filter { $0.replayedFrom != nil }.count == 2
                }
                let replayed = handler.calls.value.filter { $0.replayedFrom != nil }
                #expect(Set(replayed.map(\.n)) == [1, 2])
                #expect(replayed.allSatisfy { $0.attempt == 1 }, "attempts start again")
                #expect(replayed.allSatisfy { $0.replayedFrom?.hasPrefix(group.deadLetterTopic + "/") == true })

                let again = try await FleetBinary.run(["dlq", "replay", group.deadLetterTopic, "--key", "doctor-a"], environment: database)
                #expect(again.status == 0)
                #expect(again.output.contains("replayed 0, skipped 2"), "\(again.output)")
                // Whatever the second replay might have published is consumed once the group caught up.
                try await eventually("the group caught up") { try await group.lag() == 0 }
                #expect(handler.calls(for: 3).count == 1, "the unmatched message was not replayed")
                #expect(handler.calls.value.filter { $0.replayedFrom != nil }.count == 2, "nothing republished twice")
            }
        }
    }

    @Test func lagShowsAStoppedGroupAndZeroOnceItCatchesUp() async throws {
        let group = try await TestGroup.make(partitions: 3)
        let handler = RecordingHandler()
        try await withWorker(group.settings(), handler: handler) { _ in
            _ = try await group.send(try ProbeWork.envelope(0))
            try await eventually("first message handled") { handler.calls.value.count == 1 }
            try await eventually("its offset committed") { try await group.lag() == 0 }
        }
        for n in 1...7 { _ = try await group.send(try ProbeWork.envelope(n), key: "k\(n)") }
        let stopped = try await FleetBinary.run(["lag", "--group", group.spec.name, "--topic", group.topic])
        #expect(stopped.status == 0, "\(stopped.output)")
        #expect(Self.total(in: stopped.output, group: group.spec.name) == 7, "\(stopped.output)")

        try await withWorker(group.settings(), handler: handler) { _ in
            try await eventually("caught up") { handler.calls.value.count == 8 }
            try await eventually("offsets committed") { try await group.lag() == 0 }
        }
        let caughtUp = try await FleetBinary.run(["lag", "--group", group.spec.name, "--topic", group.topic])
        #expect(Self.total(in: caughtUp.output, group: group.spec.name) == 0, "\(caughtUp.output)")
        #expect(caughtUp.output.contains("COMMITTED"))
    }

    static func total(in table: String, group: String) -> Int? {
        table.split(separator: "\n").first { $0.hasPrefix(group) && $0.contains("(total)") }
            .flatMap { $0.split(separator: " ").last.flatMap { Int($0) } }
    }

    @Test func publishWrapsAPayloadOrSendsAWholeEnvelopeAsIs() async throws {
        let topic = TestKafka.uniqueName("publish")
        try await TestKafka.createTopics([topic], partitions: 3)
        let wrapped = try await FleetBinary.run(
            ["publish", topic, "--type", "test.work", "--key", "doctor-1"], input: Data(#"{"n": 42}"#.utf8))
        #expect(wrapped.status == 0, "\(wrapped.output)")
        #expect(wrapped.output.contains("partition") && wrapped.output.contains("offset"))

        let id = UUID()
        let envelope = try ProbeWork.envelope(43, id: id)
        let file = NSTemporaryDirectory() + "envelope-\(id).json"
        try envelope.write(to: URL(fileURLWithPath: file))
        defer { try? FileManager.default.removeItem(atPath: file) }
        for _ in 0..<2 {
            let sent = try await FleetBinary.run(["publish", topic, "--file", file, "--key", "doctor-1"])
            #expect(sent.status == 0, "\(sent.output)")
        }
        let messages = try await TestKafka.consume([topic], count: 3)
        #expect(messages.count == 3)
        #expect(messages.allSatisfy { $0.keyString == "doctor-1" })
        let decoded = try messages.map { try ProbeWork.catalog.decode(try #require($0.value)) }
        #expect(decoded.map { ($0.payload as? ProbeWork)?.n }.sorted { ($0 ?? 0) < ($1 ?? 0) } == [42, 43, 43])
        #expect(decoded.filter { $0.metadata.id == id }.count == 2, "the same envelope id twice: a redelivery")
        #expect(decoded.first { ($0.payload as? ProbeWork)?.n == 42 }?.metadata.tenantId == Tenants.defaultTenant)
    }

    @Test func publishRefusesAnInvalidCommandNamingTheField() async throws {
        let result = try await FleetBinary.run(
            ["publish", "appointments.commands", "--type", "appointment.request"],
            input: Data(#"{"appointmentId": "not-a-uuid"}"#.utf8))
        #expect(result.status != 0)
        #expect(result.output.contains("appointmentId") || result.output.contains("doctorId"), "\(result.output)")
    }
}
