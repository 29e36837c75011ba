/// Fixed-width decimal digits written as bytes: the text forms of times (the wire's ISO-8601 in
/// Contracts, PostgreSQL's `timestamptz` in Postgres) are built field by field on every message
/// and every batch parameter, without a `String` per field.
public enum DecimalDigits {
    /// Appends `value` zero-padded to exactly `width` digits. `value` must be in `0 ..< 10^width`:
    /// callers check the one field that can be out of range (a year) before they call.
    public static func append(_ value: Int64, width: Int, to bytes: inout [UInt8]) {
        var divisor: Int64 = 1
        for _ in 1..<width { divisor *= 10 }
        assert(value >= 0 && value / divisor < 10, "\(value) does not fit \(width) digits")
        var rest = value
        while divisor > 0 {
            bytes.append(UInt8(48 + rest / divisor))
            rest %= divisor
            divisor /= 10
        }
    }
}
