import Contracts
import Foundation
import Logging
import Mail
import Postgres
import Runtime

/// Consumes `notifications.email`: renders, attaches the calendar invite, sends, records.
///
/// Exactly once per idempotency key: a `sending` row is committed before the SMTP conversation
/// and becomes `delivered` after the server accepted the message. A key already delivered is
/// skipped. A `sending` row found later means the worker died mid-conversation and nobody knows
/// whether the server took the message: rather than risk a second copy it goes to the
/// dead-letter topic (`delivery_unknown`); replaying it from there sends it (an operator's call).
/// SMTP 4xx and connection failures are transient (the retry ladder); 5xx is permanent, with
/// the server's reply in the dead letter.
public struct EmailHandler: MessageHandler {
    public let pool: PostgresPool
    public let smtp: SMTPClient
    public let sender: MailAddress
    public let templates: EmailTemplates
    public let rateLimiter: RateLimiter
    let logger: Logger

    public init(
        pool: PostgresPool, smtp: SMTPClient, sender: MailAddress, templates: EmailTemplates, rateLimiter: RateLimiter,
        logger: Logger
    ) {
        self.pool = pool
        self.smtp = smtp
        self.sender = sender
        self.templates = templates
        self.rateLimiter = rateLimiter
        self.logger = logger
    }

    public func handle(_ message: IncomingMessage) async throws {
        guard let request = message.envelope(as: EmailRequested.self)?.payload else {
            throw HandlerError.permanent("not an email request", class: .validation)
        }
        let key = request.idempotencyKey
        let isReplay = message.record.header(HeaderName.replayedFrom) != nil
        // Wait for a send slot before claiming, so that only a live SMTP conversation is ever in doubt.
        await rateLimiter.wait()
        let claim = try await pool.query(
            """
            INSERT INTO mail.deliveries (idempotency_key, tenant_id, recipient, kind, status) VALUES ($1, $2, $3, $4, 'sending')
            ON CONFLICT (idempotency_key) DO UPDATE SET updated_at = now()
            RETURNING status, (xmax = 0) AS inserted
            """, [key, message.metadata.tenantId, request.recipient.email, request.kind.rawValue])
        let status = try claim[0].decode(String.self, 0)
        let inserted = try claim[0].decode(Bool.self, 1)
        if status == "delivered" { return }
        if status == "sending", !inserted, !isReplay {
            throw HandlerError.permanent(
                "a previous attempt stopped mid-send: the email may have been delivered; replay to send it again",
                class: ErrorClass("delivery_unknown"))
        }
        if status != "sending" {
            try await setStatus("sending", key: key)
        }

        let rendered = templates.render(request)
        var attachments: [MailAttachment] = []
        if let method = CalendarInvite.method(for: request.kind) {
            let invite = CalendarInvite.make(method, summary: request.appointment, organizer: sender.address, attendee: request.recipient)
            attachments.append(
                MailAttachment(
                    filename: method == .cancel ? "cancel.ics" : "invite.ics",
                    contentType: "text/calendar; method=\(method.rawValue); charset=UTF-8", data: Data(invite.utf8)))
        }
        let mail = MailMessage(
            from: sender, to: [MailAddress(request.recipient.email, name: request.recipient.name)], subject: rendered.subject,
            text: rendered.text, html: rendered.html, attachments: attachments,
            messageId: "<\(Self.messageIdPart(key))@\(sender.address.split(separator: "@").last ?? "carefleet")>",
            headers: [("X-CareFleet-Key", key)])
        switch await smtp.send(mail) {
        case .delivered(let messageId, _, let reply):
            try await pool.query(
                """
                UPDATE mail.deliveries SET status = 'delivered', message_id = $2, reply = $3, updated_at = now()
                WHERE idempotency_key = $1
                """, [key, messageId, reply])
        case .transient(let code, let reply):
            // Nothing was accepted: forget the claim so the next try sends.
            try await pool.query("DELETE FROM mail.deliveries WHERE idempotency_key = $1 AND status = 'sending'", [key])
            throw HandlerError.transient("SMTP \(code.map(String.init) ?? "connection"): \(reply)", class: ErrorClass("smtp_unavailable"))
        case .permanent(let code, let reply):
            try await pool.query(
                "UPDATE mail.deliveries SET status = 'rejected', reply = $2, updated_at = now() WHERE idempotency_key = $1",
                [key, reply])
            throw HandlerError.permanent("SMTP \(code): \(reply)", class: ErrorClass("smtp_rejected"))
        }
    }

    private func setStatus(_ status: String, key: String) async throws {
        try await pool.query(
            "UPDATE mail.deliveries SET status = $2, updated_at = now() WHERE idempotency_key = $1", [key, status])
    }

    /// A Message-ID local part from the idempotency key: the same email always has the same id.
    static func messageIdPart(_ key: String) -> String {
        String(key.lowercased().map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." ? $0 : "." })
    }
}

/// At most `perSecond` sends per second across the whole worker (a token bucket).
public final class RateLimiter: Sendable {
    private let interval: Duration
    private let next = Locked(ContinuousClock.now)

    public init(perSecond: Double) {
        interval = perSecond > 0 ? .nanoseconds(Int64(1_000_000_000 / perSecond)) : .zero
    }

    public func wait() async {
        guard interval > .zero else { return }
        let slot = next.withLock { next in
            let slot = max(next, ContinuousClock.now)
            next = slot + interval
            return slot
        }
        if slot > ContinuousClock.now { try? await Task.sleep(until: slot, clock: .continuous) }
    }
}
