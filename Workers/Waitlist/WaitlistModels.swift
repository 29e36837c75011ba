import Contracts
import Crypto
import Foundation

/// A patient's place on a doctor's waitlist.
public struct WaitlistEntry: Codable, Sendable, Equatable {
    public var id: UUID
    public var doctorId: UUID
    /// `YYYY-MM-DD`, the doctor's calendar days, both included.
    public var fromDay: String
    public var toDay: String
    /// `HH:MM`, the doctor's local time: a slot must start at or after `earliest` and end by `latest`.
    public var earliest: String
    public var latest: String
    /// `active`, `left`, `booked` or `expired`.
    public var status: String
    public var createdAt: Date
    /// Slots offered to this entry that can still be booked.
    public var offers: [WaitlistOffer]

    public init(
        id: UUID, doctorId: UUID, fromDay: String, toDay: String, earliest: String, latest: String, status: String, createdAt: Date,
        offers: [WaitlistOffer]
    ) {
        self.id = id
        self.doctorId = doctorId
        self.fromDay = fromDay
        self.toDay = toDay
        self.earliest = earliest
        self.latest = latest
        self.status = status
        self.createdAt = createdAt
        self.offers = offers
    }
}

/// A freed slot offered to an entry.
public struct WaitlistOffer: Codable, Sendable, Equatable {
    /// Also the id of the appointment that booking it requests.
    public var id: UUID
    public var startsAt: Date
    public var endsAt: Date
    public var status: String
    /// Until when it can be booked (one by one: the end of the hold).
    public var expiresAt: Date
}

/// How a clinic offers freed slots.
public struct WaitlistSettings: Codable, Sendable, Equatable {
    public enum Mode: String, Codable, Sendable, CaseIterable {
        /// Everyone whose window holds the slot at once: the first to book gets it.
        case all
        /// The longest-waiting first, for `holdMinutes`; then the next.
        case oneByOne = "one_by_one"
    }

    public var mode: Mode
    public var holdMinutes: Int

    public init(mode: Mode = .all, holdMinutes: Int = 30) {
        self.mode = mode
        self.holdMinutes = holdMinutes
    }
}

/// An offer as the one who books it sees it: what is booked, for whom.
public struct ClaimedOffer: Sendable, Equatable {
    public var offerId: UUID
    public var tenantId: UUID
    public var patientId: UUID
    public var doctorId: UUID
    public var startsAt: Date
    public var endsAt: Date
}

public enum WaitlistError: Error, Sendable, Equatable {
    /// The patient has `WaitlistRules.maximumActiveEntries` active entries.
    case tooManyEntries
}

public enum WaitlistRules {
    public static let maximumActiveEntries = 10
    public static let longestWindowDays = 366
}

/// One-click links: the token of an offer is an HMAC of its id under the worker's
/// `waitlist.link.secret`, so a redelivered event can send the same link again without the
/// token ever being stored; the database keeps only its SHA-256 to find the offer.
public struct WaitlistLinks: Sendable {
    let key: SymmetricKey
    let publicURL: String

    public init(secret: String, publicURL: String) {
        key = SymmetricKey(data: Data(secret.utf8))
        self.publicURL = publicURL.hasSuffix("/") ? String(publicURL.dropLast()) : publicURL
    }

    public func token(offer: UUID) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data("waitlist-offer:\(offer.canonical)".utf8), using: key)
        return Data(mac).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    public func link(offer: UUID) -> String { "\(publicURL)/waitlist/offer?token=\(token(offer: offer))" }

    public static func hash(_ token: String) -> String {
        SHA256.hash(data: Data(token.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}
