import Contracts
import Foundation
import Kafka
import Logging
import Runtime

/// The webhook worker's two steps, told apart by the message:
/// - an appointment event is fanned out: one `webhook.delivery_requested` per active endpoint of
///   its tenant subscribed to its type, keyed by endpoint id, with the body it will be sent with;
/// - a delivery request is POSTed, signed (Standard Webhooks), and its outcome logged.
///
/// Retries stay in place (see `ConsumerGroups.webhook`), so an endpoint gets its events in order:
/// 2xx is delivered; 408, 429 (waiting at least its `Retry-After`), 5xx, timeouts and refused
/// connections are tried again with backoff; any other answer is dead-lettered at once, and so is
/// a delivery to a name that resolves only to addresses of the fleet's own network, which is never
/// connected to (`endpoint_address_refused`, see `WebhookAddressPolicy`). An
/// endpoint failing for longer than `disableAfter` is disabled and its tenant's admins are told
/// by email; its deliveries then go to the dead-letter topic (`endpoint_disabled`), from where
/// `fleet dlq replay` sends them once it is enabled again.
///
/// At least once: a worker killed after the POST and before the log line sends the delivery
/// again, with the same `webhook-id`, which receivers use to drop the copy.
public struct WebhookHandler: BatchMessageHandler, MessageHandler {
    let store: WebhookStore
    let producer: KafkaProducer
    let deliveriesTopic: String
    let emailTopic: String
    let poster: WebhookPoster
    let disableAfter: Duration
    let logger: Logger

    /// Events are fanned out a batch at a time (one lookup of the batch's tenants' endpoints: a
    /// clinic without endpoints costs one query per batch, not per event); deliveries go one at a
    /// time, so a failing one holds its partition before the next is tried.
    public var maxBatchSize: Int { 500 }

    public func maxBatchSize(forSource source: String) -> Int { source == deliveriesTopic ? 1 : maxBatchSize }

    public func handle(_ message: IncomingMessage) async throws {
        try await handle(batch: [message]).first?.get()
    }

    public func handle(batch messages: [IncomingMessage]) async -> [Result<Void, any Error>] {
        if messages.count == 1, let request = messages[0].envelope(as: WebhookDeliveryRequested.self) {
            do {
                try await deliver(request)
                return [.success(())]
            } catch {
                return [.failure(error)]
            }
        }
        var (events, results) = messages.decoded(as: AppointmentEvent.self)
        do {
            try await fanOut(events.map { ($0.message, $0.value) })
        } catch {
            for event in events { results[event.index] = .failure(error) }
        }
        return results
    }

    // MARK: - Fan-out

    /// One `webhook.delivery_requested` per event and active endpoint of its tenant subscribed to
    /// its type, each with a `pending` line in the endpoint's log.
    private func fanOut(_ events: [(message: IncomingMessage, event: AppointmentEvent)]) async throws {
        guard !events.isEmpty else { return }
        let endpoints = try await store.activeEndpoints(tenants: Set(events.map { $0.message.metadata.tenantId }))
        guard !endpoints.isEmpty else { return }
        var pending: [WebhookStore.Pending] = []
        var records: [ProducerRecord] = []
        for (message, event) in events {
            let eventType = message.metadata.type
            let webhookId = message.metadata.id.canonical
            let targets = endpoints.filter { $0.tenant == message.metadata.tenantId && $0.eventTypes.contains(eventType) }
            guard !targets.isEmpty else { continue }
            let body = try Self.body(of: message)
            for endpoint in targets {
                pending.append(.init(endpoint: endpoint.id, webhookId: webhookId, eventType: eventType, appointmentId: event.appointmentId))
                let envelope = Envelope(
                    correlationId: message.metadata.correlationId, causationId: message.metadata.id, tenantId: message.metadata.tenantId,
                    actor: Principal(role: .system, userId: nil),
                    payload: WebhookDeliveryRequested(
                        endpointId: endpoint.id, webhookId: webhookId, eventType: eventType, appointmentId: event.appointmentId, body: body))
                records.append(
                    ProducerRecord(
                        topic: deliveriesTopic, key: endpoint.id.canonical, value: try envelope.encoded(),
                        headers: [KafkaHeader(HeaderName.correlationId, message.metadata.correlationId)]))
            }
        }
        guard !records.isEmpty else { return }
        try await store.logPending(pending)
        _ = try await producer.send(records)
    }

    /// `{"type": …, "timestamp": …, "data": <the event's payload>}`, keys sorted.
    static func body(of message: IncomingMessage) throws -> String {
        guard let value = message.record.value,
            let envelope = try JSONSerialization.jsonObject(with: value) as? [String: Any], let payload = envelope["payload"]
        else { throw HandlerError.permanent("the event has no payload object", class: .validation) }
        let body: [String: Any] = [
            "type": message.metadata.type, "timestamp": WireCoding.formatTimestamp(message.metadata.occurredAt), "data": payload,
        ]
        let data = try JSONSerialization.data(withJSONObject: body, options: [.sortedKeys, .withoutEscapingSlashes])
        guard data.count <= WebhookDeliveryRequested.maximumBodyBytes else {
            throw HandlerError.permanent("the event is larger than a webhook may carry (\(data.count) bytes)", class: .validation)
        }
        return String(decoding: data, as: UTF8.self)
    }

    // MARK: - Delivery

