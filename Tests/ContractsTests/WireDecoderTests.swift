import Foundation
import Testing

@testable import Contracts

/// The decoder every worker reads messages with: it must read what Foundation's `JSONDecoder`
/// reads, the same way, and refuse hostile input with an error that names the field.
@Suite("Wire decoder")
struct WireDecoderTests {
    static let catalogs = [
        Catalogs.appointmentCommands, Catalogs.appointmentEvents, Catalogs.notificationEmail, Catalogs.auditEvents,
        Catalogs.inAppNotifications, Catalogs.webhookDeliveries,
    ]
    static let payloadTypes: [any MessagePayload.Type] =
        AppointmentCommand.payloadTypes + AppointmentEvent.payloadTypes + NotificationEmail.payloadTypes + AuditEvent.payloadTypes
        + InAppNotificationMessage.payloadTypes + WebhookDelivery.payloadTypes

    /// Decodes with both decoders and compares the values.
    static func agree<P: MessagePayload>(_ type: P.Type, _ data: Data) throws -> Bool {
        let foundation = try WireCoding.decoder().decode(Envelope<P>.self, from: data)
        let wire = try WireDecoder().decode(Envelope<P>.self, from: data)
        return foundation == wire
    }

    @Test("every golden fixture decodes to the value JSONDecoder decodes", arguments: ContractsTests.fixtureNames)
    func agreesWithFoundation(name: String) throws {
        let data = try ContractsTests.fixture(name)
        let metadata = try WireDecoder().decode(EnvelopeMetadata.self, from: data)
        let type = try #require(Self.payloadTypes.first { $0.messageType == metadata.type && $0.version == metadata.version })
        #expect(try Self.agree(type, data))
        #expect(try WireCoding.decoder().decode(EnvelopeMetadata.self, from: data) == metadata)
    }

    /// The reason a catalog gives for bytes it cannot decode.
    static func reason(_ json: String) -> String? {
        do {
            _ = try Catalogs.appointmentCommands.decode(Data(json.utf8))
            return nil
        } catch {
            guard case .undecodable(let reason) = error else { return "\(error)" }
            return reason
        }
    }

    static func request(_ change: (inout [String: Any]) -> Void) throws -> String {
        var object = try #require(try JSONSerialization.jsonObject(with: ContractsTests.fixture("command.request.json")) as? [String: Any])
        var payload = try #require(object["payload"] as? [String: Any])
        change(&payload)
        object["payload"] = payload
        return String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
    }

    @Test func aWrongValueIsNamedByItsFieldAndWhatItMustBe() throws {
        #expect(Self.reason(try Self.request { $0["doctorId"] = 42 }) == "field 'payload.doctorId' must be a string")
        #expect(Self.reason(try Self.request { $0["doctorId"] = "not-a-uuid" }) == "field 'payload.doctorId' must be a UUID")
        #expect(Self.reason(try Self.request { $0["startsAt"] = "tomorrow" }) == "field 'payload.startsAt' must be an ISO-8601 time")
        #expect(Self.reason(try Self.request { $0["doctorId"] = NSNull() }) == "field 'payload.doctorId' must be a string, not null")
        #expect(Self.reason(try Self.request { $0.removeValue(forKey: "doctorId") }) == "field 'payload.doctorId' is missing")
        #expect(Self.reason(#"{"id": 1}"#) == "field 'id' must be a string")
        #expect(Self.reason("[]")?.contains("must be an object") == true)
        #expect(Self.reason("") == "the body is not valid JSON")
    }

