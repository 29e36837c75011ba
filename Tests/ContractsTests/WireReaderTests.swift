import Foundation
import Testing

@testable import Contracts

/// The hand readers of the busy messages (`HotMessageReaders.swift`) must read what the
/// synthesized `init(from:)` reads, and refuse what it refuses with the same problem (the
/// dead-letter reason names the field): compared on samples, and on every member missing, null,
/// of the wrong kind or with a value its type does not take, nested members included.
@Suite("Wire reader")
struct WireReaderTests {
    enum Outcome: Equatable, CustomStringConvertible {
        case value(String)
        case problem(String)

        var description: String {
            switch self {
            case .value(let json): "value \(json)"
            case .problem(let problem): "problem \(problem)"
            }
        }
    }

    /// `T` read from `value` by its reader (the decoder's path) and by its `init(from:)`.
    static func outcomes<T: WireReadable & Encodable>(_: T.Type, _ value: WireValue) -> (reader: Outcome, initFrom: Outcome) {
        func outcome(_ read: () throws -> T) -> Outcome {
            do {
                let json = String(decoding: try WireEncoder().encodeTree(try read()), as: UTF8.self)
                return .value(json)
            } catch {
                return .problem(DecodingProblem(error).description)
            }
        }
        return (
            outcome { try WireDecoder().decode(T.self, from: value) },
            outcome { try T(from: WireValueDecoder(value, codingPath: [])) }
        )
    }

    /// A value of another kind than `value`'s.
    static func otherKind(_ value: WireValue) -> WireValue {
        switch value {
        case .string: .number("1")
        case .number, .bool: .string("x")
        case .object: .array([])
        case .array: .object([])
        case .null: .bool(true)
        }
    }

    /// Values of the same kind that a member's type may not take (not a UUID, not a time, not
    /// one of an enum's cases; not a whole number, out of range).
    static func sameKindButWrong(_ value: WireValue) -> [WireValue] {
        switch value {
        case .string: [.string("x"), .string("")]
        case .number: [.number("1.5"), .number("1e400")]
        default: []
        }
    }

    /// `value` changed in one place at a time, at every depth; and a few changes of the whole.
    static func mutations(of value: WireValue) -> [(label: String, value: WireValue)] {
        guard case .object(let members) = value else { return [] }
        var result: [(label: String, value: WireValue)] = [("an array", .array([])), ("null", .null), ("empty", .object([]))]
        for (index, member) in members.enumerated() {
            // Two members wrong: the one read first is named (the readers keep init(from:)'s order).
            for other in members.indices where other > index {
                var both = members
                both[index].value = otherKind(member.value)
                both[other].value = otherKind(members[other].value)
                result.append(("\(member.key) and \(members[other].key) of another kind", .object(both)))
            }
            var without = members
            without.remove(at: index)
            result.append(("without \(member.key)", .object(without)))
            var replacements: [(label: String, value: WireValue)] = [("null", .null), ("of another kind", otherKind(member.value))]
            replacements += sameKindButWrong(member.value).map { ("\($0)", $0) }
            replacements += mutations(of: member.value)
            for replacement in replacements {
                var changed = members
                changed[index].value = replacement.value
                result.append(("\(member.key): \(replacement.label)", .object(changed)))
            }
        }
        return result
    }

    static func compare<T: WireReadable & Encodable>(_ samples: [T]) throws {
        #expect(!samples.isEmpty, "no sample of \(T.self)")
        for sample in samples {
            let tree = try WireValue.parse(Data(try WireEncoder().encodeTree(sample)))
            let plain = outcomes(T.self, tree)
            #expect(plain.reader == plain.initFrom, "\(T.self)")
            guard case .value = plain.reader else {
                Issue.record("\(T.self): the sample did not read: \(plain.reader)")
                continue
            }
            for mutation in mutations(of: tree) {
                let (reader, initFrom) = outcomes(T.self, mutation.value)
                #expect(reader == initFrom, "\(T.self), \(mutation.label)")
            }
        }
    }

    @Test func everyReaderReadsAndRefusesAsInitFromDoes() throws {
        let samples = WireWriterTests.full + WireWriterTests.sparse
        try Self.compare(samples.compactMap { $0 as? Principal })
        try Self.compare(samples.compactMap { $0 as? RequestAppointment })
        try Self.compare(samples.compactMap { $0 as? AppointmentSnapshot })
        try Self.compare(samples.compactMap { $0 as? AppointmentBooked })
        try Self.compare(samples.compactMap { $0 as? AppointmentDeclined })
        try Self.compare(samples.compactMap { $0 as? EmailRecipient })
        try Self.compare(samples.compactMap { $0 as? AppointmentSummary })
        try Self.compare(samples.compactMap { $0 as? EmailRequested })
        // An envelope's metadata, with a cause and an actor who is a user, and without either.
        let envelopes = samples.filter { "\(type(of: $0))".hasPrefix("Envelope<") }
        let metadata = try envelopes.map { try WireDecoder().decode(EnvelopeMetadata.self, from: Data(try WireEncoder().encodeTree($0))) }
        #expect(Set(metadata.map { $0.causationId == nil }) == [true, false])
        try Self.compare(metadata)
    }

    /// The decoder takes the reader's path where a type has one: this reader reads what
    /// `init(from:)` never would.
    @Test func theDecoderTakesTheReadersPath() throws {
        let read = try WireDecoder().decode(ReadByHand.self, from: Data(#"{"other":1}"#.utf8))
        #expect(read.byReader)
        #expect(try WireDecoder().decode([ReadByHand].self, from: Data(#"[{}]"#.utf8)).first?.byReader == true)
    }

    /// A whole message through its catalog: the metadata's reader, the payload envelope's and the
    /// payload's, nested. (Every golden fixture is read as `JSONDecoder` reads it: `ContractsTests`.)
    @Test func aMessageWithAHandReadPayloadDecodesWhole() throws {
        let booked = Envelope(
            id: WireWriterTests.ids[3], occurredAt: WireWriterTests.when, correlationId: "c", causationId: nil, tenantId: WireWriterTests.ids[0], actor: Principal(role: .patient, userId: WireWriterTests.ids[1]),
            payload: AppointmentBooked(commandId: WireWriterTests.ids[2], appointment: WireWriterTests.snapshot, reason: "r"))
        let data = try booked.encoded()
        let decoded = try Catalogs.appointmentEvents.decode(data)
        // Foundation's decoder, which knows nothing of the readers, reads the same value.
        #expect(decoded.envelope(as: AppointmentBooked.self) == (try WireCoding.decoder().decode(Envelope<AppointmentBooked>.self, from: data)))
        #expect(decoded.metadata.actor == booked.actor && decoded.metadata.id == booked.id)
    }
}

private struct ReadByHand: WireReadable {
    var byReader = false

    init(wire reader: WireReader) throws { byReader = true }
}
