import Foundation

/// Every message on every topic: `{id, type, version, occurredAt, correlationId, causationId,
/// tenantId, actor, payload}`. `id` is chosen by the producer and is the idempotency key downstream.
/// New ids are time-ordered (UUIDv7): every consumer keys a table by them (processed commands,
/// counted events, notifications' sources, email deliveries), and random keys sent each batch's
/// rows all over those indexes.
public struct Envelope<Payload: MessagePayload>: Codable, Sendable, Equatable {
    public var id: UUID
    public var type: String
    public var version: Int
    public var occurredAt: Date
    public var correlationId: String
    public var causationId: UUID?
    public var tenantId: UUID
    public var actor: Principal
    public var payload: Payload

    public init(
        id: UUID = .timeOrdered(), occurredAt: Date = Date(), correlationId: String, causationId: UUID? = nil,
        tenantId: UUID, actor: Principal, payload: Payload
    ) {
        self.id = id
        self.type = Payload.messageType
        self.version = Payload.version
        self.occurredAt = occurredAt
        self.correlationId = correlationId
        self.causationId = causationId
        self.tenantId = tenantId
        self.actor = actor
        self.payload = payload
    }

    /// The envelope of a message caused by this one: same tenant and correlation id,
    /// `causationId` pointing here.
    public func caused<Other: MessagePayload>(
        _ payload: Other, id: UUID = .timeOrdered(), actor: Principal? = nil, at date: Date = Date()
    ) -> Envelope<Other> {
        Envelope<Other>(
            id: id, occurredAt: date, correlationId: correlationId, causationId: self.id,
            tenantId: tenantId, actor: actor ?? self.actor, payload: payload)
    }

    public var metadata: EnvelopeMetadata {
        EnvelopeMetadata(
            id: id, type: type, version: version, occurredAt: occurredAt, correlationId: correlationId,
            causationId: causationId, tenantId: tenantId, actor: actor)
    }

    public func encoded() throws -> Data {
        try WireCoding.encoder().encode(self)
    }
}

/// The envelope without its payload: what can be read of any message before its type is known.
public struct EnvelopeMetadata: Codable, Sendable, Equatable {
    public var id: UUID
    public var type: String
    public var version: Int
    public var occurredAt: Date
    public var correlationId: String
    public var causationId: UUID?
    public var tenantId: UUID
    public var actor: Principal

    public init(
        id: UUID, type: String, version: Int, occurredAt: Date, correlationId: String, causationId: UUID?,
        tenantId: UUID, actor: Principal
    ) {
        self.id = id
        self.type = type
        self.version = version
        self.occurredAt = occurredAt
        self.correlationId = correlationId
        self.causationId = causationId
        self.tenantId = tenantId
        self.actor = actor
    }
}
