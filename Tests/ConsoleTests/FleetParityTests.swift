import Contracts
import Foundation
import TestSupport
import Testing

/// What the console shows, `fleet` prints: both call the Operations library.
@Suite("fleet and the console say the same", .serialized, .timeLimit(.minutes(3)))
struct FleetParityTests {
    @Test func fleetShowsMembersWorkersAndDeadLettersLikeTheConsole() async throws {
        try await ConsoleFixture.with { fleet in
            let environment = [
                "CAREFLEET_DATABASE_URL": fleet.databaseURL, "CAREFLEET_FLEET_NAMESPACE": fleet.namespace.prefix,
                "CAREFLEET_OPERATIONS_WORKERS": fleet.workers.keys.sorted().map { "\($0)=\(fleet.workers[$0] ?? "")" }.joined(separator: ","),
            ]
            let lag = try await FleetBinary.run(["lag", "--members"], environment: environment)
            #expect(lag.status == 0, "\(lag.output)")
            let booking = fleet.bookingGroup.name
            #expect(lag.output.contains("\(booking): Stable, 1 members"), "\(lag.output)")
            let partitionRows = lag.output.split(separator: "\n").filter { $0.hasPrefix(booking + " ") && $0.contains(fleet.commandsTopic + " ") }
            #expect(partitionRows.count == Topics.appointmentCommands.partitions)
            // (Which member holds which partition is shown when the broker reports assignments;
            // the development broker, Tansu, describes members without them.)

            let workers = try await FleetBinary.run(["workers"], environment: environment)
            #expect(workers.status == 1, "a worker that does not answer fails the command: \(workers.output)")
            let rows = workers.output.split(separator: "\n")
            #expect(rows.contains { $0.hasPrefix("booking-worker ") && $0.contains(" ok ") && $0.contains(booking) }, "\(workers.output)")
            #expect(rows.contains { $0.hasPrefix("email-worker ") && $0.contains(" unreachable ") }, "\(workers.output)")

            let poison = try await fleet.publishPoison()
            try await eventually("the poison message is dead-lettered") { try await fleet.depth(fleet.commandsDeadLetterTopic) >= 1 }
            let position = "\(fleet.commandsDeadLetterTopic)/\(poison.partition)/\(poison.offset)"
            let list = try await FleetBinary.run(["dlq", "list"], environment: environment)
            let listed = try #require(list.output.split(separator: "\n").first { $0.hasPrefix(fleet.commandsDeadLetterTopic) })
            #expect(listed.split(separator: " ", omittingEmptySubsequences: true).prefix(3).map(String.init) == [fleet.commandsDeadLetterTopic, "1", "1"])
            let replay = try await FleetBinary.run(["dlq", "replay", fleet.commandsDeadLetterTopic, "--position", position], environment: environment)
            #expect(replay.status == 0, "\(replay.output)")
            #expect(replay.output.contains("replayed \(position) → \(fleet.commandsTopic)/"), "\(replay.output)")
            func letters(_ arguments: [String]) async throws -> [[String: Any]] {
                let shown = try await FleetBinary.run(["dlq", "show", fleet.commandsDeadLetterTopic, "--json"] + arguments, environment: environment)
                return shown.output.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            }
            func isPoison(_ letter: [String: Any]) -> Bool {
                letter["partition"] as? Int == Int(poison.partition) && (letter["offset"] as? NSNumber)?.int64Value == poison.offset
            }
            let all = try await letters([])
            #expect(all.first(where: isPoison)?["replayedTo"] as? String != nil, "fleet dlq show says where it was replayed to")
            #expect(try await letters(["--waiting-only"]).contains(where: isPoison) == false, "the replayed letter no longer waits")
        }
    }
}
