import Analytics
import Audit
import Booking
import Clinic
import Contracts
import Foundation
import Ingress
import Logging
import Notifications
import Prometheus
import Synchronization
import Waitlist
import Webhooks

/// The ingress's stores in memory, for route tests on Hummingbird's in-process client: what a
/// route answers (status codes, validation, who may see what) without the real services. What
/// touches data is also tested end to end against PostgreSQL and Kafka.
final class InMemoryWorld: Sendable {
    struct State {
        var tenants: [UUID: Tenant] = [:]
        var accounts: [UUID: (credentials: Credentials, createdAt: Date)] = [:]
        var emailTokens: [String: (user: UUID, purpose: EmailTokenPurpose, expires: Date, used: Bool)] = [:]
        var audit: [AuditEntry] = []
        var loginFailures: [(tenant: UUID, subject: String, at: Date)] = []
        var sessions: [UUID: SessionRecord] = [:]
        var refreshTokens: [String: (session: UUID, user: UUID, spent: Bool, expires: Date)] = [:]
        var doctors: [UUID: Doctor] = [:]
        var hours: [UUID: [WeeklyInterval]] = [:]
        var overrides: [UUID: [DateOverride]] = [:]
        var patients: [UUID: Patient] = [:]
        var idempotency: [String: (hash: String, status: Int?, body: String)] = [:]
        var issued: [UUID: IssuedCommand] = [:]
        var appointments: [UUID: AppointmentRecord] = [:]
        var notes: [UUID: [AppointmentNote]] = [:]
        var outcomes: [UUID: CommandOutcome] = [:]
        var notifications: [UUID: (recipient: Recipient, notification: InAppNotification, deleted: Bool)] = [:]
        var emailOff: Set<UUID> = []
        var commands: [(doctor: UUID, envelope: Data)] = []
        var accountEmails: [AccountEmailRequested] = []
        var audits: [Envelope<HealthDataAccessed>] = []
        var trail: [AuditRecord] = []
        var brokerDown = false
        var webhooks: [UUID: (tenant: UUID, endpoint: WebhookEndpoint)] = [:]
        var waitlist: [UUID: (tenant: UUID, patient: UUID, entry: WaitlistEntry)] = [:]
        var waitlistSettings: [UUID: WaitlistSettings] = [:]
    }

    let state = Mutex(State())

    func with<R>(_ body: (inout State) throws -> R) rethrows -> R { try state.withLock { try body(&$0) } }

    /// The ingress's services over this world.
    func services(accessLifetime: TimeInterval = 900) async throws -> IngressServices {
        var logger = Logger(label: "test.routes")
        logger.logLevel = .critical
        return IngressServices(
            identity: Identity(world: self), tenants: Clinics(world: self), audit: Trail(world: self), sessions: Sessions(world: self),
            directory: Directory(world: self),
            idempotency: Idempotency(world: self), issuedCommands: Issued(world: self), appointments: Appointments(world: self),
            outcomes: Outcomes(world: self), notifications: Inbox(world: self), analytics: NoAnalytics(),
            webhooks: Webhooks(world: self), waitlist: Waitlists(world: self), slots: NoSlots(),
            outbox: Outbox(world: self),
            tokens: try await AccessTokens(keys: [.init(id: "k1", secret: TestFleet.secret)], lifetime: accessLifetime),
            passwords: Passwords(cost: 4), databaseCheck: { .success(()) },
            settings: IngressSettings(accessLog: false), metrics: PrometheusCollectorRegistry(), logger: logger)
    }

    /// A verified account (and its tenant), as the stores would hold it.
    @discardableResult
    func account(_ email: String, role: Role, tenant: UUID = Tenants.defaultTenant, verified: Bool = true) async throws -> User {
        let hash = try await Passwords(cost: 4).hash(TestFleet.password)
        let user = User(id: UUID(), tenantId: tenant, email: email, role: role, displayName: email)
        with { state in
            if state.tenants[tenant] == nil { state.tenants[tenant] = Tenant(id: tenant, name: "Clinic") }
            state.accounts[user.id] = (Credentials(user: user, passwordHash: hash, emailVerified: verified), Date())
            if role == .patient {
                state.patients[user.id] = Patient(id: user.id, tenantId: tenant, displayName: email, email: email, phone: nil, dateOfBirth: nil)
            }
            if role == .doctor {
                state.doctors[user.id] = Doctor(id: user.id, tenantId: tenant, displayName: email, settings: DoctorSettings(timeZone: "Europe/Berlin"))
            }
        }
        return user
    }

