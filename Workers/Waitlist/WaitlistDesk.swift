import Contracts
import Foundation
import Kafka
import Logging
import Notifications
import Postgres
import Runtime

/// The waitlist worker's work on PostgreSQL and the broker: offering a freed slot, closing the
/// offers of a slot that was booked, lapsing holds and expiring entries, and telling patients.
///
/// Every step is safe to run again for the same cause: offers are unique per entry and slot and
/// remember what made them (`source`) and what closed them (`closed_by`), so a redelivered event
/// finds the same offers and tells the same patients again, which the inbox (one notification
/// per source and recipient) and the email worker (one email per key) turn into nothing new.
struct WaitlistDesk: Sendable {
    let pool: PostgresPool
    let producer: KafkaProducer
    let links: WaitlistLinks
    let emailTopic: String
    let inAppTopic: String
    let logger: Logger

    struct Slot: Sendable {
        var tenant: UUID
        var doctor: UUID
        var startsAt: Date
        var endsAt: Date
    }

    /// An offer someone is told about.
    struct Notice: Sendable {
        var offerId: UUID
        var tenant: UUID
        var patient: UUID
        var doctor: UUID
        var startsAt: Date
        var endsAt: Date
        var expiresAt: Date
    }

    /// Of some doctors, those the waitlist concerns: with patients waiting, or with offers that
    /// can still be booked.
    func concerned(doctors: Set<UUID>) async throws -> Set<UUID> {
        guard !doctors.isEmpty else { return [] }
        return Set(
            try await pool.query(
                """
                SELECT d.id FROM unnest($1::uuid[]) AS d(id)
                WHERE EXISTS (SELECT 1 FROM booking.waitlist_entries e WHERE e.doctor_id = d.id AND e.status = 'active')
                   OR EXISTS (SELECT 1 FROM booking.waitlist_offers o WHERE o.doctor_id = d.id AND o.status IN ('open', 'claimed'))
                """, [Array(doctors)]
            ).map { try $0.decode(UUID.self, 0) })
    }

    // MARK: - Offering

    /// Offers a freed slot to the active entries whose window holds it, per the clinic's mode,
    /// and tells them. `excluding` is the patient who freed it.
    func offerFreedSlot(_ slot: Slot, excluding patient: UUID?, cause: EnvelopeMetadata) async throws {
        let source = "event:\(cause.id.canonical)"
        let offers = try await pool.transaction { connection in
            try await makeOffers(slot, excluding: patient, source: source, on: connection)
        }
        try await tell(offers, .waitlistOffer, cause: cause)
    }

