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
        var doctor: (specialty: String, settings: DoctorSettings, hours: [WeeklyInterval])?
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
        Account(
            email: "ada@demo.carefleet.test", name: "Dr. Ada Lovelace", role: .doctor,
            doctor: (
                "General practice", DoctorSettings(timeZone: "Europe/Berlin", slotMinutes: 30, bufferAfterMinutes: 5, minimumNoticeMinutes: 60),
                weekdays(1...5, [("09:00", "12:00"), ("13:00", "17:00")])
            )),
        Account(
            email: "grace@demo.carefleet.test", name: "Dr. Grace Hopper", role: .doctor,
            doctor: (
                "Cardiology",
                DoctorSettings(timeZone: "America/New_York", slotMinutes: 20, minimumNoticeMinutes: 120, requiresConfirmation: true),
                weekdays(1...4, [("08:00", "14:00")])
            )),
        Account(email: "pat@demo.carefleet.test", name: "Pat Patient", role: .patient, doctor: nil),
    ]

    func run() async throws {
        let config = try global.load()
        let passwords = Passwords(cost: try config.int("auth.bcrypt.cost", default: 12))
        let hash = await passwords.hash(password)
        let pool = PostgresPool(url: try config.require("database.url"), maximumConnections: 1, applicationName: "fleet-seed")
        defer { pool.close() }
        let created = try await pool.transaction { connection -> [(Account, UUID, Bool)] in
            _ = try await ClinicStore.createTenant(name: "Demo Clinic", id: Self.tenant, on: connection)
            var result: [(Account, UUID, Bool)] = []
            for account in Self.accounts {
                let existing = try await connection.query(
                    "SELECT id FROM identity.users WHERE tenant_id = $1 AND email = $2", [Self.tenant, account.email])
                if let id = try existing.first?.decode(UUID.self, 0) {
                    result.append((account, id, false))
                    continue
                }
                let user = try await ClinicStore.createUser(
                    tenantId: Self.tenant, email: account.email, passwordHash: hash, role: account.role,
                    displayName: account.name, on: connection)
                if let doctor = account.doctor {
                    try await ClinicStore.createDoctor(user, specialty: doctor.specialty, settings: doctor.settings, on: connection)
                    try await ClinicStore.setWeeklyHours(doctor.hours, doctor: user.id, tenant: Self.tenant, on: connection)
                } else if account.role == .patient {
                    try await ClinicStore.createPatient(user, on: connection)
                }
                result.append((account, user.id, true))
            }
            return result
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