    struct Identity: IdentityStore {
        let world: InMemoryWorld
        func createTenant(_ tenant: Tenant) async throws -> Tenant {
            world.with { state in
                if state.tenants[tenant.id] == nil { state.tenants[tenant.id] = tenant }
                return state.tenants[tenant.id] ?? tenant
            }
        }
        func tenant(_ id: UUID) async throws -> Tenant? { world.with { $0.tenants[id] } }
        func user(_ id: UUID, tenant: UUID) async throws -> User? { try await credentials(user: id, tenant: tenant)?.user }
        func credentials(email: String, tenant: UUID) async throws -> Credentials? {
            world.with { $0.accounts.values.first { $0.credentials.user.email == email && $0.credentials.user.tenantId == tenant }?.credentials }
        }
        func credentials(user: UUID, tenant: UUID) async throws -> Credentials? {
            world.with { state in state.accounts[user].flatMap { $0.credentials.user.tenantId == tenant ? $0.credentials : nil } }
        }
        func createAccount(_ account: NewAccount, audit: AuditEntry) async throws -> User {
            try world.with { state in
                guard state.tenants[account.tenantId] != nil else { throw ClinicStoreError.unknownTenant }
                if state.accounts.values.contains(where: { $0.credentials.user.email == account.email && $0.credentials.user.tenantId == account.tenantId }) {
                    throw ClinicStoreError.emailTaken
                }
                state.accounts[account.id] = (Credentials(user: account.user, passwordHash: account.passwordHash, emailVerified: account.emailVerified), Date())
                if account.role == .patient {
                    state.patients[account.id] = Patient(
                        id: account.id, tenantId: account.tenantId, displayName: account.displayName, email: account.email, phone: nil, dateOfBirth: nil)
                }
                state.audit.append(audit)
                return account.user
            }
        }
        func setPassword(user: UUID, tenant: UUID, hash: String, audit: AuditEntry) async throws {
            world.with { state in
                state.accounts[user]?.credentials.passwordHash = hash
                state.audit.append(audit)
            }
        }
        func issueEmailToken(user: UUID, tenant: UUID, purpose: EmailTokenPurpose, lifetime: TimeInterval) async throws -> String {
            let token = OpaqueToken.generate()
            world.with { $0.emailTokens[OpaqueToken.hash(token)] = (user, purpose, Date().addingTimeInterval(lifetime), false) }
            return token
        }
        func redeemEmailToken(_ token: String, purpose: EmailTokenPurpose) async throws -> User? {
            world.with { state in
                let hash = OpaqueToken.hash(token)
                guard let entry = state.emailTokens[hash], entry.purpose == purpose, !entry.used, entry.expires > Date() else { return nil }
                state.emailTokens[hash]?.used = true
                state.accounts[entry.user]?.credentials.emailVerified = true
                return state.accounts[entry.user]?.credentials.user
            }
        }
        func audit(_ entry: AuditEntry) async throws { world.with { $0.audit.append(entry) } }
        func recentLoginFailures(tenant: UUID, account: String, address: String, window: TimeInterval) async throws -> (account: Int, address: Int) {
            world.with { state in
                let recent = state.loginFailures.filter { $0.tenant == tenant && $0.at > Date().addingTimeInterval(-window) }
                return (recent.filter { $0.subject == account }.count, recent.filter { $0.subject == address }.count)
            }
        }
        func recordLoginFailure(tenant: UUID, account: String, address: String, audit: AuditEntry) async throws {
            world.with { state in
                state.loginFailures += [(tenant, account, Date()), (tenant, address, Date())]
                state.audit.append(audit)
            }
        }
        func clearLoginFailures(tenant: UUID, account: String) async throws {
            world.with { $0.loginFailures.removeAll { $0.tenant == tenant && $0.subject == account } }
        }
    }

