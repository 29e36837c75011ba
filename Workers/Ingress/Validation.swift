import Clinic
import Contracts
import Foundation
import Hummingbird

/// Checks on decoded request bodies; each failure names the field. Every value gets a size
/// limit and a range here, at the edge: nothing that PostgreSQL or libpq would refuse (a NUL, a
/// megabyte string, the year 0) gets past them, so a database error is never the answer to input.
enum Check {
    /// The longest free text accepted anywhere (reasons; notes take `noteLength`).
    static let textLength = 2_000
    static let noteLength = 10_000

    static func email(_ value: String, field: String = "email") throws -> String {
        let email = value.trimmingCharacters(in: .whitespaces).lowercased()
        guard email.utf8.count <= 254 else { throw APIError.invalid(field: field, "must be at most 254 characters") }
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[0].utf8.count <= 64, parts[1].contains("."), !parts[1].hasPrefix("."),
            !parts[1].hasSuffix("."), !parts[1].contains(".."),
            email.unicodeScalars.allSatisfy({ $0.isASCII ? Self.emailASCII.contains($0) : !Self.isControl($0) })
        else { throw APIError.invalid(field: field, "must be an email address") }
        return email
    }

    private static let emailASCII = Set("abcdefghijklmnopqrstuvwxyz0123456789.!#$%&'*+/=?^_`{|}~-@".unicodeScalars)

    /// One line of text (a name, a phone number, a title): no control characters at all.
    static func line(_ value: String, field: String, max: Int = 200, required: Bool = true) throws -> String {
        if let plain = plainASCII(value, breaks: false) { return try length(plain, field: field, max: max, required: required) }
        return try lineByScalars(value, field: field, max: max, required: required)
    }

    /// `line` for any text (what `plainASCII` must agree with).
    static func lineByScalars(_ value: String, field: String, max: Int, required: Bool) throws -> String {
        let text = value.trimmingCharacters(in: .whitespaces)
        if let bad = text.unicodeScalars.first(where: Self.isControl) {
            throw APIError.invalid(field: field, "must not contain control characters (found U+\(String(bad.value, radix: 16, uppercase: true)))")
        }
        return try length(text, field: field, max: max, required: required)
    }

    /// Free text (a reason, notes): line breaks and tabs are fine, other control characters and NUL are not.
    static func text(_ value: String, field: String, max: Int = textLength, required: Bool = true) throws -> String {
        if let plain = plainASCII(value, breaks: true) { return try length(plain, field: field, max: max, required: required) }
        return try textByScalars(value, field: field, max: max, required: required)
    }

    /// `text` for any text (what `plainASCII` must agree with).
    static func textByScalars(_ value: String, field: String, max: Int, required: Bool) throws -> String {
        let text = value.trimmingCharacters(in: .whitespacesAndNewlines)
        if let bad = text.unicodeScalars.first(where: { Self.isControl($0) && $0 != "\n" && $0 != "\r" && $0 != "\t" }) {
            throw APIError.invalid(field: field, "must not contain control characters (found U+\(String(bad.value, radix: 16, uppercase: true)))")
        }
        return try length(text, field: field, max: max, required: required)
    }

    static func optionalLine(_ value: String?, field: String, max: Int = 200) throws -> String? {
        guard let value else { return nil }
        let text = try line(value, field: field, max: max, required: false)
        return text.isEmpty ? nil : text
    }

    static func optionalText(_ value: String?, field: String, max: Int = textLength) throws -> String? {
        guard let value else { return nil }
        let text = try text(value, field: field, max: max, required: false)
        return text.isEmpty ? nil : text
    }

