import Foundation

// UUIDs as text without Foundation's detours: `uuidString` formats through `sprintf` (in upper
// case, so callers lower-cased it after) and `UUID(uuidString:)` parses through `sscanf`. Every
// message and every row carries ids, so both the wire codec (Contracts) and the PostgreSQL
// binding (Postgres) use these; `perf` of the notification worker during a booking burst had
// `vfprintf` and `vfscanf` at 3.5% of its CPU before the PostgreSQL binding did.

extension UUID {
    /// The canonical text form: lower case, RFC 9562.
    public var canonical: String {
        String(unsafeUninitializedCapacity: 36) { output in writeCanonical(into: output) }
    }

    /// Appends the canonical form's 36 bytes (the wire encoder writes them without a `String`).
    public func appendCanonical(to bytes: inout [UInt8]) {
        let start = bytes.count
        bytes.append(contentsOf: repeatElement(0, count: 36))
        bytes.withUnsafeMutableBufferPointer { buffer in
            _ = writeCanonical(into: UnsafeMutableBufferPointer(rebasing: buffer[start..<start + 36]))
        }
    }

    /// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` in either case; nil for anything else. Stricter than
    /// `UUID(uuidString:)`, whose `sscanf("%2hhx")` also takes a sign or a space for a digit.
    public init?(parsing text: String) {
        var text = text
        let parsed = text.withUTF8 { bytes -> uuid_t? in
            guard bytes.count == 36 else { return nil }
            // Not `UUID().uuid`: that reads /dev/urandom for bytes about to be overwritten.
            var uuid: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
            let complete = withUnsafeMutableBytes(of: &uuid) { output -> Bool in
                var position = 0
                for index in 0..<16 {
                    if index == 4 || index == 6 || index == 8 || index == 10 {
                        guard bytes[position] == UInt8(ascii: "-") else { return false }
                        position += 1
                    }
                    guard let high = Hex.value(of: bytes[position]), let low = Hex.value(of: bytes[position + 1]) else { return false }
                    output[index] = high << 4 | low
                    position += 2
                }
                return true
            }
            return complete ? uuid : nil
        }
        guard let parsed else { return nil }
        self.init(uuid: parsed)
    }

    private func writeCanonical(into output: UnsafeMutableBufferPointer<UInt8>) -> Int {
        Hex.digits.withUnsafeBufferPointer { digits in
            withUnsafeBytes(of: uuid) { raw in
                var position = 0
                for index in 0..<16 {
                    if index == 4 || index == 6 || index == 8 || index == 10 {
                        output[position] = UInt8(ascii: "-")
                        position += 1
                    }
                    let byte = raw[index]
                    output[position] = digits[Int(byte >> 4)]
                    output[position + 1] = digits[Int(byte & 0x0F)]
                    position += 2
                }
                return position
            }
        }
    }
}

/// Hexadecimal digits, both ways.
public enum Hex {
    /// Lower-case hexadecimal digits, for writing.
    public static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    public static func value(of byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
