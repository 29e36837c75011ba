import Analytics
import Audit
import Contracts
import Foundation
import Hummingbird

/// The audit trail for a clinic's admins: who read which health data, when, from where, why.
/// JSON, or CSV with `?format=csv`.
struct AuditRoutes {
    let services: IngressServices

    struct Page: Encodable, Documented {
        var items: [AuditRecord]
        var limit: Int
        var offset: Int
        var total: Int
        static let schemaName = "AuditPage"
        static let schema = Schema.object(
            [
                ("items", .array(.ref(AuditRecord.self))), ("limit", .integer(minimum: 1, maximum: 1000)), ("offset", .integer(minimum: 0)),
                ("total", .integer(minimum: 0)),
            ], required: ["items", "limit", "offset", "total"])
    }

    enum Format: String, CaseIterable { case json, csv }

    func add(to routes: Routes) {
        routes.get(
            "audit",
            Doc(
                "Who read which health data, newest first (admins): by subject (an appointment, a note, or a patient and all about them), actor and time",
                tag: "audit",
                parameters: [
                    Doc.query("subject", .uuid), Doc.query("actor", .uuid), Doc.query("from", .dateTime), Doc.query("to", .dateTime),
                    Doc.query("limit", .integer(minimum: 1, maximum: 1000)), Doc.query("offset", .integer(minimum: 0, maximum: 1_000_000)),
                    Doc.query("format", .oneOf(Format.self)),
                ],
                answers: [Doc.ok(Page.self, "a page"), Doc.text(200, "the page as CSV", contentType: "text/csv")], errors: [403])
        ) { request, context in
            let caller = try context.requireRole(.admin)
            let query = QueryParameters(request)
            let audit = AuditQuery(
                subject: try query.uuid("subject"), actor: try query.uuid("actor"), from: try query.instant("from"), to: try query.instant("to"),
                limit: try query.int("limit", default: 100, in: 1...1000), offset: try query.int("offset", default: 0, in: 0...1_000_000))
            let page = try await services.audit.records(tenant: caller.tenantId, audit)
            switch try query.choice("format", Format.self) ?? .json {
            case .json:
                return try JSONBody.response(Page(items: page.items, limit: audit.limit, offset: audit.offset, total: page.total))
            case .csv:
                let rows = [["at", "actor_id", "actor_role", "action", "subject_kind", "subject_id", "patient_id", "reason", "address", "request_id"]]
                    + page.items.map { record in
                        [
                            WireCoding.formatTimestamp(record.at), record.actorId?.canonical ?? "", record.actorRole.rawValue, record.action,
                            record.subjectKind.rawValue, record.subjectId.canonical, record.patientId?.canonical ?? "", record.reason ?? "",
                            record.address, record.requestId,
                        ]
                    }
                return Response(
                    status: .ok, headers: [.contentType: "text/csv; charset=utf-8"],
                    body: ResponseBody(byteBuffer: ByteBuffer(string: AnalyticsReport.csv(rows))))
            }
        }
    }
}

extension AuditRecord: Documented {
    static var schemaName: String { "AuditRecord" }
    static var schema: Schema {
        .object(
            [
                ("eventId", .uuid), ("tenantId", .uuid), ("actorId", .uuid), ("actorRole", .oneOf(Role.self)), ("action", .string()),
                ("subjectKind", .oneOf(AuditSubjectKind.self)), ("subjectId", .uuid), ("patientId", .uuid), ("reason", .string()),
                ("address", .string()), ("requestId", .string()), ("at", .dateTime),
            ],
            required: ["eventId", "tenantId", "actorRole", "action", "subjectKind", "subjectId", "address", "requestId", "at"])
    }
}
