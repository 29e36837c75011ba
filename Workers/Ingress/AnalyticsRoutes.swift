import Analytics
import Contracts
import Foundation
import Hummingbird

/// Calendar analytics: a doctor's days (the doctor themself or an admin) and the clinic's
/// summary (admins). JSON, or CSV with `?format=csv`.
struct AnalyticsRoutes {
    let services: IngressServices

    enum Format: String, CaseIterable { case json, csv }

    func add(to routes: Routes) {
        let parameters = [
            Doc.query("from", .date, required: true), Doc.query("to", .date, required: true), Doc.query("format", .oneOf(Format.self)),
        ]
        routes.get(
            "analytics/doctors/:id",
            Doc(
                "A doctor's days: demand, outcomes, utilisation, lead time (the doctor or an admin)", tag: "analytics",
                parameters: [Doc.path("id")] + parameters,
                answers: [Doc.ok(DoctorReport.self, "the report"), Doc.text(200, "the report as CSV", contentType: "text/csv")],
                errors: [403, 404])
        ) { request, context in
            let caller = try context.requireRole(.doctor, .admin)
            let doctor = try Path.id(context)
            guard caller.role == .admin || caller.id == doctor else { throw APIError.forbidden("a doctor sees only their own analytics") }
            let (from, to) = try QueryParameters(request).dateRange(maxDays: 366)
            let format = try QueryParameters(request).choice("format", Format.self) ?? .json
            guard let report = try await services.analytics.doctor(doctor, tenant: caller.tenantId, from: from, to: to) else {
                throw APIError.notFound("doctor")
            }
            return try respond(format, json: report, csv: AnalyticsReport.csv(report))
        }
        routes.get(
            "analytics/summary",
            Doc(
                "Every doctor's totals and the clinic's (admin)", tag: "analytics", parameters: parameters,
                answers: [Doc.ok(SummaryReport.self, "the summary"), Doc.text(200, "the summary as CSV", contentType: "text/csv")],
                errors: [403])
        ) { request, context in
            let caller = try context.requireRole(.admin)
            let (from, to) = try QueryParameters(request).dateRange(maxDays: 366)
            let format = try QueryParameters(request).choice("format", Format.self) ?? .json
            let report = try await services.analytics.summary(tenant: caller.tenantId, from: from, to: to)
            return try respond(format, json: report, csv: AnalyticsReport.csv(report))
        }
    }

    func respond(_ format: Format, json: some Encodable, csv: @autoclosure () -> String) throws -> Response {
        switch format {
        case .json: try JSONBody.response(json)
        case .csv:
            Response(
                status: .ok, headers: [.contentType: "text/csv; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: csv())))
        }
    }
}

extension DayFigures: Documented {
    static var schema: Schema {
        let count = Schema.integer(minimum: 0)
        return .object(
            [
                ("requested", count), ("booked", count), ("declined", .object([], additional: count)), ("confirmed", count),
                ("rejected", count), ("cancelled", .object([("patient", count), ("doctor", count), ("clinic", count)], required: ["patient", "doctor", "clinic"])),
                ("completed", count), ("noShows", count), ("bookedMinutes", count), ("availableMinutes", count), ("utilisation", .number),
                ("leadTime", .object([("count", count), ("mean", .number), ("p50", .number), ("p90", .number)], required: ["count"])),
            ],
            required: [
                "requested", "booked", "declined", "confirmed", "rejected", "cancelled", "completed", "noShows", "bookedMinutes",
                "availableMinutes", "leadTime",
            ])
    }
}

extension DoctorReport: Documented {
    static var schema: Schema {
        .object(
            [
                ("doctorId", .uuid), ("doctorName", .string()), ("from", .date), ("to", .date),
                (
                    "days",
                    .array(
                        .object(
                            [("doctorId", .uuid), ("doctorName", .string()), ("day", .date), ("figures", .ref(DayFigures.self))],
                            required: ["doctorId", "doctorName", "day", "figures"]))
                ), ("totals", .ref(DayFigures.self)),
            ], required: ["doctorId", "doctorName", "from", "to", "days", "totals"])
    }
}

extension SummaryReport: Documented {
    static var schema: Schema {
        .object(
            [
                ("from", .date), ("to", .date),
                (
                    "doctors",
                    .array(
                        .object(
                            [("doctorId", .uuid), ("doctorName", .string()), ("totals", .ref(DayFigures.self))],
                            required: ["doctorId", "doctorName", "totals"]))
                ), ("totals", .ref(DayFigures.self)),
            ], required: ["from", "to", "doctors", "totals"])
    }
}
