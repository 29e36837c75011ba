import Foundation
import Testing

@testable import Contracts

@Suite("Contracts v1")
struct ContractsTests {
    static let fixtureNames: [String] = {
        let directory = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!
        return ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
            .filter { $0.hasSuffix(".json") }.sorted()
    }()

    static func fixture(_ name: String) throws -> Data {
        let directory = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        return try Data(contentsOf: directory.appendingPathComponent(name))
    }

    /// JSON as a comparable value: key order and whitespace do not matter, values do.
    static func canonical(_ data: Data) throws -> NSDictionary {
        try #require(try JSONSerialization.jsonObject(with: data) as? NSDictionary)
    }

    @Test func everyMessageTypeHasAGoldenFixture() {
        #expect(
            Self.fixtureNames.count
                == AppointmentCommand.payloadTypes.count + AppointmentEvent.payloadTypes.count
                + NotificationEmail.payloadTypes.count + AuditEvent.payloadTypes.count + InAppNotificationMessage.payloadTypes.count
                + WebhookDelivery.payloadTypes.count)
    }

    /// The topic enums and the decoders list the same types: every fixture of a topic decodes
    /// into a case of its enum whose payload is the decoded one (so a type added to a list but
    /// not to the enum, or the other way round, fails here).
    @Test("every payload type of a topic is a case of its enum", arguments: fixtureNames)
    func everyPayloadTypeIsACaseOfItsTopicEnum(name: String) throws {
        let data = try Self.fixture(name)
        if name.hasPrefix("command.") {
            let decoded = try Catalogs.appointmentCommands.decode(data)
            let command = try AppointmentCommand(decoded)
            #expect(type(of: command.payload).messageType == decoded.metadata.type)
            #expect(command.doctorId.uuidString.lowercased() == "1a2b3c4d-0000-4000-8000-000000000001")
        } else if name.hasPrefix("webhook.") {
            let decoded = try Catalogs.webhookDeliveries.decode(data)
            #expect(type(of: try WebhookDelivery(decoded).payload).messageType == decoded.metadata.type)
        } else if name.hasPrefix("inapp.") {
            let decoded = try Catalogs.inAppNotifications.decode(data)
            #expect(type(of: try InAppNotificationMessage(decoded).payload).messageType == decoded.metadata.type)
        } else if name.hasPrefix("audit.") {
            let decoded = try Catalogs.auditEvents.decode(data)
            let event = try AuditEvent(decoded)
            #expect(type(of: event.payload).messageType == decoded.metadata.type)
        } else if name.hasPrefix("email.") {
            let decoded = try Catalogs.notificationEmail.decode(data)
            let email = try NotificationEmail(decoded)
            #expect(type(of: email.payload).messageType == decoded.metadata.type)
            #expect(email.recipient.email == "zoe@example.com")
        } else {
            let decoded = try Catalogs.appointmentEvents.decode(data)
            let event = try AppointmentEvent(decoded)
            #expect(type(of: event.payload).messageType == decoded.metadata.type)
            #expect(event.doctorId.uuidString.lowercased() == "1a2b3c4d-0000-4000-8000-000000000001")
        }
        let types = AppointmentCommand.payloadTypes + AppointmentEvent.payloadTypes + NotificationEmail.payloadTypes
            + AuditEvent.payloadTypes + InAppNotificationMessage.payloadTypes + WebhookDelivery.payloadTypes
        #expect(Set(types.map { "\($0.messageType)/\($0.version)" }).count == types.count, "no type twice")
    }

    @Test func aPayloadOfAnotherTopicIsNotACaseOfThisOne() throws {
        let decoded = try Catalogs.appointmentEvents.decode(try Self.fixture("event.booked.json"))
        #expect(throws: ContractError.unknownType("appointment.booked")) { try AppointmentCommand(decoded) }
    }

    @Test func theWireWritesCanonicalLowerCaseUUIDsSortedKeysAndMilliseconds() throws {
        struct Sample: Encodable {
            var zeta = UUID(uuid: (0xAB, 0xCD, 0xEF, 0x01, 0, 0, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, 0x0F))
            var alpha = Date(timeIntervalSince1970: 1_790_000_000.1239)
            var text = "quote \" slash / tab \t nul \u{0}"
            var list: [Int] = [3, 1]
            var nothing: String? = nil
            var nested = ["b": 2.5, "a": 1.0]
        }
        let json = String(decoding: try WireCoding.encoder().encode(Sample()), as: UTF8.self)
        #expect(
            json == #"{"alpha":"2026-09-21T14:13:20.123Z","list":[3,1],"nested":{"a":1,"b":2.5},"#
                + #""text":"quote \" slash / tab \t nul \u0000","zeta":"abcdef01-0000-4000-8000-00000000000f"}"#)
        // What it writes, Foundation reads back.
        let back = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        #expect(back["text"] as? String == "quote \" slash / tab \t nul \u{0}")
    }

    /// Proleptic Gregorian, like PostgreSQL (Foundation switches to the Julian calendar before 1582).
    @Test func timestampsAreWrittenInTheProlepticGregorianCalendar() {
        let expected: [(Double, String)] = [
            (-62_135_596_800, "0001-01-01T00:00:00.000Z"), (-1.5, "1969-12-31T23:59:58.500Z"), (0, "1970-01-01T00:00:00.000Z"),
            (951_782_400.25, "2000-02-29T00:00:00.250Z"), (1_790_000_000.1239, "2026-09-21T14:13:20.123Z"),
            (253_402_300_799, "9999-12-31T23:59:59.000Z"),
        ]
        for (seconds, text) in expected {
            #expect(WireCoding.formatTimestamp(Date(timeIntervalSince1970: seconds)) == text)
            #expect(WireCoding.parseTimestamp(text).map(WireCoding.formatTimestamp) == text)
        }
    }

    @Test("golden fixture decodes and re-encodes to the same JSON", arguments: fixtureNames)
    func goldenFixtureRoundTrips(name: String) throws {
        let data = try Self.fixture(name)
        let catalog =
            name.hasPrefix("command.")
            ? Catalogs.appointmentCommands
            : name.hasPrefix("email.")
                ? Catalogs.notificationEmail
                : name.hasPrefix("audit.")
                    ? Catalogs.auditEvents
                    : name.hasPrefix("inapp.")
                        ? Catalogs.inAppNotifications : name.hasPrefix("webhook.") ? Catalogs.webhookDeliveries : Catalogs.appointmentEvents
        let decoded = try catalog.decode(data)
        let reencoded = try decoded.encoded()
        #expect(try Self.canonical(reencoded) == Self.canonical(data))
        #expect(type(of: decoded.payload).messageType == decoded.metadata.type)
    }

    @Test func unknownTypeAndUnknownVersionAreDistinctErrors() throws {
        let data = try Self.fixture("command.request.json")
        var object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        object["type"] = "appointment.teleport"
        #expect(throws: ContractError.unknownType("appointment.teleport")) {
            try Catalogs.appointmentCommands.decode(try JSONSerialization.data(withJSONObject: object))
        }
        object["type"] = "appointment.request"
        object["version"] = 7
        #expect(throws: ContractError.unknownVersion(type: "appointment.request", version: 7)) {
            try Catalogs.appointmentCommands.decode(try JSONSerialization.data(withJSONObject: object))
        }
        #expect(ContractError.unknownType("x").errorClass != ContractError.unknownVersion(type: "x", version: 2).errorClass)
    }

    @Test func bytesThatAreNotJSONAreUndecodable() {
        #expect {
            try Catalogs.appointmentCommands.decode(Data([0xff, 0x00, 0x12]))
        } throws: { error in
            guard case .undecodable = error as? ContractError else { return false }
            return true
        }
    }

    @Test func aMissingPayloadFieldIsNamed() throws {
        let data = try Self.fixture("command.request.json")
        var object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        var payload = try #require(object["payload"] as? [String: Any])
        payload.removeValue(forKey: "doctorId")
        object["payload"] = payload
        #expect {
            try Catalogs.appointmentCommands.decode(try JSONSerialization.data(withJSONObject: object))
        } throws: { error in
            guard case .undecodable(let reason) = error as? ContractError else { return false }
            return reason.contains("payload.doctorId")
        }
    }

    @Test func anAppointmentThatEndsBeforeItStartsIsInvalid() throws {
        let data = try Self.fixture("command.request.json")
        var object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        var payload = try #require(object["payload"] as? [String: Any])
        payload["endsAt"] = "2026-12-01T09:00:00.000Z"
        object["payload"] = payload
        #expect(throws: ContractError.invalid(field: "payload.endsAt", reason: "must be after startsAt")) {
            try Catalogs.appointmentCommands.decode(try JSONSerialization.data(withJSONObject: object))
        }
    }

    @Test func retryAndDeadLetterTopicsFollowTheNamingScheme() {
        let group = ConsumerGroups.booking
        #expect(group.retryTopic(of: "appointments.commands", stage: 2) == "appointments.commands.booking-worker.retry.2")
        #expect(group.deadLetterTopic(of: "appointments.commands") == "appointments.commands.booking-worker.dlq")
        #expect(
            DerivedTopic(parsing: "appointments.commands.booking-worker.retry.2")
                == .retry(source: "appointments.commands", group: "booking-worker", stage: 2))
        #expect(
            DerivedTopic(parsing: "notifications.email.email-worker.dlq")
                == .deadLetter(source: "notifications.email", group: "email-worker"))
        #expect(DerivedTopic(parsing: "appointments.commands") == nil)
        #expect(
            group.subscribedTopics == [
                "appointments.commands", "appointments.commands.booking-worker.retry.1",
                "appointments.commands.booking-worker.retry.2", "appointments.commands.booking-worker.retry.3",
            ])
    }

    @Test func everyGroupHasRetryAndDeadLetterTopicsInTheTopicList() {
        let names = Set(Topics.all.map(\.name))
        for group in ConsumerGroups.all {
            for source in group.sources {
                #expect(names.contains(group.deadLetterTopic(of: source.name)))
                for stage in group.ladder.stageDelays.indices.map({ $0 + 1 }) {
                    #expect(names.contains(group.retryTopic(of: source.name, stage: stage)))
                }
            }
        }
        #expect(names.count == Topics.all.count, "no topic is listed twice")
    }

    @Test func ladderBacksOffExponentiallyWithBoundedJitter() {
        let ladder = RetryLadder(
            attemptsPerStage: 3, initialBackoff: .milliseconds(100), maxBackoff: .milliseconds(350), jitter: 0.5,
            stageDelays: [.seconds(1), .seconds(2)])
        #expect(ladder.backoff(afterTry: 1, unitRandom: 0.5) == .milliseconds(100))
        #expect(ladder.backoff(afterTry: 2, unitRandom: 0.5) == .milliseconds(200))
        #expect(ladder.backoff(afterTry: 3, unitRandom: 0.5) == .milliseconds(350))
        #expect(ladder.backoff(afterTry: 2, unitRandom: 0) == .milliseconds(100))
        #expect(ladder.backoff(afterTry: 2, unitRandom: 1) == .milliseconds(300))
        #expect(ladder.next(afterStage: 0) == .retryTopic(stage: 1, delay: .seconds(1)))
        #expect(ladder.next(afterStage: 1) == .retryTopic(stage: 2, delay: .seconds(2)))
        #expect(ladder.next(afterStage: 2) == .deadLetter)
        #expect(ladder.totalAttempts == 9)
    }

    @Test func timestampsKeepMillisecondsAndAcceptOffsets() throws {
        let date = try #require(WireCoding.parseTimestamp("2026-03-29T01:30:00.250+01:00"))
        #expect(WireCoding.formatTimestamp(date) == "2026-03-29T00:30:00.250Z")
        #expect(WireCoding.parseTimestamp("2026-03-29T00:30:00Z") != nil)
        #expect(WireCoding.parseTimestamp("yesterday") == nil)
    }

    @Test func newEnvelopesAndTheirConsequencesGetTimeOrderedIds() {
        let first = Envelope(
            correlationId: "c", tenantId: UUID.random(), actor: .system,
            payload: ConfirmAppointment(appointmentId: UUID.random(), doctorId: UUID.random()))
        let caused = first.caused(CancelAppointment(appointmentId: UUID.random(), doctorId: UUID.random(), reason: "r"))
        for id in [first.id, caused.id] {
            #expect(id.canonical.dropFirst(14).first == "7", "version 7: \(id.canonical)")
        }
        #expect(first.id.canonical.prefix(8) <= caused.id.canonical.prefix(8), "the later one sorts no earlier")
    }

    @Test func randomUUIDsAreVersionFourAndPrintInCanonicalLowerCase() {
        var seen = Set<UUID>()
        for _ in 0..<1000 {
            let id = UUID.random()
            #expect(id.canonical == id.uuidString.lowercased())
            #expect(id.canonical.dropFirst(14).first == "4", "version 4")
            #expect("89ab".contains(id.canonical.dropFirst(19).first ?? "x"), "variant 10")
            seen.insert(id)
        }
        #expect(seen.count == 1000)
        let fixed = UUID(uuid: (0xAB, 0xCD, 0xEF, 0x01, 0x23, 0x45, 0x67, 0x89, 0x0A, 0xBC, 0xDE, 0xF0, 0x12, 0x34, 0x56, 0x78))
        #expect(fixed.canonical == "abcdef01-2345-6789-0abc-def012345678")
    }
}
