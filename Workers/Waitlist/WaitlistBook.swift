import Contracts
import Foundation
import Postgres

/// The waitlist as the API uses it: patients join, see and leave their entries; admins set how
/// freed slots are offered; an offer is claimed by its link or by its patient.
public protocol WaitlistBook: Sendable {
    func join(
        tenant: UUID, patient: UUID, doctor: UUID, fromDay: String, toDay: String, earliest: String, latest: String
    ) async throws -> WaitlistEntry
    func entries(tenant: UUID, patient: UUID) async throws -> [WaitlistEntry]
    /// False when the entry is not the patient's, or not active.
    func leave(_ entry: UUID, tenant: UUID, patient: UUID) async throws -> Bool
    func settings(tenant: UUID) async throws -> WaitlistSettings
    func setSettings(_ settings: WaitlistSettings, tenant: UUID) async throws
    /// Marks an open, unexpired offer claimed and returns it: by the token of its link, or (when
    /// `token` is nil) by its id for its own patient. Nil when it cannot be booked (any more).
    func claim(token: String?, offer: UUID?, patient: UUID?, tenant: UUID?) async throws -> ClaimedOffer?
    /// Opens a claimed offer again (its booking request could not be sent).
    func release(_ offer: UUID) async throws
    /// The offer behind a link, for its page (nil when it cannot be booked).
    func offer(token: String) async throws -> (offer: ClaimedOffer, doctorName: String, timeZone: String)?
}

public struct PostgresWaitlistBook: WaitlistBook {
    let pool: PostgresPool

    public init(pool: PostgresPool) { self.pool = pool }

    static let entryColumns = """
        e.id, e.doctor_id, e.first_day::text, e.last_day::text, to_char(e.earliest, 'HH24:MI'), to_char(e.latest, 'HH24:MI'), e.status,
        e.created_at
        """

    public func join(
        tenant: UUID, patient: UUID, doctor: UUID, fromDay: String, toDay: String, earliest: String, latest: String
    ) async throws -> WaitlistEntry {
        let rows = try await pool.transaction { connection in
            // Serialises one patient's joins, so two at once cannot both pass the limit.
            _ = try await connection.query("SELECT pg_advisory_xact_lock(hashtext($1::text))", [patient.canonical])
            return try await connection.query(
                """
                INSERT INTO booking.waitlist_entries AS e (id, tenant_id, patient_id, doctor_id, first_day, last_day, earliest, latest)
                SELECT $1, $2, $3, $4, $5::date, $6::date, $7::time, $8::time
                WHERE (SELECT count(*) FROM booking.waitlist_entries
                       WHERE tenant_id = $2 AND patient_id = $3 AND status = 'active') < $9
                RETURNING \(Self.entryColumns)
                """, [UUID(), tenant, patient, doctor, fromDay, toDay, earliest, latest, WaitlistRules.maximumActiveEntries])
        }
        guard let row = rows.first else { throw WaitlistError.tooManyEntries }
        return try Self.entry(row, offers: [])
    }

    public func entries(tenant: UUID, patient: UUID) async throws -> [WaitlistEntry] {
        let rows = try await pool.query(
            """
            SELECT \(Self.entryColumns),
                   coalesce((SELECT json_agg(json_build_object(
                                 'id', o.id, 'startsAt', extract(epoch FROM o.starts_at), 'endsAt', extract(epoch FROM o.ends_at),
                                 'status', o.status, 'expiresAt', extract(epoch FROM o.expires_at)) ORDER BY o.starts_at)::text
                             FROM booking.waitlist_offers o
                             WHERE o.entry_id = e.id AND o.status IN ('open', 'claimed') AND o.expires_at > now()), '[]') AS offers
            FROM booking.waitlist_entries e
            WHERE e.tenant_id = $1 AND e.patient_id = $2
            ORDER BY e.created_at DESC, e.id LIMIT 100
            """, [tenant, patient])
        return try rows.map { row in
            try Self.entry(row, offers: Self.offers(try row.decodeJSON([OfferRow].self, "offers")))
        }
    }

    public func leave(_ entry: UUID, tenant: UUID, patient: UUID) async throws -> Bool {
        try await pool.transaction { connection in
            let left = try await connection.query(
                """
                UPDATE booking.waitlist_entries SET status = 'left', ended_at = now()
                WHERE id = $1 AND tenant_id = $2 AND patient_id = $3 AND status = 'active' RETURNING id
                """, [entry, tenant, patient])
            _ = try await connection.query(
                "UPDATE booking.waitlist_offers SET status = 'expired', closed_at = now() WHERE entry_id = $1 AND status = 'open'", [entry])
            return !left.isEmpty
        }
    }

