import Foundation

extension UUID {
    /// A random (version 4, RFC 9562) UUID from the system's generator (`getrandom`).
    /// Foundation's `UUID()` on Linux goes through libuuid, which opens and reads /dev/urandom
    /// for every id: on the path of every request and message that costs more than the rest.
    public static func random() -> UUID {
        var generator = SystemRandomNumberGenerator()
        let high = generator.next() as UInt64
        let low = generator.next() as UInt64
        var bytes = (UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0),
                     UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0))
        withUnsafeMutableBytes(of: &bytes) { buffer in
            buffer.storeBytes(of: high, toByteOffset: 0, as: UInt64.self)
            buffer.storeBytes(of: low, toByteOffset: 8, as: UInt64.self)
            buffer[6] = (buffer[6] & 0x0F) | 0x40  // version 4
            buffer[8] = (buffer[8] & 0x3F) | 0x80  // variant 10
        }
        return UUID(uuid: bytes)
    }

    /// The canonical text form: lower case, RFC 9562 (`uuidString` is upper case, and formats
    /// through `sprintf`).
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

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    private func writeCanonical(into output: UnsafeMutableBufferPointer<UInt8>) -> Int {
        Self.hexDigits.withUnsafeBufferPointer { digits in
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