    struct Clinics: TenantAdministration {
        let world: InMemoryWorld
        func tenants() async throws -> [TenantSummary] {
            world.with { state in state.tenants.values.map { TenantSummary(tenant: $0, users: 0, doctors: 0) } }
        }
        func createClinic(name: String, timeZone: String, adminEmail: String, adminName: String, linkLifetime: TimeInterval, by actor: UUID?)
            async throws -> (tenant: Tenant, admin: InvitedAccount)
        {
            let tenant = Tenant(id: .random(), name: name, timeZone: timeZone)
            world.with { $0.tenants[tenant.id] = tenant }
            let user = try await Identity(world: world).createAccount(
                NewAccount(tenantId: tenant.id, email: adminEmail, passwordHash: "!unset", role: .admin, displayName: adminName, emailVerified: true),
                audit: AuditEntry("tenant_created", tenant: tenant.id, user: actor))
            let token = try await Identity(world: world).issueEmailToken(user: user.id, tenant: tenant.id, purpose: .setPassword, lifetime: linkLifetime)
            return (tenant, InvitedAccount(user: user, setPasswordToken: token, expiresAt: Date().addingTimeInterval(linkLifetime)))
        }
        func setDisabled(_ tenant: UUID, _ disabled: Bool, by actor: UUID?) async throws -> [UUID] {
            try world.with { state in
                guard state.tenants[tenant] != nil else { throw ClinicStoreError.unknownTenant }
                state.tenants[tenant]?.disabledAt = disabled ? Date() : nil
                guard disabled else { return [] }
                let ended = state.sessions.values.filter { $0.tenantId == tenant && $0.revokedAt == nil }.map(\.id)
                for id in ended { state.sessions[id]?.revokedAt = Date() }
                return ended
            }
        }
        func createPlatformOperator(email: String, name: String, linkLifetime: TimeInterval) async throws -> InvitedAccount {
            world.with { state in if state.tenants[Contracts.Tenants.platformTenant] == nil { state.tenants[Contracts.Tenants.platformTenant] = Tenant(id: Contracts.Tenants.platformTenant, name: "Platform") } }
            let user = try await Identity(world: world).createAccount(
                NewAccount(tenantId: Contracts.Tenants.platformTenant, email: email, passwordHash: "!unset", role: .platform, displayName: name, emailVerified: true),
                audit: AuditEntry("platform_operator_created", tenant: Contracts.Tenants.platformTenant, user: nil))
            let token = try await Identity(world: world).issueEmailToken(user: user.id, tenant: user.tenantId, purpose: .setPassword, lifetime: linkLifetime)
            return InvitedAccount(user: user, setPasswordToken: token, expiresAt: Date().addingTimeInterval(linkLifetime))
        }
    }

    struct Trail: AuditTrail {
        let world: InMemoryWorld
        func append(_ records: [AuditRecord]) async throws { world.with { $0.trail += records } }
        func records(tenant: UUID, _ query: AuditQuery) async throws -> (items: [AuditRecord], total: Int) {
            world.with { state in
                let all = state.trail.filter { record in
                    record.tenantId == tenant && (query.subject.map { [record.subjectId, record.patientId].contains($0) } ?? true)
                }
                return (Array(all.dropFirst(query.offset).prefix(query.limit)), all.count)
            }
        }
    }

