import Foundation
import Postgres

/// A bookable slot.
public struct FreeSlot: Codable, Sendable, Equatable {
    public var startsAt: Date
    public var endsAt: Date

    public init(startsAt: Date, endsAt: Date) {
        self.startsAt = startsAt
        self.endsAt = endsAt
    }
}

/// The free slots of a doctor for local days `from`…`to`, by the rules the booking worker applies.
public protocol SlotFinder: Sendable {
    func freeSlots(doctor: UUID, from: String, to: String, at now: Date) async throws -> [FreeSlot]
}

/// `directory.free_slots` in SQL (Migrations/SQL/0004_booking_rules.sql).
public struct PostgresSlotFinder: SlotFinder {
    let pool: PostgresPool

    public init(pool: PostgresPool) {
        self.pool = pool
    }

    public func freeSlots(doctor: UUID, from: String, to: String, at now: Date) async throws -> [FreeSlot] {
        try await pool.query(
            "SELECT starts_at, ends_at FROM directory.free_slots($1, $2::date, $3::date, $4)", [doctor, from, to, now]
        ).map { FreeSlot(startsAt: try $0.decode(Date.self, "starts_at"), endsAt: try $0.decode(Date.self, "ends_at")) }
    }
}
