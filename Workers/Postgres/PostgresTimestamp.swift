import Foundation
import Identifiers

/// `timestamptz` text in and out. Sessions run with `TimeZone=UTC` and `DateStyle=ISO`, so the
/// server writes `2026-11-24 09:00:00.123456+00`; parsing is done by hand because it is on the
/// hot path of every row with a time in it.
enum PostgresTimestamp {
    static func format(_ date: Date) -> String {
        var bytes: [UInt8] = []
        append(date, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The text of `format`, appended as bytes: batch statements send hundreds of times in one
    /// array parameter, and building each from eight padded `String`s was most of their cost.
    static func append(_ date: Date, to bytes: inout [UInt8]) {
        // Microsecond precision, which is what timestamptz stores.
        let micros = (date.timeIntervalSince1970 * 1_000_000).rounded()
        var seconds = Int64((micros / 1_000_000).rounded(.down))
        var fraction = Int64(micros) - seconds * 1_000_000
        if fraction < 0 {
            fraction += 1_000_000
            seconds -= 1
        }
        let days = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400
        let secondOfDay = seconds - days * 86400
        let (year, month, day) = civil(fromDays: days)
        func digits(_ value: Int64, _ width: Int) { DecimalDigits.append(value, width: width, to: &bytes) }
        // Every field but the year is in range by construction; a year outside 0…9999 keeps the
        // padding of its decimal text (no such time is ever stored, but it must not trap).
        if (0...9999).contains(year) {
            digits(year, 4)
        } else {
            let text = String(year)
            bytes.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: max(0, 4 - text.utf8.count)))
            bytes.append(contentsOf: text.utf8)
        }
        bytes.append(UInt8(ascii: "-"))
        digits(month, 2)
        bytes.append(UInt8(ascii: "-"))
        digits(day, 2)
        bytes.append(UInt8(ascii: " "))
        digits(secondOfDay / 3600, 2)
        bytes.append(UInt8(ascii: ":"))
        digits(secondOfDay % 3600 / 60, 2)
        bytes.append(UInt8(ascii: ":"))
        digits(secondOfDay % 60, 2)
        bytes.append(UInt8(ascii: "."))
        digits(fraction, 6)
        bytes.append(contentsOf: "+00".utf8)
    }

    /// Parses `YYYY-MM-DD[ HH:MM:SS[.ffffff]][+HH[:MM]]` (also `T` as separator, `Z`).
    static func parse(_ text: String) -> Date? {
        if text == "infinity" { return .distantFuture }
        if text == "-infinity" { return .distantPast }
        var bytes = Array(text.utf8)[...]
        func number(_ count: Int) -> Int64? {
            guard bytes.count >= count else { return nil }
            var value: Int64 = 0
            for _ in 0..<count {
                let byte = bytes.removeFirst()
                guard byte >= 48, byte <= 57 else { return nil }
                value = value * 10 + Int64(byte - 48)
            }
            return value
        }
        func expect(_ character: UInt8) -> Bool {
            guard bytes.first == character else { return false }
            bytes.removeFirst()
            return true
        }
        guard let year = number(4), expect(45), let month = number(2), expect(45), let day = number(2) else {
            return nil
        }
        var seconds = days(fromYear: year, month: month, day: day) * 86400
        var micros: Int64 = 0
        if bytes.first == 32 || bytes.first == 84 {  // ' ' or 'T'
            bytes.removeFirst()
            guard let hour = number(2), expect(58), let minute = number(2), expect(58), let second = number(2) else {
                return nil
            }
            seconds += hour * 3600 + minute * 60 + second
            if expect(46) {  // '.'
                var digits = 0
                while let byte = bytes.first, byte >= 48, byte <= 57 {
                    bytes.removeFirst()
                    if digits < 6 {
                        micros = micros * 10 + Int64(byte - 48)
                        digits += 1
                    }
                }
                while digits < 6 {
                    micros *= 10
                    digits += 1
                }
            }
        }
        if let sign = bytes.first, sign == 43 || sign == 45 {  // '+' or '-'
            bytes.removeFirst()
            guard let hours = number(2) else { return nil }
            var offset = hours * 3600
            _ = expect(58)
            if bytes.count >= 2, let minutes = number(2) { offset += minutes * 60 }
            if bytes.count >= 3, expect(58), let secs = number(2) { offset += secs }
            seconds -= sign == 43 ? offset : -offset
        } else {
            _ = expect(90)  // 'Z'
        }
        guard bytes.isEmpty else { return nil }
        return Date(timeIntervalSince1970: Double(seconds) + Double(micros) / 1_000_000)
    }

    // Howard Hinnant's days-from-civil algorithms (proleptic Gregorian calendar).
    static func days(fromYear y: Int64, month m: Int64, day d: Int64) -> Int64 {
        let y = m <= 2 ? y - 1 : y
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    static func civil(fromDays z: Int64) -> (Int64, Int64, Int64) {
        let z = z + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? yoe + era * 400 + 1 : yoe + era * 400, m, d)
    }
}
