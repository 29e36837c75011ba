import Foundation
import Identifiers

/// The one JSON dialect of every message and every API answer: sorted keys (so the same
/// message always has the same bytes), ISO-8601 UTC times with milliseconds, and lower-case UUIDs.
public enum WireCoding {
    public static func encoder() -> WireEncoder { WireEncoder() }

    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            guard let date = parseTimestamp(text) else {
                throw DecodingError.dataCorruptedError(
                    in: container, debugDescription: "'\(text)' is not an ISO-8601 timestamp")
            }
            return date
        }
        return decoder
    }

    /// `2026-11-24T09:00:00.000Z` (milliseconds, truncated). Written by hand: it is on the path of
    /// every message and every answer, and Foundation's format styles are slow on Linux.
    public static func formatTimestamp(_ date: Date) -> String {
        var bytes = [UInt8]()
        bytes.reserveCapacity(24)
        guard appendTimestamp(date, to: &bytes) else { return date.formatted(withFraction) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends the timestamp's 24 bytes; false (nothing appended) outside years 1…9999, which
    /// take Foundation's path (never a real appointment).
    public static func appendTimestamp(_ date: Date, to bytes: inout [UInt8]) -> Bool {
        // Counted from 2001, as `Date` stores it. A time read from `…00.245Z` is a hair under
        // .245 in binary, and truncating it to milliseconds wrote it back as `…00.244Z`: within a
        // microsecond (or a few units in the last place) of a whole millisecond, that one it is.
        let scaled = date.timeIntervalSinceReferenceDate * 1000
        let nearest = scaled.rounded()
        let sinceReference = abs(scaled - nearest) <= max(0.001, 4 * scaled.ulp) ? nearest : scaled.rounded(.down)
        guard sinceReference.isFinite, sinceReference >= -63_113_904_000_000, sinceReference < 252_423_993_600_000 else { return false }
        let total = Int64(sinceReference) + 978_307_200_000
        let seconds = total >= 0 ? total / 1000 : (total - 999) / 1000
        let fraction = total - seconds * 1000
        let days = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400
        let secondOfDay = seconds - days * 86400
        let (year, month, day) = CivilDate.from(daysSinceEpoch: days)
        func digits(_ value: Int64, _ width: Int) { DecimalDigits.append(value, width: width, to: &bytes) }
        digits(year, 4)
        bytes.append(45)
        digits(month, 2)
        bytes.append(45)
        digits(day, 2)
        bytes.append(84)
        digits(secondOfDay / 3600, 2)
        bytes.append(58)
        digits(secondOfDay % 3600 / 60, 2)
        bytes.append(58)
        digits(secondOfDay % 60, 2)
        bytes.append(46)
        digits(fraction, 3)
        bytes.append(90)
        return true
    }

    /// Accepts ISO-8601 with or without fractional seconds, with `Z` or an offset.
    public static func parseTimestamp(_ text: String) -> Date? {
        if let date = parseCanonicalTimestamp(text) { return date }
        if let date = try? withFraction.parse(text) { return date }
        return try? Date.ISO8601FormatStyle().parse(text)
    }

    /// The form this code writes (`2026-11-24T09:00:00.123Z`), read by hand: Foundation's parser
    /// was a tenth of the cost of decoding a message. Nil for anything else (other forms, values
    /// out of range), which the general parser then judges.
    static func parseCanonicalTimestamp(_ text: String) -> Date? {
        var text = text
        return text.withUTF8 { bytes -> Date? in
            guard bytes.count == 24, bytes[4] == 45, bytes[7] == 45, bytes[10] == 84, bytes[13] == 58, bytes[16] == 58,
                bytes[19] == 46, bytes[23] == 90
            else { return nil }
            func number(_ start: Int, _ width: Int) -> Int64? {
                var value: Int64 = 0
                for index in start..<start + width {
                    let digit = bytes[index] &- 48
                    guard digit < 10 else { return nil }
                    value = value * 10 + Int64(digit)
                }
                return value
            }
            guard let year = number(0, 4), let month = number(5, 2), let day = number(8, 2), let hour = number(11, 2),
                let minute = number(14, 2), let second = number(17, 2), let millis = number(20, 3),
                year >= 1, (1...12).contains(month), day >= 1, day <= CivilDate.daysIn(month: month, year: year), hour < 24, minute < 60,
                second < 60
            else { return nil }
            let days = CivilDate.daysSinceEpoch(year: year, month: month, day: day)
            let seconds = days * 86400 + hour * 3600 + minute * 60 + second
            // Counted from 2001 as Foundation's parser does, so both give the very same `Date`.
            return Date(timeIntervalSinceReferenceDate: Double(seconds - 978_307_200) + Double(millis) / 1000)
        }
    }

    private static let withFraction = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
}

/// Proleptic Gregorian calendar arithmetic on days since 1970-01-01 (Howard Hinnant's algorithms).
public enum CivilDate {
    /// Days in `month` (1…12) of `year`, leap years by the Gregorian rule.
    public static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    public static func daysSinceEpoch(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146097 + dayOfEra - 719468
    }

    public static func from(daysSinceEpoch days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let dayOfEra = z - era * 146097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (month <= 2 ? yearOfEra + era * 400 + 1 : yearOfEra + era * 400, month, day)
    }
}
