import Foundation
import Postgres

/// The email worker's table, `mail.deliveries`: one row per idempotency key, `sending` while a
/// conversation with the SMTP server may be under way, then `delivered` or `rejected`.
///
/// A batch costs two transactions whatever its size: one claims every key, one records every
/// outcome.
struct DeliveryStore: Sendable {
    let pool: PostgresPool

    /// An email to claim.
    struct Claim: Sendable {
        var key: String
        var tenantId: UUID
        var recipient: String
        var kind: String
        /// Replayed by an operator from the dead-letter topic: send even if a claim is found.
        var isReplay: Bool
    }

    /// What the claim found for a key.
    enum Decision: Sendable, Equatable {
        /// Claimed (`sending` committed): send it now.
        case send
        /// Delivered before: nothing to do.
        case delivered
        /// A `sending` row left by an attempt that stopped mid-conversation: it may have been delivered.
        case inDoubt
    }

    /// Claims every key in one transaction. Keys must be distinct.
    func claim(_ claims: [Claim]) async throws -> [String: Decision] {
        try await pool.transaction { connection in
            let rows = try await connection.query(
                """
                INSERT INTO mail.deliveries (idempotency_key, tenant_id, recipient, kind, status)
                SELECT c.key, c.tenant, c.recipient, c.kind, 'sending'
                FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[]) AS c(key, tenant, recipient, kind)
                ON CONFLICT (idempotency_key) DO UPDATE SET updated_at = now()
                RETURNING idempotency_key, status, (xmax = 0) AS inserted
                """, [claims.map(\.key), claims.map(\.tenantId), claims.map(\.recipient), claims.map(\.kind)])
            let replays = Set(claims.filter(\.isReplay).map(\.key))
            var decisions: [String: Decision] = [:]
            var reclaim: [String] = []
            for row in rows {
                let key = try row.decode(String.self, "idempotency_key")
                let status = try row.decode(String.self, "status")
                let inserted = try row.decode(Bool.self, "inserted")
                switch status {
                case "delivered":
                    decisions[key] = .delivered
                case "sending" where !inserted && !replays.contains(key):
                    decisions[key] = .inDoubt
                case "sending":
                    decisions[key] = .send
                default:
                    // Rejected before (and since fixed, or replayed): never delivered, so safe to send.
                    decisions[key] = .send
                    reclaim.append(key)
                }
            }
            if !reclaim.isEmpty {
                try await connection.query(
                    "UPDATE mail.deliveries SET status = 'sending', updated_at = now() WHERE idempotency_key = ANY($1::text[])",
                    [reclaim])
            }
            return decisions
        }
    }

    /// What the SMTP server said about a claimed key.
    struct Outcome: Sendable {
        enum Verdict: Sendable {
            case delivered(messageId: String, reply: String)
            case rejected(reply: String)
            /// Nothing was accepted (4xx, no connection, or never sent): the claim is released.
            case notSent
            /// The conversation broke after the whole message went out: the claim stays.
            case unknown
        }
        var claim: Claim
        var verdict: Verdict
        var key: String { claim.key }

        var isDelivered: Bool {
            if case .delivered = verdict { true } else { false }
        }
    }

    /// Records every outcome of a batch in one transaction.
    func record(_ outcomes: [Outcome]) async throws {
        var delivered: [(claim: Claim, id: String, reply: String)] = []
        var rejected: (keys: [String], replies: [String]) = ([], [])
        var released: [String] = []
        for outcome in outcomes {
            switch outcome.verdict {
            case .delivered(let messageId, let reply):
                delivered.append((outcome.claim, messageId, reply))
            case .rejected(let reply):
                rejected.keys.append(outcome.key)
                rejected.replies.append(reply)
            case .notSent:
                released.append(outcome.key)
            case .unknown:
                continue
            }
        }
        guard !delivered.isEmpty || !rejected.keys.isEmpty || !released.isEmpty else { return }
        try await pool.transaction { connection in
            if !delivered.isEmpty {
                // An upsert: the delivery is recorded even if its claim was lost (a crash of an
                // asynchronously committing server).
                try await connection.query(
                    """
                    INSERT INTO mail.deliveries (idempotency_key, tenant_id, recipient, kind, status, message_id, reply)
                    SELECT o.key, o.tenant, o.recipient, o.kind, 'delivered', o.message_id, o.reply
                    FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[])
                        AS o(key, tenant, recipient, kind, message_id, reply)
                    ON CONFLICT (idempotency_key) DO UPDATE
                    SET status = 'delivered', message_id = EXCLUDED.message_id, reply = EXCLUDED.reply, updated_at = now()
                    """,
                    [
                        delivered.map(\.claim.key), delivered.map(\.claim.tenantId), delivered.map(\.claim.recipient),
                        delivered.map(\.claim.kind), delivered.map(\.id), delivered.map(\.reply),
                    ])
            }
            if !rejected.keys.isEmpty {
                try await connection.query(
                    """
                    UPDATE mail.deliveries AS d SET status = 'rejected', reply = o.reply, updated_at = now()
                    FROM unnest($1::text[], $2::text[]) AS o(key, reply)
                    WHERE d.idempotency_key = o.key
                    """, [rejected.keys, rejected.replies])
            }
            if !released.isEmpty {
                try await connection.query(
                    "DELETE FROM mail.deliveries WHERE idempotency_key = ANY($1::text[]) AND status = 'sending'", [released])
            }
        }
    }
}