    /// The offers `source` made (now, or on an earlier delivery) that are still open.
    func makeOffers(_ slot: Slot, excluding patient: UUID?, source: String, on connection: PostgresConnection) async throws -> [Notice] {
        let settings = try await connection.query(
            "SELECT mode, hold_minutes FROM booking.waitlist_settings WHERE tenant_id = $1", [slot.tenant]
        ).first
        let oneByOne = try settings?.decode(String.self, 0) == WaitlistSettings.Mode.oneByOne.rawValue
        let holdMinutes = try settings?.decode(Int.self, 1) ?? WaitlistSettings().holdMinutes
        // Entries whose window (the doctor's local days and times) holds the slot, longest
        // waiting first, not offered this slot before, while the slot is free and ahead.
        var chosen = try await connection.query(
            """
            SELECT e.id, e.patient_id
            FROM booking.waitlist_entries e
            JOIN directory.doctors d ON d.id = e.doctor_id
            WHERE e.doctor_id = $1 AND e.tenant_id = $2 AND e.status = 'active' AND e.patient_id IS DISTINCT FROM $5::uuid
              AND ($3::timestamptz AT TIME ZONE d.time_zone)::date BETWEEN e.first_day AND e.last_day
              AND ($3::timestamptz AT TIME ZONE d.time_zone)::time >= e.earliest
              AND ($4::timestamptz AT TIME ZONE d.time_zone) <= ($3::timestamptz AT TIME ZONE d.time_zone)::date + e.latest
              AND $3::timestamptz > now()
              AND NOT EXISTS (SELECT 1 FROM booking.waitlist_offers o WHERE o.entry_id = e.id AND o.starts_at = $3)
              AND NOT EXISTS (
                  SELECT 1 FROM booking.appointments a
                  WHERE a.doctor_id = $1 AND a.status IN ('pending', 'confirmed') AND a.starts_at < $4 AND a.ends_at > $3)
            ORDER BY e.created_at, e.id
            """, [slot.doctor, slot.tenant, slot.startsAt, slot.endsAt, patient]
        ).map { (entry: try $0.decode(UUID.self, 0), patient: try $0.decode(UUID.self, 1)) }
        if oneByOne {
            let held = try await connection.query(
                "SELECT 1 FROM booking.waitlist_offers WHERE doctor_id = $1 AND starts_at = $2 AND status IN ('open', 'claimed')",
                [slot.doctor, slot.startsAt])
            chosen = held.isEmpty ? Array(chosen.prefix(1)) : []
        }
        if !chosen.isEmpty {
            let ids = chosen.map { _ in UUID() }
            try await connection.query(
                """
                INSERT INTO booking.waitlist_offers (
                    id, entry_id, tenant_id, patient_id, doctor_id, starts_at, ends_at, token_hash, hold_until, expires_at, source)
                SELECT o.id, o.entry, $1, o.patient, $2, $3, $4, o.hash,
                       CASE WHEN $5 THEN least(now() + make_interval(mins => $6), $3) END,
                       CASE WHEN $5 THEN least(now() + make_interval(mins => $6), $3) ELSE $3 END, $7
                FROM unnest($8::uuid[], $9::uuid[], $10::uuid[], $11::text[]) AS o(id, entry, patient, hash)
                ON CONFLICT (entry_id, starts_at) DO NOTHING
                """,
                [
                    slot.tenant, slot.doctor, slot.startsAt, slot.endsAt, oneByOne, holdMinutes, source, ids, chosen.map(\.entry),
                    chosen.map(\.patient), ids.map { WaitlistLinks.hash(links.token(offer: $0)) },
                ])
        }
        return try await connection.query(
            """
            SELECT \(Self.noticeColumns) FROM booking.waitlist_offers
            WHERE source = $1 AND status = 'open' ORDER BY offered_at, id
            """, [source]
        ).map(Self.notice)
    }

    // MARK: - Closing

    /// A slot was booked (by an offer's patient or anyone): its open offers close, the offer
    /// booked is `taken` (and its entry `booked`), the others `gone`, and their patients told.
    func slotTaken(_ slot: Slot, appointment: UUID, cause: EnvelopeMetadata) async throws {
        let source = "event:\(cause.id.canonical)"
        let gone = try await pool.transaction { connection in
            _ = try await connection.query(
                """
                WITH closed AS (
                    UPDATE booking.waitlist_offers o
                    SET status = CASE WHEN o.id = $4 THEN 'taken' ELSE 'gone' END, closed_at = now(), closed_by = $5
                    WHERE o.doctor_id = $1 AND o.status IN ('open', 'claimed') AND o.starts_at < $3 AND o.ends_at > $2
                    RETURNING o.entry_id, o.status
                )
                UPDATE booking.waitlist_entries e SET status = 'booked', ended_at = now()
                FROM closed c WHERE e.id = c.entry_id AND c.status = 'taken' AND e.status = 'active'
                """, [slot.doctor, slot.startsAt, slot.endsAt, appointment, source])
            return try await connection.query(
                """
                SELECT \(Self.noticeColumns) FROM booking.waitlist_offers
                WHERE closed_by = $1 AND status = 'gone' ORDER BY id
                """, [source]
            ).map(Self.notice)
        }
        try await tell(gone, .waitlistGone, cause: cause)
    }

