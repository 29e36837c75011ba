import Foundation
import Identifiers
import Testing

@testable import Contracts

/// The text forms of ids the codec and the PostgreSQL binding use instead of Foundation's
/// (`uuidString` through `sprintf`, `UUID(uuidString:)` through `sscanf`): the same text out,
/// the same ids in, the same refusals.
@Suite("UUID text")
struct UUIDTextTests {
    @Test func canonicalIsFoundationsTextInLowerCase() {
        for _ in 0..<1_000 {
            let id = UUID.random()
            #expect(id.canonical == id.uuidString.lowercased())
            var bytes: [UInt8] = [1, 2]
            id.appendCanonical(to: &bytes)
            #expect(bytes == [1, 2] + Array(id.canonical.utf8))
        }
        #expect(UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)).canonical == "00000000-0000-0000-0000-000000000000")
    }

    /// Exactly 8-4-4-4-12 hex digits in either case. Foundation's `UUID(uuidString:)` reads each
    /// byte with `sscanf("%2hhx")`, which also takes a sign or a space ("-1", " f"): an id in a path
    /// like `-3313053-…` passed the ingress's check. Where both accept, they read the same id.
    @Test func parsingAcceptsExactlyTheCanonicalFormInEitherCase() {
        let id = UUID.random()
        let text = id.canonical
        var inputs = [
            text, id.uuidString, "", "0", String(text.dropLast()), text + "0", text + " ", " " + text,
            text.replacingOccurrences(of: "-", with: ""), "{\(text)}", "urn:uuid:\(text)",
            "0000000-00000-0000-0000-000000000000", "00000000-0000-0000-0000-00000000000g", "00000000_0000_0000_0000_000000000000",
            "00000000-0000-0000-0000-00000000000\u{e9}", "00000000-0000-0000-0000-0000000000\u{0}0", "ffffffff-ffff-ffff-ffff-ffffffffffff",
            "-1000000-0000-0000-0000-000000000000", "+1000000-0000-0000-0000-000000000000", " 1000000-0000-0000-0000-000000000000",
        ]
        // Every single-character change of a valid id: each position replaced by a hyphen, a
        // sign, a space, a non-hex letter, an upper-case hex digit, a multi-byte character.
        let characters = Array(text)
        for index in characters.indices {
            for replacement: Character in ["-", "+", " ", "g", "A", "\u{e9}", "0"] {
                var changed = characters
                changed[index] = replacement
                inputs.append(String(changed))
            }
        }
        let hexDigits = Set("0123456789abcdefABCDEF")
        func canonicalForm(_ input: String) -> Bool {
            let characters = Array(input)
            return characters.count == 36
                && characters.indices.allSatisfy { [8, 13, 18, 23].contains($0) ? characters[$0] == "-" : hexDigits.contains(characters[$0]) }
        }
        for input in inputs {
            let parsed = UUID(parsing: input)
            #expect((parsed != nil) == canonicalForm(input), "\(input.debugDescription)")
            if let parsed { #expect(parsed == UUID(uuidString: input), "\(input.debugDescription)") }
        }
        #expect(UUID(parsing: text) == id)
        #expect(UUID(parsing: id.uuidString) == id)
        #expect(UUID(uuidString: "-1000000-0000-0000-0000-000000000000") != nil, "Foundation's laxness, which this parser does not share")
    }
}