    struct Sessions: SessionStore {
        let world: InMemoryWorld
        func start(user: User, device: String, address: String, refreshTokenHash: String, lifetime: TimeInterval, audit: AuditEntry) async throws -> UUID {
            let id = UUID()
            world.with { state in
                state.sessions[id] = SessionRecord(
                    id: id, userId: user.id, tenantId: user.tenantId, device: device, address: address, createdAt: Date(), lastUsedAt: Date(),
                    revokedAt: nil)
                state.refreshTokens[refreshTokenHash] = (id, user.id, false, Date().addingTimeInterval(lifetime))
                state.audit.append(audit)
            }
            return id
        }
        func rotate(refreshTokenHash: String, to newHash: String, lifetime: TimeInterval) async throws -> RefreshOutcome {
            world.with { state in
                guard let token = state.refreshTokens[refreshTokenHash], let session = state.sessions[token.session],
                    let user = state.accounts[token.user]?.credentials.user
                else { return .unknown }
                if session.revokedAt != nil { return .revoked }
                if token.spent {
                    state.sessions[token.session]?.revokedAt = Date()
                    return .reused(session: token.session)
                }
                if token.expires < Date() { return .expired }
                state.refreshTokens[refreshTokenHash]?.spent = true
                state.refreshTokens[newHash] = (token.session, token.user, false, Date().addingTimeInterval(lifetime))
                return .rotated(session: token.session, user: user)
            }
        }
        func session(ofRefreshTokenHash hash: String) async throws -> (session: UUID, user: UUID)? {
            world.with { state in state.refreshTokens[hash].map { ($0.session, $0.user) } }
        }
        func openSessions(of user: UUID, tenant: UUID) async throws -> [SessionRecord] {
            world.with { $0.sessions.values.filter { $0.userId == user && $0.tenantId == tenant && $0.revokedAt == nil }.sorted { $0.createdAt > $1.createdAt } }
        }
        func revoke(session: UUID, of user: UUID, tenant: UUID, reason: String) async throws -> Bool {
            world.with { state in
                guard let record = state.sessions[session], record.userId == user, record.tenantId == tenant, record.revokedAt == nil else { return false }
                state.sessions[session]?.revokedAt = Date()
                return true
            }
        }
        func revokeAll(of user: UUID, tenant: UUID, keeping: UUID?, reason: String) async throws -> [UUID] {
            world.with { state in
                let ending = state.sessions.values.filter { $0.userId == user && $0.tenantId == tenant && $0.revokedAt == nil && $0.id != keeping }.map(\.id)
                for id in ending { state.sessions[id]?.revokedAt = Date() }
                return ending
            }
        }
        func revoked(since: Date) async throws -> [(session: UUID, at: Date)] {
            world.with { $0.sessions.values.compactMap { record in record.revokedAt.flatMap { $0 >= since ? (record.id, $0) : nil } } }
        }
        func touch(_ lastUsed: [UUID: Date]) async throws {
            world.with { state in for (id, at) in lastUsed { state.sessions[id]?.lastUsedAt = at } }
        }
    }

    struct Directory: DirectoryStore {
        let world: InMemoryWorld
        func doctors(tenant: UUID) async throws -> [Doctor] { world.with { $0.doctors.values.filter { $0.tenantId == tenant }.sorted { $0.displayName < $1.displayName } } }
        func doctor(_ id: UUID, tenant: UUID) async throws -> Doctor? { world.with { $0.doctors[id].flatMap { $0.tenantId == tenant ? $0 : nil } } }
        func searchDoctors(tenant: UUID, _ search: DoctorSearch) async throws -> (items: [Doctor], total: Int) {
            let all = try await doctors(tenant: tenant).filter { doctor in
                (search.specialty.map { wanted in doctor.specialties.contains { $0.lowercased() == wanted.lowercased() } } ?? true)
                    && (search.text.map { text in "\(doctor.displayName) \(doctor.bio ?? "")".lowercased().contains(text.lowercased()) } ?? true)
                    && (search.language.map { doctor.languages.contains($0) } ?? true)
            }
            return (Array(all.dropFirst(search.offset).prefix(search.limit)), all.count)
        }
        func createDoctor(_ account: NewAccount, profile: Doctor, hours: [WeeklyInterval], audit: AuditEntry) async throws -> Doctor {
            _ = try await Identity(world: world).createAccount(account, audit: audit)
            let doctor = profile
            world.with { state in
                state.doctors[doctor.id] = doctor
                state.hours[doctor.id] = hours
            }
            return doctor
        }
        func updateDoctor(_ doctor: Doctor) async throws { world.with { $0.doctors[doctor.id] = doctor } }
        func weeklyHours(doctor: UUID, tenant: UUID) async throws -> [WeeklyInterval] { world.with { $0.hours[doctor] ?? [] } }
        func setWeeklyHours(_ hours: [WeeklyInterval], doctor: UUID, tenant: UUID) async throws { world.with { $0.hours[doctor] = hours } }
        func overrides(doctor: UUID, tenant: UUID, from: String, to: String) async throws -> [DateOverride] {
            world.with { ($0.overrides[doctor] ?? []).filter { $0.date >= from && $0.date <= to } }
        }
        func setOverride(_ override: DateOverride, doctor: UUID, tenant: UUID) async throws {
            world.with { state in state.overrides[doctor] = (state.overrides[doctor] ?? []).filter { $0.date != override.date } + [override] }
        }
        func removeOverride(date: String, doctor: UUID, tenant: UUID) async throws {
            world.with { state in state.overrides[doctor] = (state.overrides[doctor] ?? []).filter { $0.date != date } }
        }
        func patients(tenant: UUID, only ids: [UUID]?) async throws -> [Patient] {
            world.with { $0.patients.values.filter { $0.tenantId == tenant && (ids?.contains($0.id) ?? true) }.sorted { $0.displayName < $1.displayName } }
        }
        func patient(_ id: UUID, tenant: UUID) async throws -> Patient? { world.with { $0.patients[id].flatMap { $0.tenantId == tenant ? $0 : nil } } }
        func updatePatient(_ patient: Patient) async throws { world.with { $0.patients[patient.id] = patient } }
    }

