import Foundation

/// Bytes of a message as an operator can read them safely: pretty JSON, text with control
/// characters spelled out, or a hex dump when they are not UTF-8. (HTML escaping is the
/// template's job; this only makes the text printable.)
enum PayloadView {
    static func render(_ data: Data?) -> (kind: String, text: String) {
        guard let data, !data.isEmpty else { return ("empty", "") }
        guard let text = String(data: data, encoding: .utf8) else { return ("binary, not UTF-8", hexDump(data)) }
        if let object = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]),
            let pretty = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes, .fragmentsAllowed])
        {
            return ("JSON", String(decoding: pretty, as: UTF8.self))
        }
        return ("text, not JSON", printable(text, keepLineBreaks: true))
    }

    /// A header value: its text, or `0x…` when it is not UTF-8.
    static func headerValue(_ data: Data?) -> String {
        guard let data else { return "(null)" }
        guard let text = String(data: data, encoding: .utf8) else { return "0x" + data.map { String(format: "%02x", $0) }.joined() }
        return printable(text, keepLineBreaks: false)
    }

    /// Control characters (NUL, escape, bidi overrides…) as `\u{…}`.
    static func printable(_ text: String, keepLineBreaks: Bool) -> String {
        var result = ""
        for scalar in text.unicodeScalars {
            let category = scalar.properties.generalCategory
            if keepLineBreaks, scalar == "\n" || scalar == "\t" {
                result.unicodeScalars.append(scalar)
            } else if category == .control || category == .format || category == .lineSeparator || category == .paragraphSeparator {
                result += "\\u{\(String(scalar.value, radix: 16))}"
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    /// 16 bytes a line: offset, hex, and the printable ASCII.
    static func hexDump(_ data: Data) -> String {
        let bytes = Array(data)
        return stride(from: 0, to: bytes.count, by: 16).map { start in
            let line = bytes[start..<min(start + 16, bytes.count)]
            let hex = line.map { String(format: "%02x", $0) }.joined(separator: " ")
            let ascii = String(line.map { (0x20..<0x7f).contains($0) ? Character(UnicodeScalar($0)) : "." })
            return String(format: "%08x  ", start) + hex.padding(toLength: 47, withPad: " ", startingAt: 0) + "  |" + ascii + "|"
        }.joined(separator: "\n")
    }
}
