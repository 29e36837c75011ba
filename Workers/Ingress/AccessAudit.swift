import Contracts
import Foundation
import HTTPTypes
import Hummingbird

/// Every read of health data (an appointment, a patient's profile, a note) is recorded: who,
/// what, when, from where and why. The record goes to `audit.events` (the audit worker appends it
/// to the trail), acknowledged by the broker before the answer leaves: no synchronous insert on
/// the read, and no read whose record could be lost. If the broker does not take it, the read is
/// a 503 and shows nothing.
enum AccessAudit {
    static let reasonHeader = HTTPField.Name("X-Access-Reason")!  // a valid token, known at compile time

    /// Why the caller reads this, from `X-Access-Reason`; admins reading a patient's data must say.
    static func reason(_ request: Request, required: Bool) throws -> String? {
        guard let text = request.headers[reasonHeader] else {
            if required {
                throw APIError.malformed(
                    field: "X-Access-Reason", "an admin reading a patient's data must say why in the X-Access-Reason header")
            }
            return nil
        }
        let reason = try Check.line(text, field: "X-Access-Reason", max: 500)
        return reason.isEmpty ? nil : reason
    }

    static func record(
        _ subjects: [AuditSubject], action: String, reason: String?, caller: AuthenticatedUser, context: IngressContext,
        services: IngressServices
    ) async throws {
        guard !subjects.isEmpty else { return }
        // One event per 500 subjects (a page of a list is at most 200).
        for chunk in stride(from: 0, to: subjects.count, by: 500).map({ Array(subjects[$0..<min($0 + 500, subjects.count)]) }) {
            let access = HealthDataAccessed(
                action: action, subjects: chunk, address: String(context.remoteAddress.prefix(100)), reason: reason,
                requestId: context.requestId)
            try await services.outbox.publish(
                audit: Envelope(correlationId: context.requestId, tenantId: caller.tenantId, actor: caller.principal, payload: access))
        }
    }
}