    struct Idempotency: IdempotencyStore {
        let world: InMemoryWorld
        func claim(tenant: UUID, principal: String, key: String, requestHash: String) async throws -> IdempotencyClaim {
            world.with { state in
                let id = "\(tenant)/\(principal)/\(key)"
                guard let entry = state.idempotency[id] else {
                    state.idempotency[id] = (requestHash, nil, "")
                    return .claimed
                }
                guard entry.hash == requestHash else { return .mismatch }
                guard let status = entry.status else { return .inProgress }
                return .answered(status: status, body: entry.body)
            }
        }
        func complete(tenant: UUID, principal: String, key: String, status: Int, body: String) async throws {
            world.with { $0.idempotency["\(tenant)/\(principal)/\(key)"]?.status = status; $0.idempotency["\(tenant)/\(principal)/\(key)"]?.body = body }
        }
        func release(tenant: UUID, principal: String, key: String) async throws { world.with { _ = $0.idempotency.removeValue(forKey: "\(tenant)/\(principal)/\(key)") } }
    }

    struct Issued: IssuedCommandLog {
        let world: InMemoryWorld
        func record(_ command: IssuedCommand) { world.with { $0.issued[command.id] = command } }
        func find(_ id: UUID, tenant: UUID) async throws -> IssuedCommand? { world.with { $0.issued[id].flatMap { $0.tenantId == tenant ? $0 : nil } } }
        func flush() async throws {}
    }

    struct Appointments: AppointmentReads {
        let world: InMemoryWorld
        static func visible(_ appointment: AppointmentRecord, _ viewer: AppointmentViewer) -> Bool {
            switch viewer {
            case .admin: true
            case .doctor(let id): appointment.doctorId == id
            case .patient(let id): appointment.patientId == id
            }
        }
        func appointment(_ id: UUID, tenant: UUID, visibleTo viewer: AppointmentViewer) async throws -> AppointmentRecord? {
            world.with { $0.appointments[id].flatMap { $0.tenantId == tenant && Self.visible($0, viewer) ? $0 : nil } }
        }
        func appointments(tenant: UUID, visibleTo viewer: AppointmentViewer, query: AppointmentQuery) async throws -> (items: [AppointmentRecord], total: Int) {
            world.with { state in
                let all = state.appointments.values.filter { (appointment: AppointmentRecord) -> Bool in
                    guard appointment.tenantId == tenant, Self.visible(appointment, viewer) else { return false }
                    if let status = query.status, appointment.status != status { return false }
                    if let from = query.from, appointment.startsAt < from { return false }
                    if let to = query.to, appointment.startsAt >= to { return false }
                    return true
                }.sorted { $0.startsAt < $1.startsAt }
                return (Array(all.dropFirst(query.offset).prefix(query.limit)), all.count)
            }
        }
        func patients(ofDoctor doctor: UUID, tenant: UUID) async throws -> [UUID] {
            world.with { Array(Set($0.appointments.values.filter { $0.doctorId == doctor && $0.tenantId == tenant }.map(\.patientId))) }
        }
        func notes(onAppointment appointment: UUID, tenant: UUID) async throws -> [AppointmentNote] {
            world.with { state in
                guard state.appointments[appointment]?.tenantId == tenant else { return [] }
                return state.notes[appointment] ?? []
            }
        }
        func noteKind(_ note: UUID, onAppointment appointment: UUID, tenant: UUID) async throws -> NoteKind? {
            try await notes(onAppointment: appointment, tenant: tenant).first { $0.noteId == note }?.kind
        }
    }