    /// The booking request made from an offer was declined (the patient may no longer book, the
    /// clinic was disabled, the doctor's hours or notice changed; a slot taken by someone else
    /// closed the offer already, with the booking): the claimed offer is `gone`, and the slot,
    /// still free and ahead, goes to whoever waits for it as a freed slot would. The patient hears
    /// of the decline from the notification worker, with its reason; their entry stays active.
    func offerDeclined(offer: UUID, cause: EnvelopeMetadata) async throws {
        let source = "event:\(cause.id.canonical)"
        let next = try await pool.transaction { connection -> [Notice] in
            // A redelivery finds the offer closed by this same event, and goes on from there.
            let closed = try await connection.query(
                """
                WITH closed AS (
                    UPDATE booking.waitlist_offers SET status = 'gone', closed_at = now(), closed_by = $2
                    WHERE id = $1 AND status = 'claimed' RETURNING \(Self.noticeColumns)
                )
                SELECT * FROM closed
                UNION ALL
                SELECT \(Self.noticeColumns) FROM booking.waitlist_offers WHERE id = $1 AND closed_by = $2
                """, [offer, source]
            ).map(Self.notice)
            guard let closed = closed.first, closed.startsAt > Date() else { return [] }
            return try await makeOffers(
                Slot(tenant: closed.tenant, doctor: closed.doctor, startsAt: closed.startsAt, endsAt: closed.endsAt),
                excluding: closed.patient, source: source, on: connection)
        }
        try await tell(next, .waitlistOffer, cause: cause)
    }

    /// Holds that lapsed (one by one) and offers whose slot began: each offer expires and, while
    /// the slot is ahead, goes to the next entry in the same transaction (`closeLapsedOffers`);
    /// then the patients of every lapse not yet told are told (`tellLapses`): the first that it
    /// is gone, the next of their offer. Two steps, so that a worker killed between the commit and
    /// the telling tells them on its next tick; copies racing over one lapse tell under the same keys.
    func lapseHolds() async throws {
        try await closeLapsedOffers()
        try await tellLapses()
    }

    func closeLapsedOffers() async throws {
        let lapsed = try await pool.query(
            """
            SELECT \(Self.noticeColumns) FROM booking.waitlist_offers
            WHERE status = 'open' AND expires_at <= now() ORDER BY expires_at LIMIT 500
            """
        ).map(Self.notice)
        for offer in lapsed {
            let source = Self.lapseSource(offer.offerId)
            try await pool.transaction { connection in
                let expired = try await connection.query(
                    """
                    UPDATE booking.waitlist_offers SET status = 'expired', closed_at = now(), closed_by = $2
                    WHERE id = $1 AND status = 'open' RETURNING id
                    """, [offer.offerId, source])
                guard !expired.isEmpty, offer.startsAt > Date() else { return }
                _ = try await makeOffers(
                    Slot(tenant: offer.tenant, doctor: offer.doctor, startsAt: offer.startsAt, endsAt: offer.endsAt), excluding: nil,
                    source: source, on: connection)
            }
        }
    }

    func tellLapses() async throws {
        let untold = try await pool.query(
            """
            SELECT \(Self.noticeColumns) FROM booking.waitlist_offers
            WHERE status = 'expired' AND lapse_told_at IS NULL ORDER BY closed_at LIMIT 500
            """
        ).map(Self.notice)
        for offer in untold {
            let source = Self.lapseSource(offer.offerId)
            if offer.startsAt > Date() {
                let next = try await pool.query(
                    "SELECT \(Self.noticeColumns) FROM booking.waitlist_offers WHERE source = $1 AND status = 'open' ORDER BY offered_at, id",
                    [source]
                ).map(Self.notice)
                let cause = EnvelopeMetadata(
                    id: offer.offerId, type: "waitlist.hold_lapsed", version: 1, occurredAt: Date(), correlationId: source,
                    causationId: nil, tenantId: offer.tenant, actor: Principal(role: .system, userId: nil))
                try await tell([offer], .waitlistGone, cause: cause)
                try await tell(next, .waitlistOffer, cause: cause)
            }
            try await pool.query("UPDATE booking.waitlist_offers SET lapse_told_at = now() WHERE id = $1", [offer.offerId])
        }
    }

