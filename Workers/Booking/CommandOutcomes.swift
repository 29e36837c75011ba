import Contracts
import Foundation
import Postgres

/// What the booking worker decided for a command: the event it produced, recorded with it.
public struct CommandOutcome: Sendable, Equatable {
    public var commandId: UUID
    public var tenantId: UUID
    /// Who issued the command (nil for operators' commands: `fleet publish`, replays).
    public var issuedBy: UUID?
    public var commandType: String
    public var appointmentId: UUID
    public var event: AppointmentEvent
    /// The event as published (wire JSON).
    public var eventJSON: String

    public init(
        commandId: UUID, tenantId: UUID, issuedBy: UUID?, commandType: String, appointmentId: UUID, event: AppointmentEvent,
        eventJSON: String
    ) {
        self.commandId = commandId
        self.tenantId = tenantId
        self.issuedBy = issuedBy
        self.commandType = commandType
        self.appointmentId = appointmentId
        self.event = event
        self.eventJSON = eventJSON
    }

    /// Why the command was not carried out; nil when it was.
    public var declineReason: DeclineReason? {
        if case .declined(let declined) = event { return declined.reason }
        return nil
    }
}

/// The booking worker's record of decided commands (`booking.processed_commands`), for the API.
public protocol CommandOutcomes: Sendable {
    func outcome(of command: UUID, tenant: UUID) async throws -> CommandOutcome?
}

public struct PostgresCommandOutcomes: CommandOutcomes {
    let pool: PostgresPool

    public init(pool: PostgresPool) {
        self.pool = pool
    }

    public func outcome(of command: UUID, tenant: UUID) async throws -> CommandOutcome? {
        let rows = try await pool.query(
            "SELECT tenant_id, event FROM booking.processed_commands WHERE command_id = $1 AND tenant_id = $2", [command, tenant])
        guard let row = rows.first else { return nil }
        let json = try row.decode(String.self, "event")
        let decoded: DecodedMessage
        do {
            decoded = try Catalogs.appointmentEvents.decode(Data(json.utf8))
        } catch {
            throw PostgresError(kind: .decoding, message: "booking.processed_commands.event of \(command): \(error)")
        }
        let event = try AppointmentEvent(decoded)
        return CommandOutcome(
            commandId: command, tenantId: try row.decode(UUID.self, "tenant_id"), issuedBy: decoded.metadata.actor.userId,
            commandType: Self.commandType(of: event), appointmentId: event.appointmentId, event: event, eventJSON: json)
    }

    /// The type of the command an event decided.
    static func commandType(of event: AppointmentEvent) -> String {
        switch event {
        case .booked: RequestAppointment.messageType
        case .declined(let declined): declined.commandType
        case .confirmed: ConfirmAppointment.messageType
        case .rejected: RejectAppointment.messageType
        case .cancelled: CancelAppointment.messageType
        case .rescheduled: RescheduleAppointment.messageType
        case .completed: CompleteAppointment.messageType
        case .noShow: MarkNoShow.messageType
        case .noteAdded: AddAppointmentNote.messageType
        }
    }
}
