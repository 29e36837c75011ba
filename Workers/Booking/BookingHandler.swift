import Contracts
import Foundation
import Kafka
import Logging
import Postgres
import Runtime

/// Decides appointment commands a batch at a time: one transaction per batch decides every
/// command of it under the doctors' row locks (`booking.decide_batch`, in SQL: one statement for
/// the whole batch), records each command with its event (one more), commits, and then publishes
/// all the events (keyed by doctor id) and waits for the broker's acknowledgements together.
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
        var results = [Result<Void, any Error>](repeating: .success(()), count: batch.count)
        var commands: [Command] = []
        commands.reserveCapacity(batch.count)
        for (index, message) in batch.enumerated() {
            guard let input = DecisionInput(message.decoded) else {
                results[index] = .failure(
                    HandlerError.permanent("\(message.metadata.type) is not an appointment command", class: .validation))
                continue
            }
            if let field = input.textFieldWithNul {
                results[index] = .failure(HandlerError.permanent("\(field) holds a NUL character", class: .validation))
                continue
            }
            commands.append(Command(index: index, message: message, input: input))
        }
        guard !commands.isEmpty else { return results }
        do {
            let events = try await decide(commands)
            try await publish(events)
        } catch {
            // The commands are retried (the runtime then tries each message on its own); nothing
            // of them was committed or, if it was, it is recorded and republished.
            for command in commands { results[command.index] = .failure(error) }
        }
        return results
    }

    struct Command {
        /// Position in the batch the runtime handed over.
        var index: Int
        var message: IncomingMessage
        var input: DecisionInput
    }

    struct OutgoingEvent {
        var key: String
        var json: Data
        var correlationId: String
    }

    static let decideStatement = """
        SELECT \(DecisionOutput.columns) FROM booking.decide_batch(
            $1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::uuid[], $6::timestamptz[], $7::uuid[], $8::uuid[], $9::uuid[],
            $10::timestamptz[], $11::timestamptz[], $12::text[], $13::text[], $14::boolean[])
        """

    static let recordStatement = """
        INSERT INTO booking.processed_commands (command_id, tenant_id, event_id, event_type, event)
        SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[])
        """

    /// The batch as `booking.decide_batch` takes it: the n-th element of each array is command n.
    static func decideParameters(_ commands: [Command]) -> [any PostgresBindable] {
        let count = commands.count
        var ids = ArrayParameter(capacity: count * 37), types = ArrayParameter(capacity: count * 24)
        var tenants = ArrayParameter(capacity: count * 37), roles = ArrayParameter(capacity: count * 10)
        var actors = ArrayParameter(capacity: count * 37), occurred = ArrayParameter(capacity: count * 25)
        var appointments = ArrayParameter(capacity: count * 37), doctors = ArrayParameter(capacity: count * 37)
        var patients = ArrayParameter(capacity: count * 37), starts = ArrayParameter(capacity: count * 25)
        var ends = ArrayParameter(capacity: count * 25), reasons = ArrayParameter(capacity: count * 5)
        var notes = ArrayParameter(capacity: count * 5), offGrid = ArrayParameter(capacity: count * 5)
        for command in commands {
            let input = command.input
            ids.append(input.commandId)
            types.append(input.type)
            tenants.append(input.tenantId)
            roles.append(input.actorRole)
            actors.append(input.actorId)
            occurred.append(input.occurredAt)
            appointments.append(input.appointmentId)
            doctors.append(input.doctorId)
            patients.append(input.patientId)
            starts.append(input.startsAt)
            ends.append(input.endsAt)
            reasons.append(input.reason)
            notes.append(input.notes)
            offGrid.append(input.allowOffGrid)
        }
        return [ids, types, tenants, roles, actors, occurred, appointments, doctors, patients, starts, ends, reasons, notes, offGrid]
    }

    /// One transaction: decide, record, commit. Returns the events to publish, in command order.
    func decide(_ commands: [Command]) async throws -> [OutgoingEvent] {
        let parameters = Self.decideParameters(commands)
        return try await pool.transaction { connection in
            let rows = try await connection.query(Self.decideStatement, parameters)
            var decisions = [DecisionOutput?](repeating: nil, count: commands.count)
            for row in rows {
                let decision = try DecisionOutput(row: row)
                guard decisions.indices.contains(decision.position - 1), decisions[decision.position - 1] == nil else {
                    throw HandlerError.transient("booking.decide_batch answered for position \(decision.position) twice or out of range")
                }
                decisions[decision.position - 1] = decision
            }
            var events: [OutgoingEvent] = []
            events.reserveCapacity(commands.count)
            var byCommand: [UUID: OutgoingEvent] = [:]
            var recordIds = ArrayParameter(), recordTenants = ArrayParameter(), recordEventIds = ArrayParameter()
            var recordTypes = ArrayParameter(), recordEvents = ArrayParameter()
            var recorded = 0
            for (index, command) in commands.enumerated() {
                guard let decision = decisions[index] else {
                    throw HandlerError.transient("booking.decide_batch gave no decision for command \(command.input.commandId)")
                }
                let metadata = command.message.metadata
                let key = command.input.doctorId.canonical
                let event: OutgoingEvent
                switch decision.outcome {
                case .recorded:
                    guard let json = decision.recordedEvent else { throw HandlerError.transient("recorded event missing") }
                    event = OutgoingEvent(key: key, json: Data(json.utf8), correlationId: metadata.correlationId)
                case .repeated:
                    guard let first = byCommand[metadata.id] else { throw HandlerError.transient("repeat before first") }
                    event = first
                default:
                    let eventId = UUID.random()
                    guard let (type, json) = try DecisionEvent.make(decision, for: command.message.decoded, input: command.input, eventId: eventId)
                    else {
                        throw HandlerError.permanent("decision \(decision.outcome) lacks its appointment", class: .validation)
                    }
                    event = OutgoingEvent(key: key, json: json, correlationId: metadata.correlationId)
                    recordIds.append(metadata.id)
                    recordTenants.append(metadata.tenantId)
                    recordEventIds.append(eventId)
                    recordTypes.append(type)
                    recordEvents.append(utf8: json)
                    recorded += 1
                }
                byCommand[metadata.id] = event
                events.append(event)
            }
            if recorded > 0 {
                try await connection.query(Self.recordStatement, [recordIds, recordTenants, recordEventIds, recordTypes, recordEvents])
            }
            return events
        }
    }

    /// Hands every event to the producer at once and waits for all acknowledgements.
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