    /// Most text is printable ASCII (a reason such as "check-up"), and for it trimming and the
    /// control-character scan are a walk over its bytes: Foundation's `trimmingCharacters` and a
    /// Unicode property per scalar were 2.8% of the ingress's CPU under `POST /v1/appointments`
    /// (`perf`, a one-word reason). Returns `value` trimmed as `line` (`breaks` false: spaces) or
    /// `text` (`breaks` true: spaces, tabs, line feeds and carriage returns, which it also allows
    /// inside) would trim it, when every byte is printable ASCII or, for `text`, one of those
    /// breaks; nil sends anything else the general way.
    static func plainASCII(_ value: String, breaks: Bool) -> String? {
        let bytes = value.utf8
        func isBreak(_ byte: UInt8) -> Bool { byte == 0x09 || byte == 0x0A || byte == 0x0D }
        guard bytes.allSatisfy({ (0x20...0x7E).contains($0) || breaks && isBreak($0) }) else { return nil }
        func trimmed(_ byte: UInt8) -> Bool { byte == 0x20 || breaks && isBreak(byte) }
        guard let first = bytes.firstIndex(where: { !trimmed($0) }), let last = bytes.lastIndex(where: { !trimmed($0) }) else { return "" }
        if first == bytes.startIndex, last == bytes.index(before: bytes.endIndex) { return value }
        return String(value[first...last])
    }

    private static func length(_ text: String, field: String, max: Int, required: Bool) throws -> String {
        if required, text.isEmpty { throw APIError.invalid(field: field, "must not be empty") }
        // Counted in code points, as JSON Schema's maxLength counts (not grapheme clusters).
        if text.unicodeScalars.count > max { throw APIError.invalid(field: field, "must be at most \(max) characters") }
        return text
    }

    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.generalCategory == .control || scalar.properties.generalCategory == .format && scalar.value == 0xFEFF
    }

    /// A BCP 47 language tag as people write it: `en`, `de-CH`, `zh-Hant`.
    static func languageTag(_ value: String, field: String) throws -> String {
        let parts = value.split(separator: "-", omittingEmptySubsequences: false)
        guard (2...35).contains(value.count), let first = parts.first, (2...8).contains(first.count),
            first.allSatisfy({ $0.isASCII && $0.isLetter }),
            parts.dropFirst().allSatisfy({ (1...8).contains($0.count) && $0.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) } })
        else { throw APIError.invalid(field: field, "must be a language tag such as en or de-CH") }
        return value
    }

    /// A password as typed at sign-in: it is only compared, but never with bytes no password can have.
    static func presentedPassword(_ value: String, field: String = "password") throws -> String {
        guard value.utf8.count <= 1_024 else { throw APIError.invalid(field: field, "must be at most 1024 bytes") }
        return value
    }

    /// A new password: the rules of `Passwords.problem(with:)` (10 characters to 72 bytes, no control characters).
    static func newPassword(_ value: String, field: String) throws -> String {
        if let problem = Passwords.problem(with: value) { throw APIError.invalid(field: field, problem) }
        return value
    }

    /// The earliest and latest instant any appointment or filter may name.
    static let earliest = Date(timeIntervalSince1970: 946_684_800)  // 2000-01-01
    static let latest = Date(timeIntervalSince1970: 7_258_118_400)  // 2200-01-01

    /// A time inside the range the API deals in (2000 to 2199).
    static func instant(_ date: Date, field: String) throws -> Date {
        guard date >= earliest, date < latest else {
            throw APIError.invalid(field: field, "must be between 2000-01-01 and 2199-12-31")
        }
        return date
    }

    /// An appointment's time: not ending before it starts, not absurdly long, not far past or future.
    static func interval(startsAt: Date, endsAt: Date, now: Date = Date()) throws {
        _ = try instant(startsAt, field: "startsAt")
        _ = try instant(endsAt, field: "endsAt")
        guard endsAt > startsAt else { throw APIError.invalid(field: "endsAt", "must be after startsAt") }
        guard endsAt.timeIntervalSince(startsAt) <= 12 * 3600 else {
            throw APIError.invalid(field: "endsAt", "an appointment lasts at most 12 hours")
        }
        guard startsAt > now.addingTimeInterval(-86_400) else { throw APIError.invalid(field: "startsAt", "is in the past") }
        guard startsAt < now.addingTimeInterval(2 * 365 * 86_400) else {
            throw APIError.invalid(field: "startsAt", "is more than two years ahead")
        }
    }

    /// `YYYY-MM-DD`, a real date between 1900 and 2199.
    static func date(_ text: String, field: String) throws -> String {
        guard CalendarDate.isValid(text), text < "2200" else {
            throw APIError.invalid(field: field, "must be a date YYYY-MM-DD between 1900-01-01 and 2199-12-31")
        }
        return text
    }
}

