import Clinic
import Foundation
import Kafka
import Logging
import Operations
import Postgres

/// What the console's routes work with.
struct ConsoleServices: Sendable {
    let pages: ConsolePages
    let sessions: ConsoleSessions
    let operations: OperationsSettings
    let deadLetters: DeadLetterQueue
    let admin: KafkaAdmin
    let identity: PostgresIdentityStore
    let tenants: PostgresTenantAdministration
    let pool: PostgresPool
    let passwords: Passwords
    /// A bcrypt hash of a random secret nobody knows: what a sign-in with an unknown email is checked against.
    let unusableHash: String
    let probe: WorkerProbe
    /// How often live pages are refreshed over server-sent events.
    let refreshInterval: Duration
    /// How long one event stream stays open before the browser reconnects (bounds every stream).
    let streamLifetime: Duration
    let secureCookies: Bool
    /// Failed sign-ins per account and per address within `signInWindow` before refusing.
    let signInLimit: Int
    let signInWindow: TimeInterval
    let logger: Logger

    var lagTargets: [LagTarget] { LagTarget.contractGroups(in: operations.namespace) }
}
