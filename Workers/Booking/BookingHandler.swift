import Contracts
import Foundation
import Kafka
import Logging
import Postgres
import Runtime

/// Decides appointment commands a batch at a time: one transaction per batch locks the doctors
/// involved, applies the booking rules (`booking.decide`, in SQL), records each command with its
/// event, commits, and then publishes the events (keyed by doctor id) and waits for the broker.
/// A redelivered command finds its recorded event and publishes it again, changing nothing.
public struct BookingHandler: BatchMessageHandler {
    public let pool: PostgresPool
    public let producer: KafkaProducer
    /// `appointments.events` (in the fleet's namespace).
    public let eventsTopic: String
    public let maxBatchSize: Int
    let logger: Logger

    public init(pool: PostgresPool, producer: KafkaProducer, eventsTopic: String, maxBatchSize: Int = 500, logger: Logger) {
        self.pool = pool
        self.producer = producer
        self.eventsTopic = eventsTopic
        self.maxBatchSize = max(1, maxBatchSize)
        self.logger = logger
    }

    public func handle(batch: [IncomingMessage]) async -> [Result<Void, any Error>] {
        do {
            let events = try await decide(batch)
            try await publish(events)
            return batch.map { _ in .success(()) }
        } catch {
            // The whole batch is retried (the runtime then tries each message on its own);
            // nothing of it was committed or, if it was, it is recorded and republished.
            return batch.map { _ in .failure(error) }
        }
    }

    struct OutgoingEvent {
        var key: String
        var json: Data
        var correlationId: String
    }

    /// One transaction: decide, record, commit. Returns the events to publish, in command order.
    func decide(_ batch: [IncomingMessage]) async throws -> [OutgoingEvent] {
        var inputs: [DecisionInput] = []
        for message in batch {
            guard let input = DecisionInput(message.decoded) else {
                throw HandlerError.permanent("\(message.metadata.type) is not an appointment command", class: .validation)
            }
            inputs.append(input)
        }
        let encoder = WireCoding.encoder()
        let commands = String(decoding: try encoder.encode(inputs), as: UTF8.self)
        let decoder = WireCoding.decoder()
        return try await pool.transaction { connection in
            let rows = try await connection.query("SELECT booking.decide($1::jsonb)", [commands])
            guard rows.count == batch.count else {
                throw HandlerError.transient("booking.decide answered \(rows.count) rows for \(batch.count) commands")
            }
            var events: [OutgoingEvent] = []
            var byCommand: [UUID: OutgoingEvent] = [:]
            var recordIds: [UUID] = []
            var recordTenants: [UUID] = []
            var recordEventIds: [UUID] = []
            var recordTypes: [String] = []
            var recordEvents: [String] = []
            for (index, message) in batch.enumerated() {
                let decision = try decoder.decode(DecisionOutput.self, from: Data(try rows[index].decode(String.self, 0).utf8))
                let input = inputs[index]
                let key = input.doctorId.uuidString.lowercased()
                let event: OutgoingEvent
                switch decision.outcome {
                case .recorded:
                    guard let recorded = decision.recordedEvent else { throw HandlerError.transient("recorded event missing") }
                    event = OutgoingEvent(key: key, json: Data(recorded.utf8), correlationId: message.metadata.correlationId)
                case .repeated:
                    guard let first = byCommand[decision.commandId] else { throw HandlerError.transient("repeat before first") }
                    event = first
                default:
                    let eventId = UUID()
                    guard let (type, json) = try DecisionEvent.make(decision, for: message.decoded, input: input, eventId: eventId)
                    else {
                        throw HandlerError.permanent("decision \(decision.outcome) lacks its appointment", class: .validation)
                    }
                    event = OutgoingEvent(key: key, json: json, correlationId: message.metadata.correlationId)
                    recordIds.append(decision.commandId)
                    recordTenants.append(message.metadata.tenantId)
                    recordEventIds.append(eventId)
                    recordTypes.append(type)
                    recordEvents.append(String(decoding: json, as: UTF8.self))
                }
                byCommand[decision.commandId] = event
                events.append(event)
            }
            if !recordIds.isEmpty {
                try await connection.query(
                    """
                    INSERT INTO booking.processed_commands (command_id, tenant_id, event_id, event_type, event)
                    SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[])
                    """, [recordIds, recordTenants, recordEventIds, recordTypes, recordEvents])
            }
            return events
        }
    }

    /// Publishes all events concurrently and waits for every acknowledgement.
    func publish(_ events: [OutgoingEvent]) async throws {
        let producer = self.producer
        let topic = eventsTopic
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for event in events {
                tasks.addTask {
                    try await producer.send(
                        ProducerRecord(
                            topic: topic, key: event.key, value: event.json,
                            headers: [KafkaHeader(HeaderName.correlationId, event.correlationId)]))
                }
            }
            try await tasks.waitForAll()
        }
    }
}