    @Test func hostileDocumentsAreRefusedNotCrashedOn() throws {
        let refused = [
            String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000),  // nesting beyond the stack
            #"{"a": 1, "a": 2}"#,  // which copy counts would be a guess
            "\"\u{1}\"",  // a raw control character
            #""\ud800""#,  // a lone surrogate
            #""\x""#,  // an unknown escape
            #"{"a": 01}"#, #"{"a": 1.}"#, #"{"a": -}"#, #"{"a": 1e}"#,
            #"{"a": tru}"#, #"{"a": 1} x"#, #"{"a" 1}"#, #"{"a": 1,}"#, #"["#, "\"",
        ]
        for text in refused {
            #expect(throws: DecodingError.self, "\(text.prefix(40))") { try WireValue.parse(Data(text.utf8)) }
        }
        // Bytes that are not UTF-8 inside a string.
        #expect(throws: DecodingError.self) { try WireValue.parse(Data([0x22, 0xC3, 0x28, 0x22])) }
        #expect(throws: DecodingError.self) { try WireValue.parse(Data([0x22, 0xFF, 0x22])) }
    }

    @Test func stringsKeepEveryCharacterTheyEscape() throws {
        let text = "quote \" back \\ slash / nul \u{0} tab \t line \n é 日本 🩺 \u{7f}"
        let encoded = try WireEncoder().encode(["text": text])
        #expect(try WireDecoder().decode([String: String].self, from: encoded) == ["text": text])
        // Escapes Foundation writes that ours does not: \/, \b, \f, \u with a surrogate pair.
        let foreign = Data(#"["\/", "\b\f", "\u00e9\ud83e\ude7a", "\u0000"]"#.utf8)
        #expect(try WireDecoder().decode([String].self, from: foreign) == ["/", "\u{8}\u{c}", "é🩺", "\u{0}"])
        let megabyte = String(repeating: "x", count: 1 << 20)
        #expect(try WireDecoder().decode([String].self, from: WireEncoder().encode([megabyte])) == [megabyte])
    }

    @Test func numbersConvertOnlyWhenTheyFit() throws {
        struct Numbers: Codable, Equatable {
            var whole: Int
            var real: Double
            var small: Int32?
        }
        let decoder = WireDecoder()
        #expect(try decoder.decode(Numbers.self, from: Data(#"{"whole": 1e3, "real": -2.5E-3}"#.utf8)) == Numbers(whole: 1000, real: -0.0025))
        #expect(try decoder.decode(Numbers.self, from: Data(#"{"whole": 3.0, "real": 1, "small": null}"#.utf8)) == Numbers(whole: 3, real: 1))
        for json in [#"{"whole": 1.5, "real": 1}"#, #"{"whole": 1, "real": 1e400}"#, #"{"whole": 1, "real": 1, "small": 3000000000}"#] {
            #expect(throws: DecodingError.self, "\(json)") { try decoder.decode(Numbers.self, from: Data(json.utf8)) }
        }
        #expect(throws: DecodingError.self) { try decoder.decode(Numbers.self, from: Data(#"{"whole": "1", "real": 1}"#.utf8)) }
    }

    @Test func uuidsAreReadInEitherCaseAndNothingElse() throws {
        let id = UUID.random()
        #expect(try WireDecoder().decode([UUID].self, from: Data("[\"\(id.uuidString)\", \"\(id.canonical)\"]".utf8)) == [id, id])
        for bad in ["\(id.canonical)x", String(id.canonical.dropLast()), id.canonical.replacingOccurrences(of: "-", with: "_"), "g" + id.canonical.dropFirst()] {
            #expect(throws: DecodingError.self, "\(bad)") { try WireDecoder().decode([UUID].self, from: Data("[\"\(bad)\"]".utf8)) }
        }
    }

    /// Read by hand now; it must give the very `Date` Foundation's parser gives, and every
    /// millisecond must be written back as it was read (truncation wrote some a millisecond early).
    @Test func timestampsReadAsFoundationReadsThemAndWriteBackTheSame() throws {
        let foundation = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        for millis in 0..<1000 {
            for day in ["2026-12-02T09:00:00", "1999-12-31T23:59:59", "2400-02-29T12:34:56", "1600-03-01T00:00:01"] {
                let text = "\(day).\(String(millis + 1000).dropFirst())Z"
                let date = try #require(WireCoding.parseTimestamp(text))
                #expect(date == (try foundation.parse(text)), "\(text)")
                #expect(WireCoding.formatTimestamp(date) == text)
            }
        }
        for invalid in ["2026-02-29T00:00:00.000Z", "2026-13-01T00:00:00.000Z", "2026-12-01T24:00:00.000Z", "0000-01-01T00:00:00.000Z"] {
            #expect(WireCoding.parseCanonicalTimestamp(invalid) == nil, "\(invalid)")
        }
    }
}