    struct Outcomes: CommandOutcomes {
        let world: InMemoryWorld
        func outcome(of command: UUID, tenant: UUID) async throws -> CommandOutcome? { world.with { $0.outcomes[command].flatMap { $0.tenantId == tenant ? $0 : nil } } }
    }

    struct Inbox: NotificationInbox {
        let world: InMemoryWorld
        func mine(_ recipient: Recipient, unreadOnly: Bool = false) -> [InAppNotification] {
            world.with { $0.notifications.values.filter { $0.recipient == recipient && !$0.deleted && (!unreadOnly || $0.notification.readAt == nil) }.map(\.notification) }
                .sorted { $0.createdAt > $1.createdAt }
        }
        func notifications(of recipient: Recipient, unreadOnly: Bool, limit: Int, offset: Int) async throws -> (items: [InAppNotification], total: Int) {
            let all = mine(recipient, unreadOnly: unreadOnly)
            return (Array(all.dropFirst(offset).prefix(limit)), all.count)
        }
        func unreadCount(of recipient: Recipient) async throws -> Int { mine(recipient, unreadOnly: true).count }
        func markRead(_ id: UUID, of recipient: Recipient) async throws -> Bool {
            world.with { state in
                guard let entry = state.notifications[id], entry.recipient == recipient, !entry.deleted else { return false }
                state.notifications[id]?.notification.readAt = entry.notification.readAt ?? Date()
                return true
            }
        }
        func markAllRead(of recipient: Recipient) async throws -> Int {
            let unread = mine(recipient, unreadOnly: true)
            for notification in unread { _ = try await markRead(notification.id, of: recipient) }
            return unread.count
        }
        func delete(_ id: UUID, of recipient: Recipient) async throws -> Bool {
            world.with { state in
                guard let entry = state.notifications[id], entry.recipient == recipient, !entry.deleted else { return false }
                state.notifications[id]?.deleted = true
                return true
            }
        }
        func emailEnabled(for recipient: Recipient) async throws -> Bool { world.with { !$0.emailOff.contains(recipient.user) } }
        func setEmailEnabled(_ enabled: Bool, for recipient: Recipient) async throws {
            world.with { state in if enabled { state.emailOff.remove(recipient.user) } else { state.emailOff.insert(recipient.user) } }
        }
    }

    struct NoAnalytics: AnalyticsReports {
        func doctor(_ doctor: UUID, tenant: UUID, from: String, to: String) async throws -> DoctorReport? { nil }
        func summary(tenant: UUID, from: String, to: String) async throws -> SummaryReport {
            SummaryReport(from: from, to: to, doctors: [], totals: DayFigures())
        }
    }

    struct Webhooks: WebhookRegistry {
        let world: InMemoryWorld

        func create(tenant: UUID, url: String, eventTypes: [String], secret: String, by user: UUID) async throws -> WebhookEndpoint {
            try world.with { state in
                guard state.webhooks.values.filter({ $0.tenant == tenant }).count < WebhookRules.maximumEndpointsPerTenant else {
                    throw WebhookRegistryError.tooManyEndpoints
                }
                let endpoint = WebhookEndpoint(id: UUID(), url: url, eventTypes: eventTypes, status: "active", createdAt: Date())
                state.webhooks[endpoint.id] = (tenant, endpoint)
                return endpoint
            }
        }

