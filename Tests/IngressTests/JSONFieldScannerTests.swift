import Foundation
import NIOCore
import Testing

@testable import Ingress

/// The scanner that names unknown and repeated members of a request body, on its own: what it
/// finds, and that no input makes it spin (it assumes JSON; a request must still never hang).
@Suite("JSON field scanner", .timeLimit(.minutes(1)))
struct JSONFieldScannerTests {
    static let schema = Schema.object(
        [("doctorId", .string()), ("hours", .array(.object([("start", .string()), ("end", .string())])))], required: ["doctorId"])

    static func scan(_ text: String) -> JSONFieldScanner.Finding? {
        var scanner = JSONFieldScanner(bytes: ByteBuffer(string: text).readableBytesView)
        return scanner.firstProblem(for: schema)
    }

    @Test func itNamesTheFirstUnknownOrRepeatedMemberByPath() {
        #expect(Self.scan(#"{"doctorId":"x","hours":[{"start":"09:00","end":"10:00"}]}"#) == nil)
        #expect(Self.scan(#"{"doctorId":"x","hours":[{"start":"09:00","lunch":true}]}"#) == .unknown("hours[0].lunch"))
        #expect(Self.scan(#"{"doctorId":"x","hours":[{},{"start":"1","start":"2"}]}"#) == .repeated("hours[1].start"))
        #expect(Self.scan(#"{"doctor\u0049d":"x","doctorId":"y"}"#) == .repeated("doctorId"))
    }

    /// Before the guard, `[}` inside an array kept the scanner on the same byte forever.
    @Test(arguments: ["[}", #"{"hours":[}"#, "[[}]", "{]", "[,,}", "{\"hours\":[1 }"])
    func inputThatIsNotJSONEndsTheScan(_ text: String) {
        _ = Self.scan(text)
    }
}
