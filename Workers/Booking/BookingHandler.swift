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
            let input: Command.Input
            if let note = message.decoded.payload as? AddAppointmentNote {
                input = .note(note)
            } else if let decision = DecisionInput(message.decoded) {
                input = .decision(decision)
            } else {
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
        var input: Input

        /// Booking decisions go to `booking.decide_batch`; notes to `booking.add_notes`.
        enum Input {
            case decision(DecisionInput)
            case note(AddAppointmentNote)

            /// PostgreSQL text cannot hold a NUL character (and libpq would cut the parameter at it).
            var textFieldWithNul: String? {
                switch self {
                case .decision(let input): input.textFieldWithNul
                case .note(let note): note.text.utf8.contains(0) ? "payload.text" : nil
                }
            }
        }

        var isNote: Bool {
            if case .note = input { return true }
            return false
        }

        var doctorId: UUID {
            switch input {
            case .decision(let input): input.doctorId
            case .note(let note): note.doctorId
            }
        }
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
    static func decideParameters(_ inputs: [DecisionInput]) -> [any PostgresBindable] {
        let count = inputs.count
        var ids = ArrayParameter(capacity: count * 37), types = ArrayParameter(capacity: count * 24)
        var tenants = ArrayParameter(capacity: count * 37), roles = ArrayParameter(capacity: count * 10)
        var actors = ArrayParameter(capacity: count * 37), occurred = ArrayParameter(capacity: count * 25)
        var appointments = ArrayParameter(capacity: count * 37), doctors = ArrayParameter(capacity: count * 37)
        var patients = ArrayParameter(capacity: count * 37), starts = ArrayParameter(capacity: count * 25)
        var ends = ArrayParameter(capacity: count * 25), reasons = ArrayParameter(capacity: count * 5)
        var notes = ArrayParameter(capacity: count * 5), offGrid = ArrayParameter(capacity: count * 5)
        for input in inputs {
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

    /// A command decided for the first time, to be recorded with its event.
    struct Decided {
        var event: OutgoingEvent
        var record: (commandId: UUID, tenantId: UUID, eventId: UUID, type: String, json: Data)?
    }

    /// One transaction: decide, record, commit. Returns the events to publish, in command order.
    /// The batch is taken in runs of booking commands and of notes, in order, so a note sees the
    /// appointment as the commands before it left it. A command delivered twice in one batch is
    /// decided once and its event published for both.
    func decide(_ commands: [Command]) async throws -> [OutgoingEvent] {
        var runs: [(notes: Bool, positions: [Int])] = []
        var firstPosition: [UUID: Int] = [:]
        for (position, command) in commands.enumerated() where firstPosition[command.message.metadata.id] == nil {
            firstPosition[command.message.metadata.id] = position
            if runs.last?.notes == command.isNote {
                runs[runs.count - 1].positions.append(position)
            } else {
                runs.append((command.isNote, [position]))
            }
        }
        return try await pool.transaction { connection in
            var decided = [Decided?](repeating: nil, count: commands.count)
            for run in runs {
                let members = run.positions.map { commands[$0] }
                let outcomes =
                    run.notes ? try await addNotes(members, on: connection) : try await decideBookings(members, on: connection)
                for (position, outcome) in zip(run.positions, outcomes) { decided[position] = outcome }
            }
            var recordIds = ArrayParameter(), recordTenants = ArrayParameter(), recordEventIds = ArrayParameter()
            var recordTypes = ArrayParameter(), recordEvents = ArrayParameter()
            var recorded = 0
            var events: [OutgoingEvent] = []
            events.reserveCapacity(commands.count)
            for (position, command) in commands.enumerated() {
                let first = firstPosition[command.message.metadata.id] ?? position
                guard let outcome = decided[first] else {
                    throw HandlerError.transient("no decision for command \(command.message.metadata.id)")
                }
                events.append(outcome.event)
                if first == position, let record = outcome.record {
                    recordIds.append(record.commandId)
                    recordTenants.append(record.tenantId)
                    recordEventIds.append(record.eventId)
                    recordTypes.append(record.type)
                    recordEvents.append(utf8: record.json)
                    recorded += 1
                }
            }
            if recorded > 0 {
                try await connection.query(Self.recordStatement, [recordIds, recordTenants, recordEventIds, recordTypes, recordEvents])
            }
            return events
        }
    }

    /// A run of booking commands through `booking.decide_batch`, in the caller's transaction.
    func decideBookings(_ commands: [Command], on connection: PostgresConnection) async throws -> [Decided] {
        let inputs = commands.compactMap { command -> DecisionInput? in
            if case .decision(let input) = command.input { return input }
            return nil
        }
        let rows = try await connection.query(Self.decideStatement, Self.decideParameters(inputs))
        var decisions = [DecisionOutput?](repeating: nil, count: inputs.count)
        for row in rows {
            let decision = try DecisionOutput(row: row)
            guard decisions.indices.contains(decision.position - 1), decisions[decision.position - 1] == nil else {
                throw HandlerError.transient("booking.decide_batch answered for position \(decision.position) twice or out of range")
            }
            decisions[decision.position - 1] = decision
        }
        return try zip(commands, inputs).enumerated().map { index, pair in
            let (command, input) = pair
            guard let decision = decisions[index] else {
                throw HandlerError.transient("booking.decide_batch gave no decision for command \(input.commandId)")
            }
            let metadata = command.message.metadata
            let key = input.doctorId.canonical
            switch decision.outcome {
            case .recorded:
                guard let json = decision.recordedEvent else { throw HandlerError.transient("recorded event missing") }
                return Decided(event: OutgoingEvent(key: key, json: Data(json.utf8), correlationId: metadata.correlationId))
            case .repeated:
                // The batch reaches decide_batch without repeats (see `decide`).
                throw HandlerError.transient("booking.decide_batch saw command \(input.commandId) twice")
            default:
                let eventId = UUID.timeOrdered()
                guard let (type, json) = try DecisionEvent.make(decision, for: command.message.decoded, input: input, eventId: eventId)
                else {
                    throw HandlerError.permanent("decision \(decision.outcome) lacks its appointment", class: .validation)
                }
                return Decided(
                    event: OutgoingEvent(key: key, json: json, correlationId: metadata.correlationId),
                    record: (metadata.id, metadata.tenantId, eventId, type, json))
            }
        }
    }

    static let addNotesStatement = """
        SELECT \(NoteOutput.columns) FROM booking.add_notes(
            $1::uuid[], $2::uuid[], $3::text[], $4::uuid[], $5::uuid[], $6::uuid[], $7::uuid[], $8::text[], $9::text[])
        """

    /// A run of notes through `booking.add_notes`, in the caller's transaction.
    func addNotes(_ commands: [Command], on connection: PostgresConnection) async throws -> [Decided] {
        let notes = commands.compactMap { command -> (DecodedMessage, AddAppointmentNote)? in
            if case .note(let note) = command.input { return (command.message.decoded, note) }
            return nil
        }
        var ids = ArrayParameter(), tenants = ArrayParameter(), roles = ArrayParameter(), actors = ArrayParameter()
        var appointments = ArrayParameter(), doctors = ArrayParameter(), noteIds = ArrayParameter(), kinds = ArrayParameter()
        var bodies = ArrayParameter()
        for (message, note) in notes {
            ids.append(message.metadata.id)
            tenants.append(message.metadata.tenantId)
            roles.append(message.metadata.actor.role.rawValue)
            actors.append(message.metadata.actor.userId)
            appointments.append(note.appointmentId)
            doctors.append(note.doctorId)
            noteIds.append(note.noteId)
            kinds.append(note.kind.rawValue)
            bodies.append(note.text)
        }
        let rows = try await connection.query(
            Self.addNotesStatement, [ids, tenants, roles, actors, appointments, doctors, noteIds, kinds, bodies])
        var outputs = [NoteOutput?](repeating: nil, count: notes.count)
        for row in rows {
            let output = try NoteOutput(row: row)
            guard outputs.indices.contains(output.position - 1), outputs[output.position - 1] == nil else {
                throw HandlerError.transient("booking.add_notes answered for position \(output.position) twice or out of range")
            }
            outputs[output.position - 1] = output
        }
        return try zip(notes, outputs).map { pair, output in
            let (message, note) = pair
            guard let output else { throw HandlerError.transient("booking.add_notes gave no outcome for \(message.metadata.id)") }
            let metadata = message.metadata
            let key = note.doctorId.canonical
            if let recorded = output.recordedEvent {
                return Decided(event: OutgoingEvent(key: key, json: Data(recorded.utf8), correlationId: metadata.correlationId))
            }
            let eventId = UUID.timeOrdered()
            let (type, json) = try NoteEvent.make(output, for: message, note: note, eventId: eventId)
            return Decided(
                event: OutgoingEvent(key: key, json: json, correlationId: metadata.correlationId),
                record: (metadata.id, metadata.tenantId, eventId, type, json))
        }
    }

    /// Hands every event to the producer, in command order, and waits for all acknowledgements.
    /// In order: an appointment's events (and a doctor's) share a partition, and its consumers
    /// must see a booking before its cancellation, a slot taken before the request it beat
    /// declined. (One task per event, as before, let two events of a batch swap places.)
    func publish(_ events: [OutgoingEvent]) async throws {
        let topic = eventsTopic
        try await producer.send(
            events.map { event in
                ProducerRecord(
                    topic: topic, key: event.key, value: event.json, headers: [KafkaHeader(HeaderName.correlationId, event.correlationId)])
            })
    }
}