        func endpoints(tenant: UUID) async throws -> [WebhookEndpoint] {
            world.with { $0.webhooks.values.filter { $0.tenant == tenant }.map(\.endpoint).sorted { $0.createdAt < $1.createdAt } }
        }

        func deliveries(endpoint: UUID, tenant: UUID, limit: Int) async throws -> [WebhookDeliveryRecord] {
            guard world.with({ $0.webhooks[endpoint]?.tenant == tenant }) else { throw WebhookRegistryError.unknownEndpoint }
            return []
        }

        func setEnabled(_ enabled: Bool, endpoint: UUID, tenant: UUID, reason: String) async throws {
            try world.with { state in
                guard state.webhooks[endpoint]?.tenant == tenant else { throw WebhookRegistryError.unknownEndpoint }
                state.webhooks[endpoint]?.endpoint.status = enabled ? "active" : "disabled"
            }
        }
    }

    /// Entries and settings; offers are made by the waitlist worker, which route tests do not run.
    struct Waitlists: WaitlistBook {
        let world: InMemoryWorld

        func join(
            tenant: UUID, patient: UUID, doctor: UUID, fromDay: String, toDay: String, earliest: String, latest: String
        ) async throws -> WaitlistEntry {
            try world.with { state in
                let active = state.waitlist.values.filter { $0.tenant == tenant && $0.patient == patient && $0.entry.status == "active" }
                guard active.count < WaitlistRules.maximumActiveEntries else { throw WaitlistError.tooManyEntries }
                let entry = WaitlistEntry(
                    id: UUID(), doctorId: doctor, fromDay: fromDay, toDay: toDay, earliest: earliest, latest: latest, status: "active",
                    createdAt: Date(), offers: [])
                state.waitlist[entry.id] = (tenant, patient, entry)
                return entry
            }
        }

        func entries(tenant: UUID, patient: UUID) async throws -> [WaitlistEntry] {
            world.with { $0.waitlist.values.filter { $0.tenant == tenant && $0.patient == patient }.map(\.entry) }
        }

        func leave(_ entry: UUID, tenant: UUID, patient: UUID) async throws -> Bool {
            world.with { state in
                guard let found = state.waitlist[entry], found.tenant == tenant, found.patient == patient, found.entry.status == "active"
                else { return false }
                state.waitlist[entry]?.entry.status = "left"
                return true
            }
        }

        func settings(tenant: UUID) async throws -> WaitlistSettings { world.with { $0.waitlistSettings[tenant] ?? WaitlistSettings() } }
        func setSettings(_ settings: WaitlistSettings, tenant: UUID) async throws { world.with { $0.waitlistSettings[tenant] = settings } }
        func claim(token: String?, offer: UUID?, patient: UUID?, tenant: UUID?) async throws -> ClaimedOffer? { nil }
        func release(_ offer: UUID) async throws {}
        func offer(token: String) async throws -> (offer: ClaimedOffer, doctorName: String, timeZone: String)? { nil }
    }

    struct NoSlots: SlotFinder {
        func freeSlots(doctor: UUID, from: String, to: String, at now: Date) async throws -> [FreeSlot] { [] }
    }


    struct Outbox: MessageOutbox {
        let world: InMemoryWorld
        func publish(command: Envelope<some MessagePayload>, doctor: UUID) async throws {
            let data = try command.encoded()
            try world.with { state in
                if state.brokerDown { throw OutboxUnavailable("the test broke the broker") }
                state.commands.append((doctor, data))
            }
        }
        func publish(accountEmail: Envelope<AccountEmailRequested>) async throws {
            try world.with { state in
                if state.brokerDown { throw OutboxUnavailable("the test broke the broker") }
                state.accountEmails.append(accountEmail.payload)
            }
        }
        func publish(audit: Envelope<HealthDataAccessed>) async throws {
            try world.with { state in
                if state.brokerDown { throw OutboxUnavailable("the test broke the broker") }
                state.audits.append(audit)
            }
        }
        func isReady() async -> Result<Void, any Error> { world.with { $0.brokerDown } ? .failure(OutboxUnavailable("down")) : .success(()) }
    }
}