    public func settings(tenant: UUID) async throws -> WaitlistSettings {
        guard let row = try await pool.query("SELECT mode, hold_minutes FROM booking.waitlist_settings WHERE tenant_id = $1", [tenant]).first
        else { return WaitlistSettings() }
        return WaitlistSettings(
            mode: WaitlistSettings.Mode(rawValue: try row.decode(String.self, 0)) ?? .all, holdMinutes: try row.decode(Int.self, 1))
    }

    public func setSettings(_ settings: WaitlistSettings, tenant: UUID) async throws {
        try await pool.query(
            """
            INSERT INTO booking.waitlist_settings (tenant_id, mode, hold_minutes) VALUES ($1, $2, $3)
            ON CONFLICT (tenant_id) DO UPDATE SET mode = excluded.mode, hold_minutes = excluded.hold_minutes, updated_at = now()
            """, [tenant, settings.mode.rawValue, settings.holdMinutes])
    }

    public func claim(token: String?, offer: UUID?, patient: UUID?, tenant: UUID?) async throws -> ClaimedOffer? {
        let rows: PostgresRows
        if let token {
            rows = try await pool.query(
                """
                UPDATE booking.waitlist_offers SET status = 'claimed'
                WHERE token_hash = $1 AND status = 'open' AND expires_at > now()
                RETURNING id, tenant_id, patient_id, doctor_id, starts_at, ends_at
                """, [WaitlistLinks.hash(token)])
        } else if let offer, let patient, let tenant {
            rows = try await pool.query(
                """
                UPDATE booking.waitlist_offers SET status = 'claimed'
                WHERE id = $1 AND patient_id = $2 AND tenant_id = $3 AND status = 'open' AND expires_at > now()
                RETURNING id, tenant_id, patient_id, doctor_id, starts_at, ends_at
                """, [offer, patient, tenant])
        } else {
            return nil
        }
        return try rows.first.map(Self.claimed)
    }

    public func release(_ offer: UUID) async throws {
        try await pool.query("UPDATE booking.waitlist_offers SET status = 'open' WHERE id = $1 AND status = 'claimed'", [offer])
    }

    public func offer(token: String) async throws -> (offer: ClaimedOffer, doctorName: String, timeZone: String)? {
        guard
            let row = try await pool.query(
                """
                SELECT o.id, o.tenant_id, o.patient_id, o.doctor_id, o.starts_at, o.ends_at, d.display_name, d.time_zone
                FROM booking.waitlist_offers o JOIN directory.doctors d ON d.id = o.doctor_id
                WHERE o.token_hash = $1 AND o.status = 'open' AND o.expires_at > now()
                """, [WaitlistLinks.hash(token)]
            ).first
        else { return nil }
        return (try Self.claimed(row), try row.decode(String.self, 6), try row.decode(String.self, 7))
    }

    static func claimed(_ row: PostgresRow) throws -> ClaimedOffer {
        ClaimedOffer(
            offerId: try row.decode(UUID.self, 0), tenantId: try row.decode(UUID.self, 1), patientId: try row.decode(UUID.self, 2),
            doctorId: try row.decode(UUID.self, 3), startsAt: try row.decode(Date.self, 4), endsAt: try row.decode(Date.self, 5))
    }

    static func entry(_ row: PostgresRow, offers: [WaitlistOffer]) throws -> WaitlistEntry {
        WaitlistEntry(
            id: try row.decode(UUID.self, 0), doctorId: try row.decode(UUID.self, 1), fromDay: try row.decode(String.self, 2),
            toDay: try row.decode(String.self, 3), earliest: try row.decode(String.self, 4), latest: try row.decode(String.self, 5),
            status: try row.decode(String.self, 6), createdAt: try row.decode(Date.self, 7), offers: offers)
    }

    /// An offer as the entries query builds it in JSON (times as epoch seconds).
    struct OfferRow: Codable, Sendable {
        var id: UUID
        var startsAt: Double
        var endsAt: Double
        var status: String
        var expiresAt: Double
    }

    static func offers(_ rows: [OfferRow]) -> [WaitlistOffer] {
        rows.map { row in
            WaitlistOffer(
                id: row.id, startsAt: Date(timeIntervalSince1970: row.startsAt), endsAt: Date(timeIntervalSince1970: row.endsAt),
                status: row.status, expiresAt: Date(timeIntervalSince1970: row.expiresAt))
        }
    }
}
