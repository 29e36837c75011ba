import ArgumentParser
import Clinic
import Contracts
import Foundation
import Postgres

struct Seed: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create a demo clinic: an admin, two doctors with working hours and a patient.",
        discussion: "Running it again changes nothing and prints the same accounts.")

    @OptionGroup var global: GlobalOptions
    @Option(help: "Password of every demo account.") var password = "demo-password-2026"

    /// The demo tenant's fixed id, so the walk-through in the README can name it.
    static let tenant = UUID(uuid: (0, 0, 0, 0, 0, 0, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0xde, 0x40))

    struct Account {
        var email: String
        var name: String
        var role: Role
        var doctor: (profile: (specialties: [String], languages: [String], bio: String, location: String), settings: DoctorSettings, hours: [WeeklyInterval])?
    }

    static func weekdays(_ days: ClosedRange<Int>, _ intervals: [(String, String)]) -> [WeeklyInterval] {
        days.flatMap { day in
            intervals.compactMap { start, end in
                guard let start = LocalTime(start), let end = LocalTime(end) else { return nil }
                return WeeklyInterval(weekday: day, start: start, end: end)
            }
        }
    }

    static let accounts = [
        Account(email: "admin@demo.carefleet.test", name: "Demo Admin", role: .admin, doctor: nil),
        // Dr. Lovelace sees patients every day, so the README's walk-through works on any day it is run.
        Account(
            email: "ada@demo.carefleet.test", name: "Dr. Ada Lovelace", role: .doctor,
            doctor: (
                (["General practice"], ["en", "de"], "Family doctor with a soft spot for analytical engines.", "Demo Clinic, Berlin"),
                DoctorSettings(timeZone: "Europe/Berlin", slotMinutes: 30, bufferAfterMinutes: 5, minimumNoticeMinutes: 60),
                weekdays(1...7, [("09:00", "12:00"), ("13:00", "17:00")])
            )),
        Account(
            email: "grace@demo.carefleet.test", name: "Dr. Grace Hopper", role: .doctor,
            doctor: (
                (["Cardiology"], ["en"], "Cardiologist; debugs hearts and compilers alike.", "Demo Clinic, New York"),
                DoctorSettings(timeZone: "America/New_York", slotMinutes: 20, minimumNoticeMinutes: 120, requiresConfirmation: true),
                weekdays(1...4, [("08:00", "14:00")])
            )),
        Account(email: "pat@demo.carefleet.test", name: "Pat Patient", role: .patient, doctor: nil),
    ]

    func run() async throws {
        let config = try global.load()
        let passwords = Passwords(cost: try config.int("auth.bcrypt.cost", default: 12))
        let hash = try await passwords.hash(password)
        let pool = PostgresPool(url: try config.require("database.url"), maximumConnections: 1, applicationName: "fleet-seed")
        defer { pool.close() }
        let identity = PostgresIdentityStore(pool: pool)
        let directory = PostgresDirectoryStore(pool: pool)
        _ = try await identity.createTenant(Tenant(id: Self.tenant, name: "Demo Clinic"))
        var created: [(Account, UUID, Bool)] = []
        for account in Self.accounts {
            if let existing = try await identity.credentials(email: account.email, tenant: Self.tenant) {
                created.append((account, existing.user.id, false))
                continue
            }
            let new = NewAccount(
                tenantId: Self.tenant, email: account.email, passwordHash: hash, role: account.role, displayName: account.name,
                emailVerified: true)
            let audit = AuditEntry("seeded", tenant: Self.tenant, user: nil, details: ["account": "\(new.id)"])
            if let doctor = account.doctor {
                let profile = Doctor(
                    id: new.id, tenantId: Self.tenant, displayName: account.name, specialties: doctor.profile.specialties,
                    languages: doctor.profile.languages, bio: doctor.profile.bio, location: doctor.profile.location, settings: doctor.settings)
                _ = try await directory.createDoctor(new, profile: profile, hours: doctor.hours, audit: audit)
            } else {
                _ = try await identity.createAccount(new, audit: audit)
            }
            created.append((account, new.id, true))
        }
        print("Demo Clinic — tenant \(Self.tenant.uuidString.lowercased()) (send it as X-Tenant-Id when logging in)")
        var rows = [["ROLE", "EMAIL", "ID", ""]]
        for (account, id, isNew) in created {
            rows.append([account.role.rawValue, account.email, id.uuidString.lowercased(), isNew ? "created" : "exists"])
        }
        print(Table.render(rows))
        print("Password of new accounts: \(password)")
    }
}
