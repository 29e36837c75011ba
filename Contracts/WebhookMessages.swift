import Foundation

// Webhooks: one delivery of one appointment event to one registered endpoint, on
// `webhooks.deliveries`, keyed by endpoint id (one endpoint's deliveries stay in one partition, in
// the order the events happened).

/// Deliver `body` to an endpoint, signed per the Standard Webhooks scheme.
public struct WebhookDeliveryRequested: MessagePayload {
    public static let messageType = "webhook.delivery_requested"
    public static let version = 1
    /// The registered endpoint (`webhooks.endpoints`); its URL and secret are read at delivery time,
    /// so a disabled endpoint gets nothing more.
    public var endpointId: UUID
    /// The `webhook-id` header: the event's id, the same on every retry and redelivery, so a
    /// receiver can drop a second copy.
    public var webhookId: String
    /// The event type, e.g. `appointment.booked` (also the `type` member of the body).
    public var eventType: String
    public var appointmentId: UUID?
    /// The JSON body exactly as it is sent and signed.
    public var body: String

    /// The largest body a delivery carries.
    public static let maximumBodyBytes = 256 * 1024

    public init(endpointId: UUID, webhookId: String, eventType: String, appointmentId: UUID?, body: String) {
        self.endpointId = endpointId
        self.webhookId = webhookId
        self.eventType = eventType
        self.appointmentId = appointmentId
        self.body = body
    }

    public func validate() throws(ContractError) {
        guard !webhookId.isEmpty, webhookId.utf8.count <= 100,
            webhookId.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") })
        else {
            throw .invalid(field: "payload.webhookId", reason: "must be 1 to 100 letters, digits, '-' or '_'")
        }
        guard !eventType.isEmpty, eventType.utf8.count <= 100 else {
            throw .invalid(field: "payload.eventType", reason: "must be 1 to 100 characters")
        }
        guard !body.isEmpty, body.utf8.count <= Self.maximumBodyBytes else {
            throw .invalid(field: "payload.body", reason: "must be 1 to \(Self.maximumBodyBytes) bytes")
        }
    }
}

/// `webhooks.deliveries`
public enum WebhookDelivery: TopicMessage, Equatable {
    case requested(WebhookDeliveryRequested)

    public static let payloadTypes: [any MessagePayload.Type] = [WebhookDeliveryRequested.self]

    public init(payload: any MessagePayload) throws(ContractError) {
        switch payload {
        case let request as WebhookDeliveryRequested: self = .requested(request)
        default: throw .unknownType(type(of: payload).messageType)
        }
    }

    public var payload: any MessagePayload {
        switch self {
        case .requested(let request): request
        }
    }
}
