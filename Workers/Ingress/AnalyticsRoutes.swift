import Analytics
import Contracts
import Foundation
import Hummingbird

/// Calendar analytics: a doctor's days (the doctor themself or an admin) and the clinic's
/// summary (admins). JSON, or CSV with `?format=csv`.
struct AnalyticsRoutes {
    let services: IngressServices

    func add(to router: RouterGroup<IngressContext>) {
        router.get("analytics/doctors/:id") { request, context in
            let caller = try context.requireRole(.doctor, .admin)
            let doctor = try Path.id(context)
            guard caller.role == .admin || caller.id == doctor else { throw APIError.forbidden("a doctor sees only their own analytics") }
            let (from, to) = try DirectoryRoutes.dateRange(request, maxDays: 366)
            let report = try await services.database.withConnection {
                try await AnalyticsReport.doctor(doctor, tenant: caller.tenantId, from: from, to: to, on: $0)
            }
            guard let report else { throw APIError.notFound("doctor") }
            return try respond(request, json: report, csv: AnalyticsReport.csv(report))
        }
        router.get("analytics/summary") { request, context in
            let caller = try context.requireRole(.admin)
            let (from, to) = try DirectoryRoutes.dateRange(request, maxDays: 366)
            let report = try await services.database.withConnection {
                try await AnalyticsReport.summary(tenant: caller.tenantId, from: from, to: to, on: $0)
            }
            return try respond(request, json: report, csv: AnalyticsReport.csv(report))
        }
    }

    func respond(_ request: Request, json: some Encodable, csv: @autoclosure () -> String) throws -> Response {
        switch request.uri.queryParameters.get("format") ?? "json" {
        case "json":
            return JSONBody.response(json)
        case "csv":
            return Response(
                status: .ok, headers: [.contentType: "text/csv; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: csv())))
        default:
            throw APIError.malformed(field: "format", "format must be json or csv")
        }
    }
}
