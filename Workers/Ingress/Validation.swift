import Foundation

/// Checks on decoded request bodies that answer 422 naming the field.
enum Check {
    static func email(_ value: String, field: String = "email") throws -> String {
        let email = value.trimmingCharacters(in: .whitespaces).lowercased()
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[1].contains("."), !parts[1].hasPrefix("."), !parts[1].hasSuffix("."),
            email.count <= 254, !email.contains(where: { $0.isWhitespace || $0 == "<" || $0 == ">" })
        else { throw APIError.invalid(field: field, "must be an email address") }
        return email
    }

    static func text(_ value: String, field: String, max: Int = 200, required: Bool = true) throws -> String {
        let text = value.trimmingCharacters(in: .whitespacesAndNewlines)
        if required, text.isEmpty { throw APIError.invalid(field: field, "must not be empty") }
        if text.count > max { throw APIError.invalid(field: field, "must be at most \(max) characters") }
        return text
    }

    static func optionalText(_ value: String?, field: String, max: Int = 2000) throws -> String? {
        guard let value else { return nil }
        let text = try Self.text(value, field: field, max: max, required: false)
        return text.isEmpty ? nil : text
    }

    /// An appointment's time: not ending before it starts, not absurdly long, not far past or future.
    static func interval(startsAt: Date, endsAt: Date, now: Date = Date()) throws {
        guard endsAt > startsAt else { throw APIError.invalid(field: "endsAt", "must be after startsAt") }
        guard endsAt.timeIntervalSince(startsAt) <= 12 * 3600 else {
            throw APIError.invalid(field: "endsAt", "an appointment lasts at most 12 hours")
        }
        guard startsAt > now.addingTimeInterval(-86_400) else { throw APIError.invalid(field: "startsAt", "is in the past") }
        guard startsAt < now.addingTimeInterval(2 * 365 * 86_400) else {
            throw APIError.invalid(field: "startsAt", "is more than two years ahead")
        }
    }

    static func uuid(_ text: String?, field: String) throws -> UUID {
        guard let text, let id = UUID(uuidString: text) else { throw APIError.malformed(field: field, "\(field) must be a UUID") }
        return id
    }
}
