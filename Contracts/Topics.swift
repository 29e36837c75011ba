/// A topic and how it is created. Partition counts bound how many copies of a consumer can
/// share the work: production may raise them through configuration, never lower them.
public struct TopicSpec: Sendable, Hashable, CustomStringConvertible {
    public var name: String
    public var partitions: Int
    /// Topic-level configs passed to CreateTopics (e.g. `retention.ms`).
    public var configs: [String: String]

    public init(name: String, partitions: Int, configs: [String: String] = [:]) {
        self.name = name
        self.partitions = partitions
        self.configs = configs
    }

    public var description: String { name }
}

/// The source topics of the fleet. Keys are doctor ids, so one doctor's calendar stays in order.
public enum Topics {
    public static let appointmentCommands = TopicSpec(name: "appointments.commands", partitions: 6)
    public static let appointmentEvents = TopicSpec(name: "appointments.events", partitions: 6)
    public static let notificationEmail = TopicSpec(name: "notifications.email", partitions: 6)
    /// Reads of health data, keyed by tenant id, for the audit trail.
    public static let auditEvents = TopicSpec(name: "audit.events", partitions: 6)
    /// In-app notifications as they are stored, keyed by recipient, for the ingress's event streams.
    public static let inAppNotifications = TopicSpec(name: "notifications.inapp", partitions: 6)
    /// One message per endpoint and event, keyed by endpoint id. More partitions than the others:
    /// an endpoint that is down holds up the endpoints that share its partition (retries stay in
    /// place to keep each endpoint's order), so fewer share one.
    public static let webhookDeliveries = TopicSpec(name: "webhooks.deliveries", partitions: 12)

    public static let sources = [
        appointmentCommands, appointmentEvents, notificationEmail, auditEvents, inAppNotifications, webhookDeliveries,
    ]

    /// Every topic the fleet uses: the sources, and each group's retry and dead-letter topics.
    public static var all: [TopicSpec] { FleetNamespace.none.allTopics }
}

/// Messages carried by each source topic.
public enum Catalogs {
    public static let appointmentCommands = MessageCatalog(AppointmentCommand.payloadTypes)
    public static let appointmentEvents = MessageCatalog(AppointmentEvent.payloadTypes)
    public static let notificationEmail = MessageCatalog(NotificationEmail.payloadTypes)
    public static let auditEvents = MessageCatalog(AuditEvent.payloadTypes)
    public static let inAppNotifications = MessageCatalog(InAppNotificationMessage.payloadTypes)
    public static let webhookDeliveries = MessageCatalog(WebhookDelivery.payloadTypes)

    public static func forTopic(_ name: String) -> MessageCatalog? {
        switch name {
        case Topics.appointmentCommands.name: appointmentCommands
        case Topics.appointmentEvents.name: appointmentEvents
        case Topics.notificationEmail.name: notificationEmail
        case Topics.auditEvents.name: auditEvents
        case Topics.inAppNotifications.name: inAppNotifications
        case Topics.webhookDeliveries.name: webhookDeliveries
        default: nil
        }
    }
}
