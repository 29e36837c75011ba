import Clinic
import Contracts
import Foundation
import Hummingbird

/// The platform API: creating, listing, disabling and enabling clinics. Only platform operators
/// (an account of the platform's own tenant, made by `fleet platform-operators create`) may;
/// `fleet tenants …` does the same through the same library (`TenantAdministration`).
struct TenantRoutes {
    let services: IngressServices

    struct NewClinic: Decodable, Documented {
        var name: String
        var adminEmail: String
        var adminName: String?
        var timeZone: String?
        static let schemaName = "NewTenant"
        static let schema = Schema.object(
            [
                ("name", .text(200, minLength: 1)), ("adminEmail", .email), ("adminName", .text(200, minLength: 1)),
                ("timeZone", .string(maxLength: 64)),
            ], required: ["name", "adminEmail"])
    }

    struct CreatedClinic: Encodable, Documented {
        var tenant: Tenant
        var admin: User
        /// Emailed to the admin too; shown once.
        var setPasswordLink: String
        var linkExpiresAt: Date
        static let schemaName = "CreatedTenant"
        static let schema = Schema.object(
            [("tenant", .ref(Tenant.self)), ("admin", .ref(User.self)), ("setPasswordLink", .string()), ("linkExpiresAt", .dateTime)],
            required: ["tenant", "admin", "setPasswordLink", "linkExpiresAt"])
    }

    struct ClinicList: Encodable, Documented {
        var items: [TenantSummary]
        static let schemaName = "TenantList"
        static let schema = Schema.object(
            [
                (
                    "items",
                    .array(
                        .object(
                            [("tenant", .ref(Tenant.self)), ("users", .integer(minimum: 0)), ("doctors", .integer(minimum: 0))],
                            required: ["tenant", "users", "doctors"]))
                )
            ], required: ["items"])
    }

    func add(to routes: Routes) {
        routes.post(
            "tenants",
            Doc(
                "Create a clinic and its first admin, who gets a set-password link (platform operators)", tag: "platform",
                body: NewClinic.self, answers: [Doc.created(CreatedClinic.self)], errors: [403, 409])
        ) { request, context in try await create(request, context) }
        routes.get(
            "tenants", Doc("Every clinic (platform operators)", tag: "platform", answers: [Doc.ok(ClinicList.self, "the clinics")], errors: [403])
        ) { _, context in
            _ = try context.requireRole(.platform)
            return try JSONBody.response(ClinicList(items: try await services.tenants.tenants()))
        }
        for (action, disabled) in [("disable", true), ("enable", false)] {
            routes.post(
                "tenants/:id/\(action)",
                Doc(
                    disabled
                        ? "Disable a clinic: its users are signed out and refused, its commands declined; its data stays (platform operators)"
                        : "Enable a disabled clinic again (platform operators)",
                    tag: "platform", parameters: [Doc.path("id")], answers: [Doc.noContent], errors: [403, 404])
            ) { _, context in
                let caller = try context.requireRole(.platform)
                do {
                    let ended = try await services.tenants.setDisabled(try Path.id(context), disabled, by: caller.id)
                    services.revoked.revoke(ended)
                } catch ClinicStoreError.unknownTenant {
                    throw APIError.notFound("tenant")
                }
                return JSONBody.noContent()
            }
        }
    }

    func create(_ request: Request, _ context: IngressContext) async throws -> Response {
        let caller = try context.requireRole(.platform)
        let body = try await JSONBody.decode(NewClinic.self, from: request, context: context)
        let name = try Check.line(body.name, field: "name")
        let email = try Check.email(body.adminEmail, field: "adminEmail")
        let adminName = try Check.optionalLine(body.adminName, field: "adminName") ?? "Clinic admin"
        let timeZone = try Check.line(body.timeZone ?? "UTC", field: "timeZone", max: 64)
        if let problem = DoctorSettings(timeZone: timeZone).problem(), problem.field == "timeZone" {
            throw APIError.invalid(field: "timeZone", problem.reason)
        }
        let created: (tenant: Tenant, admin: InvitedAccount)
        do {
            created = try await services.tenants.createClinic(
                name: name, timeZone: timeZone, adminEmail: email, adminName: adminName, linkLifetime: services.settings.emailLinkLifetime,
                by: caller.id)
        } catch ClinicStoreError.emailTaken {
            throw APIError.conflict("email_taken", "that address has an account in this clinic already")
        }
        let link = "\(services.settings.publicURL)/set-password?token=\(created.admin.setPasswordToken)"
        try await services.outbox.publish(
            accountEmail: Envelope(
                correlationId: context.requestId, tenantId: created.tenant.id, actor: .system,
                payload: AccountEmailRequested(
                    idempotencyKey: "set-password:\(created.admin.user.id.canonical)", kind: .setPassword,
                    recipient: EmailRecipient(userId: created.admin.user.id, email: email, name: adminName, role: .admin),
                    clinicName: name, link: link, linkExpiresAt: created.admin.expiresAt)))
        return try JSONBody.response(
            status: .created,
            CreatedClinic(tenant: created.tenant, admin: created.admin.user, setPasswordLink: link, linkExpiresAt: created.admin.expiresAt))
    }
}

extension Tenant: Documented {
    static var schema: Schema {
        .object(
            [("id", .uuid), ("name", .string(maxLength: 200)), ("timeZone", .string(maxLength: 64)), ("disabledAt", .dateTime), ("createdAt", .dateTime)],
            required: ["id", "name", "timeZone"])
    }
}
