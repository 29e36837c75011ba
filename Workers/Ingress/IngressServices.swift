import Analytics
import Audit
import Booking
import Clinic
import Contracts
import Foundation
import Logging
import Notifications
import Prometheus
import Waitlist
import Webhooks

/// Everything the routes use, each behind a protocol: the real program wires PostgreSQL and
/// Kafka (`IngressProgram`), route tests wire in-memory stores.
public struct IngressServices: Sendable {
    public var identity: any IdentityStore
    public var tenants: any TenantAdministration
    public var audit: any AuditTrail
    public var sessions: any SessionStore
    public var directory: any DirectoryStore
    public var idempotency: any IdempotencyStore
    public var issuedCommands: any IssuedCommandLog
    public var appointments: any AppointmentReads
    public var outcomes: any CommandOutcomes
    public var notifications: any NotificationInbox
    public var analytics: any AnalyticsReports
    public var webhooks: any WebhookRegistry
    public var waitlist: any WaitlistBook
    public var slots: any SlotFinder
    public var outbox: any MessageOutbox
    public var tokens: AccessTokens
    public var passwords: Passwords
    public var revoked: RevokedSessions
    public var activity: SessionActivity
    /// Doctors as the command path checks them (the booking worker decides with the truth).
    public var doctorCache: ExpiringCache<UUID, Doctor>
    /// Profiles as `GET /v1/auth/me` shows them.
    public var profileCache: ExpiringCache<UUID, User>
    /// The open event streams (nil where no event feed runs, e.g. route tests).
    public var streams: EventStreamHub?
    /// Whether the database answers (for readiness).
    public var databaseCheck: @Sendable () async -> Result<Void, any Error>
    public var settings: IngressSettings
    public var metrics: PrometheusCollectorRegistry
    public var logger: Logger
    /// Checked against when an email has no account, so that timing tells nothing.
    let decoyHash: String

    public init(
        identity: any IdentityStore, tenants: any TenantAdministration, audit: any AuditTrail, sessions: any SessionStore, directory: any DirectoryStore, idempotency: any IdempotencyStore,
        issuedCommands: any IssuedCommandLog, appointments: any AppointmentReads, outcomes: any CommandOutcomes,
        notifications: any NotificationInbox, analytics: any AnalyticsReports, webhooks: any WebhookRegistry,
        waitlist: any WaitlistBook, slots: any SlotFinder, outbox: any MessageOutbox,
        tokens: AccessTokens, passwords: Passwords, databaseCheck: @escaping @Sendable () async -> Result<Void, any Error>,
        settings: IngressSettings, metrics: PrometheusCollectorRegistry, logger: Logger
    ) {
        self.identity = identity
        self.tenants = tenants
        self.audit = audit
        self.sessions = sessions
        self.directory = directory
        self.idempotency = idempotency
        self.issuedCommands = issuedCommands
        self.appointments = appointments
        self.outcomes = outcomes
        self.notifications = notifications
        self.analytics = analytics
        self.webhooks = webhooks
        self.waitlist = waitlist
        self.slots = slots
        self.outbox = outbox
        self.tokens = tokens
        self.passwords = passwords
        revoked = RevokedSessions(store: sessions, accessTokenLifetime: tokens.lifetime)
        activity = SessionActivity(store: sessions)
        doctorCache = ExpiringCache(lifetime: settings.directoryCacheLifetime)
        profileCache = ExpiringCache(lifetime: settings.directoryCacheLifetime)
        self.databaseCheck = databaseCheck
        self.settings = settings
        self.metrics = metrics
        self.logger = logger
        decoyHash = passwords.hashSynchronously(UUID().uuidString)
    }

    /// The doctor, from the cache (or the directory).
    func doctor(_ id: UUID, tenant: UUID) async throws -> Doctor? {
        let doctor = try await doctorCache.value(for: id) { try await directory.doctor(id, tenant: tenant) }
        return doctor?.tenantId == tenant ? doctor : nil
    }

    /// The doctor's calendar changed (hours, overrides, settings): cached free slots are stale.
    func calendarChanged(doctor: UUID) {
        slotsChanged(doctor: doctor)
        doctorCache.forget(doctor)
    }

    /// An appointment of the doctor changed: their cached free slots are stale. (The event feed
    /// says so too, a moment later; a client that saw its command decided must not see the old
    /// slots in that moment.)
    func slotsChanged(doctor: UUID) {
        (slots as? SlotCache)?.forget(doctor: doctor)
    }

    /// The user's profile, from the cache (or the identity store).
    func profile(_ id: UUID, tenant: UUID) async throws -> User? {
        let user = try await profileCache.value(for: id) { try await identity.user(id, tenant: tenant) }
        return user?.tenantId == tenant ? user : nil
    }
}

/// The ingress's settings (configuration keys in `IngressProgram.settings`).
public struct IngressSettings: Sendable {
    public var refreshLifetime: TimeInterval
    public var loginLimits: LoginLimits
    /// Where links in emails point (`ingress.public.url`), e.g. `https://clinic.example`.
    public var publicURL: String
    /// How long a one-time email link works.
    public var emailLinkLifetime: TimeInterval
    /// How long directory facts and profiles are cached on the command path.
    public var directoryCacheLifetime: Duration
    /// An access log line per request.
    public var accessLog: Bool
    /// Webhook endpoints may name loopback and private addresses and use plain http
    /// (`webhooks.allow.private.addresses`; development and tests only).
    public var webhooksAllowPrivateAddresses: Bool

    public init(
        refreshLifetime: TimeInterval = 30 * 86400, loginLimits: LoginLimits = LoginLimits(perAccount: 5, perAddress: 20, window: 900),
        publicURL: String = "http://127.0.0.1:8080", emailLinkLifetime: TimeInterval = 86400,
        directoryCacheLifetime: Duration = .seconds(10), accessLog: Bool = true, webhooksAllowPrivateAddresses: Bool = false
    ) {
        self.refreshLifetime = refreshLifetime
        self.loginLimits = loginLimits
        self.publicURL = publicURL
        self.emailLinkLifetime = emailLinkLifetime
        self.directoryCacheLifetime = directoryCacheLifetime
        self.accessLog = accessLog
        self.webhooksAllowPrivateAddresses = webhooksAllowPrivateAddresses
    }
}

/// How many failed logins are tolerated within `window` seconds.
public struct LoginLimits: Sendable {
    public var perAccount: Int
    public var perAddress: Int
    public var window: TimeInterval

    public init(perAccount: Int, perAddress: Int, window: TimeInterval) {
        self.perAccount = perAccount
        self.perAddress = perAddress
        self.window = window
    }
}

extension Duration {
    var timeInterval: TimeInterval { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