    static func lapseSource(_ offer: UUID) -> String { "lapse:\(offer.canonical)" }

    /// Entries whose last day has passed in the doctor's time zone.
    func expireEntries() async throws -> Int {
        try await pool.query(
            """
            UPDATE booking.waitlist_entries e SET status = 'expired', ended_at = now()
            FROM directory.doctors d
            WHERE d.id = e.doctor_id AND e.status = 'active' AND e.last_day < (now() AT TIME ZONE d.time_zone)::date
            RETURNING e.id
            """
        ).count
    }

    // MARK: - Telling

    /// An in-app notification (stored once per offer and kind, announced to the patient's event
    /// streams) and, unless the patient turned email off, an email with the one-click link.
    func tell(_ notices: [Notice], _ kind: NotificationKind, cause: EnvelopeMetadata) async throws {
        guard !notices.isEmpty else { return }
        let people = try await AppointmentDirectory(pool: pool).people(notices.flatMap { [$0.doctor, $0.patient] })
        var drafts: [InboxDraft] = []
        var emails: [(Notice, EmailRecipient, AppointmentSummary)] = []
        for notice in notices {
            guard let doctor = people[notice.doctor], let patient = people[notice.patient] else {
                logger.warning("waitlist notice skipped: doctor or patient unknown", metadata: ["offer": "\(notice.offerId.canonical)"])
                continue
            }
            let summary = AppointmentSummary(
                appointmentId: notice.offerId, doctorId: notice.doctor, doctorName: doctor.name, patientId: notice.patient,
                patientName: patient.name, startsAt: notice.startsAt, endsAt: notice.endsAt, timeZone: doctor.timeZone ?? "UTC",
                status: .pending, sequence: 0)
            let text = NotificationPlan.text(kind, for: .patient, summary: summary)
            drafts.append(
                InboxDraft(
                    source: "\(kind.rawValue):\(notice.offerId.canonical)", recipient: notice.patient, tenant: notice.tenant, kind: kind,
                    appointment: nil, title: text.title, body: text.body))
            emails.append((notice, patient.recipient(as: .patient), summary))
        }
        let (stored, allowed) = try await pool.transaction { connection in
            (try await Inbox.store(drafts, on: connection), try await Inbox.wantingEmail(Set(drafts.map(\.recipient)), on: connection))
        }
        let requests = emails.filter { allowed.contains($0.1.userId) }.map { notice, recipient, summary in
            EmailRequested(
                idempotencyKey: "\(kind.rawValue):\(notice.offerId.canonical)", kind: kind, recipient: recipient, appointment: summary,
                link: kind == .waitlistOffer ? links.link(offer: notice.offerId) : nil,
                linkExpiresAt: kind == .waitlistOffer ? notice.expiresAt : nil)
        }
        try await producer.send(
            try CausedRecords.announcements(Array(stored.values), causedBy: cause, to: inAppTopic)
                + CausedRecords.emails(requests, causedBy: cause, to: emailTopic))
    }

    /// The columns `notice(_:)` reads, in its order.
    static let noticeColumns = "id, tenant_id, patient_id, doctor_id, starts_at, ends_at, expires_at"

    static func notice(_ row: PostgresRow) throws -> Notice {
        Notice(
            offerId: try row.decode(UUID.self, 0), tenant: try row.decode(UUID.self, 1), patient: try row.decode(UUID.self, 2),
            doctor: try row.decode(UUID.self, 3), startsAt: try row.decode(Date.self, 4), endsAt: try row.decode(Date.self, 5),
            expiresAt: try row.decode(Date.self, 6))
    }
}
