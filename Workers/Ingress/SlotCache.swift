import Clinic
import Foundation
import Synchronization

/// Free slots as the slot route answers them, computed once per doctor and day range and kept
/// until something changes: an appointment event for the doctor (any copy's `EventFeed` sees
/// every event), a change of the doctor's hours or settings on this copy, or `lifetime` (changes
/// made on another copy). Time moving on is applied when serving: slots that have become too
/// soon are dropped then.
final class SlotCache: SlotFinder {
    struct Key: Hashable, Sendable {
        var doctor: UUID
        var from: String
        var to: String
    }

    let source: any SlotFinder
    private let cache: ExpiringCache<Key, [FreeSlot]>
    /// Bumped by each change of a doctor's calendar: slots computed across a change are not kept.
    private let generations = Mutex<[UUID: UInt64]>([:])

    init(source: any SlotFinder, lifetime: Duration) {
        self.source = source
        cache = ExpiringCache(lifetime: lifetime, capacity: 20_000)
    }

    func freeSlots(doctor: UUID, from: String, to: String, at now: Date) async throws -> [FreeSlot] {
        let generation = generations.withLock { $0[doctor] ?? 0 }
        let slots = try await cache.value(
            for: Key(doctor: doctor, from: from, to: to), keep: { generations.withLock { $0[doctor] ?? 0 } == generation }
        ) {
            try await source.freeSlots(doctor: doctor, from: from, to: to, at: now)
        }
        return (slots ?? []).filter { $0.startsAt >= now }
    }

    /// Something about the doctor's calendar changed.
    func forget(doctor: UUID) {
        generations.withLock { $0[doctor, default: 0] &+= 1 }
        cache.forgetAll { $0.doctor == doctor }
    }
}
