import Foundation
import Identifiers

#if canImport(Glibc)
    import Glibc
#endif

extension UUID {
    /// A random (version 4, RFC 9562) UUID from the system's generator (`getrandom`).
    /// Foundation's `UUID()` on Linux goes through libuuid, which opens and reads /dev/urandom
    /// for every id: on the path of every request and message that costs more than the rest.
    /// All 16 bytes come from one system call (the standard library's generator makes one per 8 bytes).
    public static func random() -> UUID {
        var bytes = (UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0),
                     UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0))
        withUnsafeMutableBytes(of: &bytes) { buffer in
            fillRandom(buffer)
            buffer[6] = (buffer[6] & 0x0F) | 0x40  // version 4
            buffer[8] = (buffer[8] & 0x3F) | 0x80  // variant 10
        }
        return UUID(uuid: bytes)
    }

    /// A time-ordered (version 7, RFC 9562) UUID: 48 bits of Unix milliseconds, then random
    /// bits. Rows keyed by them are added at the end of a B-tree index instead of all over it.
    public static func timeOrdered(at date: Date = Date()) -> UUID {
        var bytes = random().uuid
        let millis = UInt64(max(0, date.timeIntervalSince1970 * 1000))
        withUnsafeMutableBytes(of: &bytes) { buffer in
            for index in 0..<6 { buffer[index] = UInt8(truncatingIfNeeded: millis >> (8 * (5 - index))) }
            buffer[6] = (buffer[6] & 0x0F) | 0x70  // version 7
        }
        return UUID(uuid: bytes)
    }

    private static func fillRandom(_ buffer: UnsafeMutableRawBufferPointer) {
        #if canImport(Glibc)
            // glibc's arc4random_buf is one getrandom call for the whole buffer.
            if let base = buffer.baseAddress {
                arc4random_buf(base, buffer.count)
                return
            }
        #endif
        var generator = SystemRandomNumberGenerator()
        for index in buffer.indices { buffer[index] = generator.next() }
    }
}
