import Foundation

// Messages on `audit.events`, keyed by tenant id: who looked at which health data, when, from
// where and why. The audit worker appends them to the trail; nothing ever changes or removes one.

/// What was looked at.
public enum AuditSubjectKind: String, Codable, Sendable, CaseIterable {
    case appointment, patient, note
}

public struct AuditSubject: Codable, Sendable, Hashable {
    public var kind: AuditSubjectKind
    public var id: UUID
    /// The patient whose health data it is (who an access is "about").
    public var patientId: UUID?

    public init(kind: AuditSubjectKind, id: UUID, patientId: UUID?) {
        self.kind = kind
        self.id = id
        self.patientId = patientId
    }
}

/// One read of health data. The envelope's `actor` is who read, `occurredAt` when.
public struct HealthDataAccessed: MessagePayload {
    public static let messageType = "audit.health_data_accessed"
    public static let version = 1
    /// What the reader did, e.g. `GET /v1/appointments/{id}`.
    public var action: String
    public var subjects: [AuditSubject]
    /// The reader's address (the socket peer).
    public var address: String
    /// Why, as the reader stated it (required of admins reading notes and profiles).
    public var reason: String?
    /// The request's id, to find it in the ingress's access log.
    public var requestId: String

    public init(action: String, subjects: [AuditSubject], address: String, reason: String?, requestId: String) {
        self.action = action
        self.subjects = subjects
        self.address = address
        self.reason = reason
        self.requestId = requestId
    }

    public func validate() throws(ContractError) {
        guard !action.isEmpty, action.count <= 200 else { throw .invalid(field: "payload.action", reason: "must be 1 to 200 characters") }
        guard subjects.count <= 500 else { throw .invalid(field: "payload.subjects", reason: "at most 500 subjects per access") }
        if let reason, reason.count > 500 { throw .invalid(field: "payload.reason", reason: "at most 500 characters") }
    }
}

/// `audit.events`
public enum AuditEvent: TopicMessage, Equatable {
    case healthDataAccessed(HealthDataAccessed)

    public static let payloadTypes: [any MessagePayload.Type] = [HealthDataAccessed.self]

    public init(payload: any MessagePayload) throws(ContractError) {
        switch payload {
        case let access as HealthDataAccessed: self = .healthDataAccessed(access)
        default: throw .unknownType(type(of: payload).messageType)
        }
    }

    public var payload: any MessagePayload {
        switch self {
        case .healthDataAccessed(let access): access
        }
    }
}
