import Contracts
import Foundation

public struct User: Codable, Sendable, Equatable {
    public var id: UUID
    public var tenantId: UUID
    public var email: String
    public var role: Role
    public var displayName: String

    public init(id: UUID, tenantId: UUID, email: String, role: Role, displayName: String) {
        self.id = id
        self.tenantId = tenantId
        self.email = email
        self.role = role
        self.displayName = displayName
    }
}

/// How a doctor's calendar is booked.
public struct DoctorSettings: Codable, Sendable, Equatable {
    /// IANA time zone; working hours are wall-clock times there.
    public var timeZone: String
    public var slotMinutes: Int
    public var bufferBeforeMinutes: Int
    public var bufferAfterMinutes: Int
    public var minimumNoticeMinutes: Int
    public var horizonDays: Int
    public var requiresConfirmation: Bool

    public init(
        timeZone: String, slotMinutes: Int = 30, bufferBeforeMinutes: Int = 0, bufferAfterMinutes: Int = 0,
        minimumNoticeMinutes: Int = 0, horizonDays: Int = 90, requiresConfirmation: Bool = false
    ) {
        self.timeZone = timeZone
        self.slotMinutes = slotMinutes
        self.bufferBeforeMinutes = bufferBeforeMinutes
        self.bufferAfterMinutes = bufferAfterMinutes
        self.minimumNoticeMinutes = minimumNoticeMinutes
        self.horizonDays = horizonDays
        self.requiresConfirmation = requiresConfirmation
    }

    /// The first rule these settings break, as (field, reason).
    public func problem() -> (field: String, reason: String)? {
        if TimeZone(identifier: timeZone) == nil || !timeZone.contains("/") && timeZone != "UTC" {
            return ("timeZone", "'\(timeZone)' is not an IANA time zone (e.g. Europe/Berlin)")
        }
        if !(5...480).contains(slotMinutes) { return ("slotMinutes", "must be between 5 and 480") }
        if !(0...240).contains(bufferBeforeMinutes) { return ("bufferBeforeMinutes", "must be between 0 and 240") }
        if !(0...240).contains(bufferAfterMinutes) { return ("bufferAfterMinutes", "must be between 0 and 240") }
        if minimumNoticeMinutes < 0 || minimumNoticeMinutes > 525_600 {
            return ("minimumNoticeMinutes", "must be between 0 and 525600")
        }
        if !(1...730).contains(horizonDays) { return ("horizonDays", "must be between 1 and 730") }
        return nil
    }
}

public struct Doctor: Codable, Sendable, Equatable {
    public var id: UUID
    public var tenantId: UUID
    public var displayName: String
    public var specialty: String?
    public var settings: DoctorSettings

    public init(id: UUID, tenantId: UUID, displayName: String, specialty: String?, settings: DoctorSettings) {
        self.id = id
        self.tenantId = tenantId
        self.displayName = displayName
        self.specialty = specialty
        self.settings = settings
    }
}

public struct Patient: Codable, Sendable, Equatable {
    public var id: UUID
    public var tenantId: UUID
    public var displayName: String
    public var email: String?
    public var phone: String?
    public var dateOfBirth: String?

    public init(id: UUID, tenantId: UUID, displayName: String, email: String?, phone: String?, dateOfBirth: String?) {
        self.id = id
        self.tenantId = tenantId
        self.displayName = displayName
        self.email = email
        self.phone = phone
        self.dateOfBirth = dateOfBirth
    }
}

/// A wall-clock time of day, `HH:MM` (`24:00` allowed as an end).
public struct LocalTime: Codable, Sendable, Hashable, Comparable, CustomStringConvertible {
    public let minutes: Int

    public init?(_ text: String) {
        let parts = text.split(separator: ":")
        guard parts.count == 2 || parts.count == 3, parts.allSatisfy({ $0.count == 2 }),
            let hours = Int(parts[0]), let minutes = Int(parts[1]), (0...24).contains(hours), (0...59).contains(minutes),
            hours < 24 || minutes == 0, parts.count == 2 || parts[2] == "00"
        else { return nil }
        self.minutes = hours * 60 + minutes
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let time = LocalTime(text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "'\(text)' is not a time HH:MM")
        }
        self = time
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    public var description: String { String(format: "%02d:%02d", minutes / 60, minutes % 60) }
    public static func < (lhs: LocalTime, rhs: LocalTime) -> Bool { lhs.minutes < rhs.minutes }
}

/// Working hours on an ISO weekday (1 = Monday … 7 = Sunday).
public struct WeeklyInterval: Codable, Sendable, Hashable {
    public var weekday: Int
    public var start: LocalTime
    public var end: LocalTime

    public init(weekday: Int, start: LocalTime, end: LocalTime) {
        self.weekday = weekday
        self.start = start
        self.end = end
    }
}


/// One day's exception: no hours (`hours` empty: a day off) or these hours instead.
public struct DateOverride: Codable, Sendable, Hashable {
    /// `YYYY-MM-DD` in the doctor's time zone.
    public var date: String
    public var hours: [DayHours]

    public init(date: String, hours: [DayHours]) {
        self.date = date
        self.hours = hours
    }
}

public struct DayHours: Codable, Sendable, Hashable {
    public var start: LocalTime
    public var end: LocalTime

    public init(start: LocalTime, end: LocalTime) {
        self.start = start
        self.end = end
    }
}

/// `YYYY-MM-DD`, checked to be a real calendar date.
public enum CalendarDate {
    public static func isValid(_ text: String) -> Bool {
        let parts = text.split(separator: "-")
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
            let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]),
            (1900...2999).contains(year), (1...12).contains(month), day >= 1
        else { return false }
        let days = [31, year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        return day <= days[month - 1]
    }
}
