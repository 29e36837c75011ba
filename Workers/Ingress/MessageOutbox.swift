import Contracts
import Foundation
import Kafka

/// The broker did not take a message: the client gets a 503 and may try again.
public struct OutboxUnavailable: Error, CustomStringConvertible, Sendable {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { "the broker did not acknowledge the message: \(reason)" }
}

/// Where the ingress writes messages: commands to `appointments.commands` (keyed by doctor),
/// account emails to `notifications.email` (keyed by recipient). A write returns once the broker
/// acknowledged it: that acknowledgement is what a 202 promises.
public protocol MessageOutbox: Sendable {
    func publish(command: Envelope<some MessagePayload>, doctor: UUID) async throws
    func publish(accountEmail: Envelope<AccountEmailRequested>) async throws
    /// A read of health data, for the audit trail (keyed by tenant).
    func publish(audit: Envelope<HealthDataAccessed>) async throws
    /// Whether the broker knows the commands topic (for readiness).
    func isReady() async -> Result<Void, any Error>
}

public struct KafkaOutbox: MessageOutbox {
    let producer: KafkaProducer
    let admin: KafkaAdmin
    let commandsTopic: String
    let emailTopic: String
    let auditTopic: String

    public init(producer: KafkaProducer, admin: KafkaAdmin, namespace: FleetNamespace) {
        self.producer = producer
        self.admin = admin
        commandsTopic = namespace.topicName(Topics.appointmentCommands.name)
        emailTopic = namespace.topicName(Topics.notificationEmail.name)
        auditTopic = namespace.topicName(Topics.auditEvents.name)
    }

    public func publish(command: Envelope<some MessagePayload>, doctor: UUID) async throws {
        try await send(
            ProducerRecord(
                topic: commandsTopic, key: doctor.canonical, value: try command.encoded(),
                headers: [KafkaHeader(HeaderName.correlationId, command.correlationId)]))
    }

    public func publish(accountEmail: Envelope<AccountEmailRequested>) async throws {
        try await send(
            ProducerRecord(
                topic: emailTopic, key: accountEmail.payload.recipient.userId.canonical,
                value: try accountEmail.encoded(), headers: [KafkaHeader(HeaderName.correlationId, accountEmail.correlationId)]))
    }

    public func publish(audit: Envelope<HealthDataAccessed>) async throws {
        try await send(
            ProducerRecord(
                topic: auditTopic, key: audit.tenantId.canonical, value: try audit.encoded(),
                headers: [KafkaHeader(HeaderName.correlationId, audit.correlationId)]))
    }

    private func send(_ record: ProducerRecord) async throws {
        do {
            try await producer.send(record)
        } catch {
            throw OutboxUnavailable("\(error)")
        }
    }

    public func isReady() async -> Result<Void, any Error> {
        do {
            guard try await admin.partitionCount(of: commandsTopic, timeout: .seconds(3)) != nil else {
                return .failure(ConfigurationProblem("topic \(commandsTopic) is missing"))
            }
            return .success(())
        } catch {
            return .failure(error)
        }
    }

    public func close() async {
        await producer.close()
    }
}