/// Query parameters read strictly: a value that is present but not what the parameter takes is
/// a 400 naming the parameter, never silently coerced or clamped.
struct QueryParameters {
    let request: Request

    init(_ request: Request) {
        self.request = request
    }

    private var values: QueryValues { QueryValues(request: request) }

    /// Reads one query parameter of the request.
    struct QueryValues {
        let request: Request
        func get(_ name: String) -> String? { request.uri.queryParameters.get(name) }
    }

    func string(_ name: String, min: Int = 1, max: Int = 200) throws -> String? {
        guard let value = values.get(name) else { return nil }
        guard (min...max).contains(value.unicodeScalars.count), !value.unicodeScalars.contains(where: Check.isControl) else {
            throw APIError.malformed(field: name, "query parameter '\(name)' must be \(min) to \(max) printable characters")
        }
        return value
    }

    func int(_ name: String, default value: Int, in range: ClosedRange<Int>) throws -> Int {
        guard let text = values.get(name) else { return value }
        guard let number = Int(text), range.contains(number) else {
            throw APIError.malformed(
                field: name, "query parameter '\(name)' must be a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return number
    }

    func bool(_ name: String, default value: Bool) throws -> Bool {
        switch values.get(name) {
        case nil: return value
        case "true": return true
        case "false": return false
        default: throw APIError.malformed(field: name, "query parameter '\(name)' must be true or false")
        }
    }

    func choice<T: RawRepresentable & CaseIterable>(_ name: String, _ type: T.Type) throws -> T? where T.RawValue == String {
        guard let text = values.get(name) else { return nil }
        guard let value = T(rawValue: text) else {
            throw APIError.malformed(
                field: name, "query parameter '\(name)' must be one of \(T.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return value
    }

    func uuid(_ name: String) throws -> UUID? {
        guard let text = values.get(name) else { return nil }
        guard text.count == 36, let id = UUID(parsing: text) else {
            throw APIError.malformed(field: name, "query parameter '\(name)' must be a UUID")
        }
        return id
    }

    /// An ISO-8601 time between 2000 and 2199.
    func instant(_ name: String) throws -> Date? {
        guard let text = values.get(name) else { return nil }
        guard text.count <= 40, let date = WireCoding.parseTimestamp(text), date >= Check.earliest, date < Check.latest else {
            throw APIError.malformed(field: name, "query parameter '\(name)' must be an ISO-8601 time between 2000 and 2199")
        }
        return date
    }

    /// A `YYYY-MM-DD` date between 1900 and 2199.
    func date(_ name: String, required: Bool) throws -> String? {
        guard let text = values.get(name) else {
            if required { throw APIError.malformed(field: name, "query parameter '\(name)' is required (YYYY-MM-DD)") }
            return nil
        }
        guard CalendarDate.isValid(text), text < "2200" else {
            throw APIError.malformed(field: name, "query parameter '\(name)' must be a date YYYY-MM-DD between 1900 and 2199")
        }
        return text
    }

    /// `from` and `to` dates, in order, at most `maxDays` apart.
    func dateRange(maxDays: Int) throws -> (from: String, to: String) {
        guard let from = try date("from", required: true), let to = try date("to", required: true) else {
            throw APIError.malformed(field: "from", "query parameters 'from' and 'to' are required")
        }
        guard to >= from else { throw APIError.invalid(field: "to", "must not be before from") }
        let days = (CalendarDate.dayNumber(to) ?? 0) - (CalendarDate.dayNumber(from) ?? 0)
        guard days < maxDays else { throw APIError.invalid(field: "to", "the range may span at most \(maxDays) days") }
        return (from, to)
    }
}

/// Path parameters.
enum Path {
    static func id(_ context: IngressContext, _ name: String = "id") throws -> UUID {
        guard let text = context.parameters.get(name), text.count == 36, let id = UUID(parsing: text) else {
            throw APIError.malformed(field: name, "the \(name) in the path must be a UUID")
        }
        return id
    }

    static func date(_ context: IngressContext) throws -> String {
        guard let date = context.parameters.get("date"), CalendarDate.isValid(date), date < "2200" else {
            throw APIError.malformed(field: "date", "the date in the path must be YYYY-MM-DD")
        }
        return date
    }
}
