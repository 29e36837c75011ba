import Contracts
import Foundation

/// A clinic: it owns its users, doctors, patients and appointments.
public struct Tenant: Codable, Sendable, Equatable {
    public var id: UUID
    public var name: String
    /// The clinic's IANA time zone (doctors have their own; this is the clinic's default).
    public var timeZone: String
    /// When the tenant was disabled: it keeps its data, but nobody signs in and no command is taken.
    public var disabledAt: Date?
    public var createdAt: Date?

    public init(id: UUID, name: String, timeZone: String = "UTC", disabledAt: Date? = nil, createdAt: Date? = nil) {
        self.id = id
        self.name = name
        self.timeZone = timeZone
        self.disabledAt = disabledAt
        self.createdAt = createdAt
    }

    public var isDisabled: Bool { disabledAt != nil }
}

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

/// A user as signing in needs them: with the password hash and whether the address is verified.
public struct Credentials: Sendable, Equatable {
    public var user: User
    public var passwordHash: String
    public var emailVerified: Bool

    public init(user: User, passwordHash: String, emailVerified: Bool) {
        self.user = user
        self.passwordHash = passwordHash
        self.emailVerified = emailVerified
    }
}

/// An account to create. Patients also get their directory record.
public struct NewAccount: Sendable, Equatable {
    public var id: UUID
    public var tenantId: UUID
    public var email: String
    public var passwordHash: String
    public var role: Role
    public var displayName: String
    /// Self-registered accounts start unverified; accounts an admin or operator makes do not.
    public var emailVerified: Bool

    public init(
        id: UUID = UUID(), tenantId: UUID, email: String, passwordHash: String, role: Role, displayName: String,
        emailVerified: Bool
    ) {
        self.id = id
        self.tenantId = tenantId
        self.email = email.lowercased()
        self.passwordHash = passwordHash
        self.role = role
        self.displayName = displayName
        self.emailVerified = emailVerified
    }

    public var user: User { User(id: id, tenantId: tenantId, email: email, role: role, displayName: displayName) }
}

/// What a one-time link sent by email is for.
public enum EmailTokenPurpose: String, Sendable, CaseIterable {
    case verifyEmail = "verify_email"
    case setPassword = "set_password"
}

/// One signed-in device: a refresh-token family and the access tokens issued from it.
public struct SessionRecord: Codable, Sendable, Equatable {
    public var id: UUID
    public var userId: UUID
    public var tenantId: UUID
    public var device: String
    public var address: String
    public var createdAt: Date
    public var lastUsedAt: Date
    public var revokedAt: Date?

    public init(
        id: UUID, userId: UUID, tenantId: UUID, device: String, address: String, createdAt: Date, lastUsedAt: Date,
        revokedAt: Date?
    ) {
        self.id = id
        self.userId = userId
        self.tenantId = tenantId
        self.device = device
        self.address = address
        self.createdAt = createdAt
        self.lastUsedAt = lastUsedAt
        self.revokedAt = revokedAt
    }
}

/// An entry of the identity audit log (sign-ins, password changes, accounts made).
public struct AuditEntry: Sendable, Equatable {
    public var action: String
    public var tenantId: UUID
    /// Who did it (nil: nobody signed in, e.g. a failed login).
    public var userId: UUID?
    /// Ids and codes only: never passwords, tokens or free text.
    public var details: [String: String]

    public init(_ action: String, tenant: UUID, user: UUID?, details: [String: String] = [:]) {
        self.action = action
        self.tenantId = tenant
        self.userId = user
        self.details = details
    }
}

/// Errors of the identity and directory stores that callers answer differently.
public enum ClinicStoreError: Error, Sendable, Equatable {
    /// The email has an account in this tenant already.
    case emailTaken
    /// The tenant does not exist.
    case unknownTenant
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
    public var specialties: [String]
    /// Languages the doctor consults in (e.g. `en`, `de`).
    public var languages: [String]
    public var bio: String?
    /// Where the doctor sees patients (an address or a site's name).
    public var location: String?
    public var settings: DoctorSettings

    public init(
        id: UUID, tenantId: UUID, displayName: String, specialties: [String] = [], languages: [String] = [], bio: String? = nil,
        location: String? = nil, settings: DoctorSettings
    ) {
        self.id = id
        self.tenantId = tenantId
        self.displayName = displayName
        self.specialties = specialties
        self.languages = languages
        self.bio = bio
        self.location = location
        self.settings = settings
    }
}

/// A directory search: by specialty, words of the name, specialties and bio, and (with a window)
/// a free slot in it.
public struct DoctorSearch: Sendable, Equatable {
    public var specialty: String?
    public var text: String?
    public var language: String?
    public var limit: Int
    public var offset: Int

    public init(specialty: String? = nil, text: String? = nil, language: String? = nil, limit: Int = 50, offset: Int = 0) {
        self.specialty = specialty
        self.text = text
        self.language = language
        self.limit = limit
        self.offset = offset
    }
}

public struct Patient: Codable, Sendable, Equatable {
    public var id: UUID
    public var tenantId: UUID
    public var displayName: String
    public var email: String?
    public var phone: String?
    public var dateOfBirth: String?
    /// The language the patient prefers (e.g. `en`, `de`).
    public var preferredLanguage: String?

    public init(
        id: UUID, tenantId: UUID, displayName: String, email: String?, phone: String?, dateOfBirth: String?,
        preferredLanguage: String? = nil
    ) {
        self.id = id
        self.tenantId = tenantId
        self.displayName = displayName
        self.email = email
        self.phone = phone
        self.dateOfBirth = dateOfBirth
        self.preferredLanguage = preferredLanguage
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
        return Int64(day) <= CivilDate.daysIn(month: Int64(month), year: Int64(year))
    }

    /// Days since 1970-01-01 of a valid date, for spans between dates.
    public static func dayNumber(_ text: String) -> Int? {
        guard isValid(text) else { return nil }
        let parts = text.split(separator: "-").compactMap { Int64($0) }
        return Int(CivilDate.daysSinceEpoch(year: parts[0], month: parts[1], day: parts[2]))
    }
}
