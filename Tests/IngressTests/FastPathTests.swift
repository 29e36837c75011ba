import Contracts
import Foundation
import Testing

@testable import Ingress

/// The ingress's fast paths on `POST /v1/appointments` must answer exactly what the general
/// paths answer: the plain-ASCII walk of `Check.line` and `Check.text`, and the booking body's
/// hand reader.
@Suite("Ingress fast paths")
struct FastPathTests {
    /// Text that takes the walk, and text at its edges that must not (or must and trim right).
    static let texts: [String] = [
        "", " ", "   ", "check-up", "  check-up  ", "a b", "\tcheck-up\t", "\ncheck-up\r\n", "line one\nline two", "a\tb", "a\rb",
        "\r\n", " \t\r\n ", "x", "~", "!\"#$%&'()*+,-./0123456789:;<=>?@[\\]^_`{|}~", String(repeating: "a", count: 10),
        String(repeating: "a", count: 11), " " + String(repeating: "a", count: 10) + " ", "\u{0B}vertical tab\u{0B}", "\u{0C}form feed",
        "a\u{7F}", "\u{7F}", "nul\u{0}", "\u{0}", "a\u{1B}b", "\u{85}next line", "\u{A0}no-break\u{A0}", "é", " café ", "\u{FEFF}bom",
        "a\u{200B}b", "\u{2028}", "😀", "e\u{301}", "\r", "\t",
    ]

    static func outcome(_ check: () throws -> String) -> String {
        do { return "value \(try check())" } catch { return "error \(error)" }
    }

    @Test func theASCIIWalkAnswersAsTheGeneralPath() {
        for text in Self.texts {
            for required in [true, false] {
                #expect(
                    Self.outcome { try Check.line(text, field: "f", max: 10, required: required) }
                        == Self.outcome { try Check.lineByScalars(text, field: "f", max: 10, required: required) },
                    "line \(text.debugDescription), required \(required)")
                #expect(
                    Self.outcome { try Check.text(text, field: "f", max: 10, required: required) }
                        == Self.outcome { try Check.textByScalars(text, field: "f", max: 10, required: required) },
                    "text \(text.debugDescription), required \(required)")
            }
        }
        // The walk is taken where it should be (else the comparison above compares nothing).
        #expect(Check.plainASCII("  check-up  ", breaks: false) == "check-up")
        #expect(Check.plainASCII("\ncheck-up\r\n", breaks: true) == "check-up")
        #expect(Check.plainASCII("a\tb", breaks: false) == nil)
        #expect(Check.plainASCII(" café ", breaks: true) == nil)
    }

    /// `RequestBody` with the synthesized `init(from:)`: what the reader must read alike.
    struct SynthesizedRequestBody: Decodable {
        var doctorId: UUID
        var startsAt: Date
        var endsAt: Date?
        var reason: String?
        var patientId: UUID?
        var allowOffGrid: Bool?
    }

    static func labels(_ value: Any) -> [String] { Mirror(reflecting: value).children.compactMap(\.label) }

    static func read(_ document: [String: Any]) -> (reader: String, synthesized: String) {
        func outcome(_ read: () throws -> [Any?]) -> String {
            do { return "value \(try read().map { "\($0.map { "\($0)" } ?? "nil")" })" } catch { return "error \(DecodingProblem(error))" }
        }
        guard let data = try? JSONSerialization.data(withJSONObject: document) else { return ("", "unencodable") }
        return (
            outcome {
                let body = try WireDecoder().decode(AppointmentRoutes.RequestBody.self, from: data)
                return [body.doctorId, body.startsAt, body.endsAt, body.reason, body.patientId, body.allowOffGrid]
            },
            outcome {
                let body = try WireDecoder().decode(SynthesizedRequestBody.self, from: data)
                return [body.doctorId, body.startsAt, body.endsAt, body.reason, body.patientId, body.allowOffGrid]
            }
        )
    }

    @Test func theBookingBodyReadsAndRefusesAsInitFromDoes() {
        let full: [String: Any] = [
            "doctorId": UUID().uuidString, "startsAt": "2027-03-01T09:00:00Z", "endsAt": "2027-03-01T09:30:00.250Z", "reason": "check-up",
            "patientId": UUID().uuidString, "allowOffGrid": true,
        ]
        let sample = AppointmentRoutes.RequestBody(
            doctorId: UUID(), startsAt: Date(), endsAt: nil, reason: nil, patientId: nil, allowOffGrid: nil)
        let twin = SynthesizedRequestBody(doctorId: UUID(), startsAt: Date(), endsAt: nil, reason: nil, patientId: nil, allowOffGrid: nil)
        #expect(Self.labels(sample) == Self.labels(twin), "the twin has the body's members, in its order")
        #expect(Set(full.keys) == Set(Self.labels(sample)))

        func otherKind(_ value: Any) -> Any { value is String ? 7 : "x" }
        var documents: [(String, [String: Any])] = [("full", full), ("empty", [:])]
        documents.append(("minimal", full.filter { ["doctorId", "startsAt"].contains($0.key) }))
        for key in full.keys.sorted() {
            documents.append(("without \(key)", full.filter { $0.key != key }))
            for (label, value) in [("null", NSNull() as Any), ("of another kind", otherKind(full[key] as Any)), ("x", "x"), ("1.5", 1.5)] {
                var changed = full
                changed[key] = value
                documents.append(("\(key) \(label)", changed))
            }
            for other in full.keys.sorted() where other > key {
                var both = full
                both[key] = otherKind(full[key] as Any)
                both[other] = otherKind(full[other] as Any)
                documents.append(("\(key) and \(other) of another kind", both))
            }
        }
        for (label, document) in documents {
            let (reader, synthesized) = Self.read(document)
            #expect(reader == synthesized, "\(label)")
        }
        #expect(Self.read(full).reader.hasPrefix("value"))
    }
}