    private func deliver(_ envelope: Envelope<WebhookDeliveryRequested>) async throws {
        let request = envelope.payload
        guard let target = try await store.target(endpoint: request.endpointId, webhookId: request.webhookId) else {
            throw HandlerError.permanent("no webhook endpoint \(request.endpointId.canonical)", class: .endpointUnknown)
        }
        if target.isDelivered { return }
        guard target.isActive else {
            try await store.record(.init(endpoint: request.endpointId, request: request, status: "failed", error: "endpoint disabled"))
            throw HandlerError.permanent("the endpoint is disabled; enable it and replay", class: .endpointDisabled)
        }
        guard let key = WebhookSigning.key(of: target.secret) else {
            throw HandlerError.permanent("the endpoint's secret is not a whsec_ secret", class: .endpointUnknown)
        }
        let timestamp = Int(Date().timeIntervalSince1970)
        let headers = [
            ("webhook-id", request.webhookId), ("webhook-timestamp", String(timestamp)),
            ("webhook-signature", WebhookSigning.signature(id: request.webhookId, timestamp: timestamp, body: request.body, key: key)),
        ]
        let outcome = await poster.post(url: target.url, headers: headers, body: request.body)
        switch outcome {
        case .answered(let status, _) where (200...299).contains(status):
            try await store.record(.init(endpoint: request.endpointId, request: request, status: "delivered", statusCode: status))
        case .answered(let status, let retryAfter) where [408, 429].contains(status) || (500...599).contains(status):
            try await failed(request, statusCode: status, error: "HTTP \(status)", retryAfter: retryAfter)
        case .answered(let status, _):
            try await store.record(
                .init(endpoint: request.endpointId, request: request, status: "failed", statusCode: status, error: "HTTP \(status)"))
            throw HandlerError.permanent("the endpoint refused the delivery: HTTP \(status)", class: .webhookRejected)
        case .noAnswer(let reason):
            try await failed(request, statusCode: nil, error: reason, retryAfter: nil)
        case .notSent(let reason):
            throw HandlerError.transient("not sent: \(reason)", class: .webhookSetup)
        case .refused(let reason):
            // Not retried: the admin points the endpoint at a public address, then replays.
            try await store.record(.init(endpoint: request.endpointId, request: request, status: "failed", error: reason))
            throw HandlerError.permanent(reason, class: .endpointAddressRefused)
        }
    }

    /// A failure worth trying again: logged, and either retried in place (the partition waits)
    /// or, once the endpoint has failed for longer than `disableAfter`, the end of the endpoint.
    private func failed(_ request: WebhookDeliveryRequested, statusCode: Int?, error: String, retryAfter: Duration?) async throws {
        let run = try await store.record(
            .init(endpoint: request.endpointId, request: request, status: "retrying", statusCode: statusCode, error: error))
        guard let run, run.length >= disableAfter else {
            throw HandlerError.transient("webhook delivery failed: \(error)", class: .webhookUnavailable, retryAfter: retryAfter)
        }
        try await disable(request.endpointId, failing: run, lastError: error)
        try await store.record(.init(endpoint: request.endpointId, request: request, status: "failed", statusCode: statusCode, error: error))
        throw HandlerError.permanent("the endpoint failed for too long and was disabled (last: \(error))", class: .endpointDisabled)
    }

    /// Tells the tenant's admins, then disables. The notice's key names the run of failures, so
    /// a retry after a crash between the two sends nobody a second email.
    private func disable(_ endpoint: UUID, failing run: WebhookStore.FailureRun, lastError: String) async throws {
        guard let owner = try await store.admins(ofEndpoint: endpoint) else { return }
        let since = run.since
        let seconds = run.length.components.seconds
        let detail =
            "The webhook endpoint \(owner.url) failed every delivery for \(seconds >= 3600 ? "\(seconds / 3600) hours" : "\(seconds) seconds") (last: \(lastError)) and was disabled."
        let records = try owner.admins.map { admin in
            let envelope = Envelope(
                correlationId: "webhook-disabled-\(endpoint.canonical)", tenantId: owner.tenant, actor: Principal(role: .system, userId: nil),
                payload: AccountEmailRequested(
                    idempotencyKey: "webhook-disabled:\(endpoint.canonical):\(Int(since.timeIntervalSince1970)):\(admin.id.canonical)",
                    kind: .webhookDisabled, recipient: EmailRecipient(userId: admin.id, email: admin.email, name: admin.name, role: .admin),
                    clinicName: admin.clinic, detail: detail))
            return ProducerRecord(topic: emailTopic, key: admin.id.canonical, value: try envelope.encoded())
        }
        _ = try await producer.send(records)
        if try await store.disable(endpoint: endpoint, reason: "failing since \(WireCoding.formatTimestamp(since)): \(lastError)") {
            logger.warning(
                "webhook endpoint disabled", metadata: ["endpoint": "\(endpoint.canonical)", "admins_told": "\(owner.admins.count)"])
        }
    }
}

extension ErrorClass {
    static let webhookUnavailable = ErrorClass("webhook_unavailable")
    static let webhookRejected = ErrorClass("webhook_rejected")
    static let webhookSetup = ErrorClass("webhook_setup")
    static let endpointDisabled = ErrorClass("endpoint_disabled")
    static let endpointUnknown = ErrorClass("endpoint_unknown")
    static let endpointAddressRefused = ErrorClass("endpoint_address_refused")
}
