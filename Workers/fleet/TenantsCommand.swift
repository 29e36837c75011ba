import ArgumentParser
import Clinic
import Contracts
import FleetConfiguration
import Foundation
import Kafka
import Postgres

/// Clinics (tenants): create one with its first admin, list them, disable or enable one. The
/// platform API (`/v1/tenants`) does the same through the same library.
struct TenantsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tenants", abstract: "Create, list, disable and enable clinics.",
        subcommands: [Create.self, List.self, Disable.self, Enable.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A new clinic and its first admin, who sets a password through a one-time link.",
            discussion: """
                The link is printed here and emailed to the admin (through notifications.email and \
                the email worker) unless --no-email. It works once, for auth.email.link.ttl (24 h).
                """)

        @OptionGroup var global: GlobalOptions
        @Option(help: "The clinic's name.") var name: String
        @Option(help: "The first admin's email address.") var adminEmail: String
        @Option(help: "The first admin's name.") var adminName = "Clinic admin"
        @Option(help: "The clinic's IANA time zone.") var timeZone = "UTC"
        @Flag(help: "Print the link only; send no email.") var noEmail = false

        func run() async throws {
            let config = try global.load()
            guard TimeZone(identifier: timeZone) != nil else { throw failure("--time-zone: '\(timeZone)' is not an IANA time zone") }
            let email = adminEmail.trimmingCharacters(in: .whitespaces).lowercased()
            guard email.contains("@"), email.count <= 254, !email.contains(where: { $0.isWhitespace || $0.isNewline }) else {
                throw failure("--admin-email: '\(adminEmail)' is not an email address")
            }
            let pool = PostgresPool(url: try config.require("database.url"), maximumConnections: 1, applicationName: "fleet-tenants")
            defer { pool.close() }
            let lifetime = try config.duration("auth.email.link.ttl", default: .seconds(86400))
            let created = try await PostgresTenantAdministration(pool: pool).createClinic(
                name: name, timeZone: timeZone, adminEmail: email, adminName: adminName,
                linkLifetime: Double(lifetime.components.seconds), by: nil)
            let link = "\(config.string("ingress.public.url", default: "http://127.0.0.1:8080"))/set-password?token=\(created.admin.setPasswordToken)"
            if !noEmail {
                try await AccountMail.send(
                    config: config, tenant: created.tenant.id,
                    AccountEmailRequested(
                        idempotencyKey: "set-password:\(created.admin.user.id.canonical)", kind: .setPassword,
                        recipient: EmailRecipient(userId: created.admin.user.id, email: email, name: adminName, role: .admin),
                        clinicName: name, link: link, linkExpiresAt: created.admin.expiresAt))
            }
            print("Clinic '\(name)' — tenant \(created.tenant.id.canonical) (\(timeZone))")
            print("First admin \(email) — user \(created.admin.user.id.canonical)")
            print("Set-password link (once, until \(WireCoding.formatTimestamp(created.admin.expiresAt))\(noEmail ? "" : "; emailed too")):")
            print(link)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every clinic: users, doctors, whether disabled.")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let config = try global.load()
            let pool = PostgresPool(url: try config.require("database.url"), maximumConnections: 1, applicationName: "fleet-tenants")
            defer { pool.close() }
            var rows = [["TENANT", "NAME", "TIME ZONE", "USERS", "DOCTORS", "DISABLED"]]
            for summary in try await PostgresTenantAdministration(pool: pool).tenants() {
                rows.append([
                    summary.tenant.id.canonical, summary.tenant.name, summary.tenant.timeZone, String(summary.users), String(summary.doctors),
                    summary.tenant.disabledAt.map(WireCoding.formatTimestamp) ?? "-",
                ])
            }
            print(Table.render(rows))
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Disable a clinic: its users are signed out and cannot sign in, its commands are declined (tenant_disabled); its data stays.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The tenant id.") var tenant: String

        func run() async throws {
            let ended = try await TenantsCommand.setDisabled(tenant, true, global: global)
            print("disabled \(tenant); \(ended) open sessions ended")
        }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Enable a disabled clinic again.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The tenant id.") var tenant: String

        func run() async throws {
            _ = try await TenantsCommand.setDisabled(tenant, false, global: global)
            print("enabled \(tenant)")
        }
    }

    static func setDisabled(_ tenant: String, _ disabled: Bool, global: GlobalOptions) async throws -> Int {
        guard let id = UUID(uuidString: tenant) else { throw failure("'\(tenant)' is not a tenant id (a UUID)") }
        let config = try global.load()
        let pool = PostgresPool(url: try config.require("database.url"), maximumConnections: 1, applicationName: "fleet-tenants")
        defer { pool.close() }
        do {
            return try await PostgresTenantAdministration(pool: pool).setDisabled(id, disabled, by: nil).count
        } catch ClinicStoreError.unknownTenant {
            throw failure("no clinic \(tenant)")
        }
    }
}

/// Platform operators: the accounts that may use the platform API (`/v1/tenants`).
struct PlatformOperatorsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "platform-operators", abstract: "Create platform operators (who manage clinics through /v1/tenants).",
        subcommands: [Create.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A platform operator, who sets a password through a one-time link.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "Their email address.") var email: String
        @Option(help: "Their name.") var name = "Platform operator"

        func run() async throws {
            let config = try global.load()
            let pool = PostgresPool(url: try config.require("database.url"), maximumConnections: 1, applicationName: "fleet-platform")
            defer { pool.close() }
            let lifetime = try config.duration("auth.email.link.ttl", default: .seconds(86400))
            let invited = try await PostgresTenantAdministration(pool: pool).createPlatformOperator(
                email: email.lowercased(), name: name, linkLifetime: Double(lifetime.components.seconds))
            print("Platform operator \(email) — user \(invited.user.id.canonical), tenant \(Tenants.platformTenant.canonical)")
            print("Set-password link (once, until \(WireCoding.formatTimestamp(invited.expiresAt))):")
            print("\(config.string("ingress.public.url", default: "http://127.0.0.1:8080"))/set-password?token=\(invited.setPasswordToken)")
        }
    }
}

/// Account emails from the operator's command line: written to notifications.email like the
/// ingress writes them, for the email worker to send.
enum AccountMail {
    static func send(config: FleetConfig, tenant: UUID, _ request: AccountEmailRequested) async throws {
        let producer = try KafkaProducer(config: KafkaConfig(properties: config.subtree("kafka")))
        let envelope = Envelope(correlationId: "fleet-\(UUID.random().canonical)", tenantId: tenant, actor: .system, payload: request)
        try await producer.send(
            ProducerRecord(
                topic: try config.namespace().topicName(Contracts.Topics.notificationEmail.name), key: request.recipient.userId.canonical,
                value: try envelope.encoded()))
        await producer.close()
    }
}
