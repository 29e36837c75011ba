import Foundation
import Postgres

/// The idempotency record: "has group G processed message X", written in the handler's own
/// transaction so that the effect and the record commit (or roll back) together.
///
///     try await pool.transaction { connection in
///         guard try await ProcessedMessages.claim(message.metadata.id, group: group, on: connection) else { return }
///         … the effect …
///     }
public enum ProcessedMessages {
    /// Records `messageId` for `group`. Returns false when it was recorded before: the caller
    /// must then skip the effect. A concurrent claim of the same id waits for the first
    /// transaction and then returns false.
    public static func claim(_ messageId: UUID, group: String, on connection: PostgresConnection) async throws -> Bool {
        let rows = try await connection.query(
            """
            INSERT INTO runtime.processed_messages (consumer_group, message_id) VALUES ($1, $2)
            ON CONFLICT DO NOTHING
            """, [group, messageId])
        return rows.affectedRows == 1
    }

    public static func wasProcessed(_ messageId: UUID, group: String, on connection: PostgresConnection) async throws
        -> Bool
    {
        let rows = try await connection.query(
            "SELECT 1 FROM runtime.processed_messages WHERE consumer_group = $1 AND message_id = $2", [group, messageId])
        return !rows.isEmpty
    }
}
