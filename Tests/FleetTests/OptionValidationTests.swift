import Foundation
import TestSupport
import Testing

/// Numbers and days an operator can get wrong are refused before the command does anything, with
/// the option named: before these checks `bench pipeline --rate 0` and `bench booking --doctors 0`
/// crashed (a second divided by zero, a modulo by zero), `bench streams --streams=-1` crashed on an
/// empty range, `bench booking --commands 0` printed a ratio of -nan, and `analytics show --from
/// 0000-01-01` answered with PostgreSQL's "date/time field value out of range".
@Suite("fleet refuses impossible option values", .timeLimit(.minutes(2)))
struct OptionValidationTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let arguments: [String]
        /// What the error line must say.
        let message: String
        var testDescription: String { arguments.joined(separator: " ") }
    }

    static let refused: [Case] = [
        Case(arguments: ["bench", "pipeline", "--rate", "0"], message: "--rate must be at least 1 (got 0)"),
        Case(arguments: ["bench", "pipeline", "--seconds=-1"], message: "--seconds must be at least 1"),
        Case(arguments: ["bench", "pipeline", "--step-rates", "400,0"], message: "--step-rates must be at least 1 (got 0)"),
        Case(
            arguments: ["bench", "pipeline", "--step-rates", "400,fast"],
            message: "--step-rates takes whole numbers separated by commas (got 'fast')"),
        Case(arguments: ["bench", "pipeline", "--burst=-5"], message: "--burst must be at least 0"),
        Case(arguments: ["bench", "pipeline", "--patients", "0"], message: "--patients must be at least 1"),
        Case(arguments: ["bench", "booking", "--commands", "0"], message: "--commands must be at least 1"),
        Case(arguments: ["bench", "booking", "--doctors", "0"], message: "--doctors must be at least 1"),
        Case(arguments: ["bench", "booking", "--conflict-share", "1.5"], message: "--conflict-share must be between 0.0 and 1.0"),
        Case(arguments: ["bench", "booking", "--conflict-share", "nan"], message: "--conflict-share must be between 0.0 and 1.0"),
        Case(arguments: ["bench", "booking", "--ceiling-clients", "0"], message: "--ceiling-clients must be at least 1"),
        Case(arguments: ["bench", "email", "--emails", "0"], message: "--emails must be at least 1"),
        Case(arguments: ["bench", "ingress", "--duration", "0"], message: "--duration must be at least 1"),
        Case(arguments: ["bench", "ingress", "--connections", "1", "--threads", "2"], message: "--connections must be at least 2"),
        Case(arguments: ["bench", "streams", "--streams=-1"], message: "--streams must be at least 1"),
        Case(arguments: ["workers", "--interval", "inf"], message: "--interval must be between 0.1 and 3600.0"),
        Case(arguments: ["dlq", "show", "appointments.commands.booking-worker.dlq", "--limit", "0"], message: "--limit must be at least 1"),
        Case(arguments: ["dlq", "replay", "appointments.commands.booking-worker.dlq", "--limit=-2"], message: "--limit must be at least 1"),
        Case(arguments: ["publish", "appointments.commands", "--version", "0"], message: "--version must be at least 1"),
        Case(
            arguments: ["analytics", "show", "--tenant", "00000000-0000-0000-0000-000000000000", "--from", "0000-01-01", "--to", "2026-01-01"],
            message: "--from must be a date YYYY-MM-DD between 1900-01-01 and 2199-12-31 (got '0000-01-01')"),
        Case(
            arguments: ["analytics", "show", "--tenant", "00000000-0000-0000-0000-000000000000", "--from", "2026-01-01", "--to", "2026-02-30"],
            message: "--to must be a date YYYY-MM-DD"),
        Case(
            arguments: ["analytics", "show", "--tenant", "00000000-0000-0000-0000-000000000000", "--from", "2026-03-01", "--to", "2026-02-01"],
            message: "--to must not be before --from"),
    ]

    @Test(arguments: refused)
    func refusedWithTheOptionNamed(_ refused: Case) async throws {
        let result = try await FleetBinary.run(refused.arguments, input: Data())
        // ArgumentParser's exit status for a ValidationError (EX_USAGE), not a crash's signal.
        #expect(result.status == 64, "\(result.output)")
        #expect(result.output.contains("Error: \(refused.message)"), "\(result.output)")
        #expect(!result.output.contains("Fatal error"))
    }
}
