import Foundation

/// The message types one topic carries, and the decoder that tells them apart.
public struct MessageCatalog: Sendable {
    private let decoders: [String: [Int: @Sendable (WireValue) throws -> any MessagePayload]]

    public init(_ types: [any MessagePayload.Type]) {
        var decoders: [String: [Int: @Sendable (WireValue) throws -> any MessagePayload]] = [:]
        for type in types {
            decoders[type.messageType, default: [:]][type.version] = Self.payloadDecoder(for: type)
        }
        self.decoders = decoders
    }

    private static func payloadDecoder<P: MessagePayload>(
        for _: P.Type
    ) -> @Sendable (WireValue) throws -> any MessagePayload {
        { envelope in try WireDecoder().decode(PayloadEnvelope<P>.self, from: envelope).payload }
    }

    public var knownTypes: [(type: String, version: Int)] {
        decoders.flatMap { type, versions in versions.keys.map { (type, $0) } }
            .sorted { ($0.type, $0.version) < ($1.type, $1.version) }
    }

    /// Decodes the envelope, then its payload by `type` and `version`, then validates it. The
    /// bytes are parsed once; the envelope and the payload are read from the same tree.
    public func decode(_ data: Data) throws(ContractError) -> DecodedMessage {
        let metadata: EnvelopeMetadata
        let document: WireValue
        do {
            document = try WireValue.parse(data)
            metadata = try WireDecoder().decode(EnvelopeMetadata.self, from: document)
        } catch {
            throw .undecodable(DecodingProblem(error).description)
        }
        guard let versions = decoders[metadata.type] else { throw .unknownType(metadata.type) }
        guard let decode = versions[metadata.version] else {
            throw .unknownVersion(type: metadata.type, version: metadata.version)
        }
        let payload: any MessagePayload
        do {
            payload = try decode(document)
        } catch {
            throw .undecodable(DecodingProblem(error).description)
        }
        try payload.validate()
        return DecodedMessage(metadata: metadata, payload: payload)
    }
}

/// A decoded message: its envelope fields and its typed payload.
public struct DecodedMessage: Sendable {
    public let metadata: EnvelopeMetadata
    public let payload: any MessagePayload

    /// The whole envelope with the payload as `P`, when it is one.
    public func envelope<P: MessagePayload>(as type: P.Type) -> Envelope<P>? {
        guard let payload = payload as? P else { return nil }
        return envelope(with: payload)
    }

    /// The message as wire JSON again.
    public func encoded() throws -> Data {
        try encode(payload)
    }

    private func encode<P: MessagePayload>(_ payload: P) throws -> Data {
        try envelope(with: payload).encoded()
    }

    private func envelope<P: MessagePayload>(with payload: P) -> Envelope<P> {
        var envelope = Envelope(
            id: metadata.id, occurredAt: metadata.occurredAt, correlationId: metadata.correlationId,
            causationId: metadata.causationId, tenantId: metadata.tenantId, actor: metadata.actor, payload: payload)
        envelope.type = metadata.type
        envelope.version = metadata.version
        return envelope
    }
}

/// Reads only the `payload` member of an envelope.
private struct PayloadEnvelope<P: MessagePayload>: WireReadable {
    let payload: P

    init(wire reader: WireReader) throws {
        payload = try reader.required("payload")
    }
}
