import Contracts
import Foundation
import Logging
import Mail
import Metrics
import Postgres
import Runtime

/// Consumes `notifications.email` (appointment emails and account emails): renders, attaches the
/// calendar invite, sends, records.
///
/// Exactly once per idempotency key, a batch at a time: one transaction claims every key of
/// the batch (a committed `sending` row each), the emails go out over up to `connectionsPerBatch`
/// kept-open SMTP connections at once (each recipient's emails over one of them, in order), and
/// one transaction records every outcome. A key already delivered is
/// skipped. A `sending` row found later means a worker died mid-batch and nobody knows whether
/// the server took that email: rather than risk a second copy it goes to the dead-letter topic
/// (`delivery_unknown`), which `fleet dlq replay` resends only when told that a second copy is
/// acceptable.
///
/// A delivery the server accepted (250) is the one thing the worker knows for sure, so its record
/// is never given up: while PostgreSQL is unreachable the worker keeps trying to write it (the
/// partition waits meanwhile) instead of letting the message go round the retry ladder, where it
/// would find its own claim and be taken for one in doubt.
///
/// SMTP 4xx and connection failures are transient (the retry ladder); 5xx is permanent, with the
/// server's reply in the dead letter.
public struct EmailHandler: BatchMessageHandler, MessageHandler {
    public let pool: PostgresPool
    public let smtp: SMTPClient
    public let sender: MailAddress
    public let templates: EmailTemplates
    public let rateLimiter: RateLimiter
    /// Emails claimed and sent together; also the most that a kill -9 can leave in doubt per partition.
    public let maxBatchSize: Int
    /// SMTP sessions a batch is spread over at once. A send waits for the server four times (MAIL,
    /// RCPT, DATA, the message), so one connection per batch left the worker waiting, not working.
    public let connectionsPerBatch: Int
    let hooks: EmailHandlerHooks
    let logger: Logger
    private var deliveries: DeliveryStore { DeliveryStore(pool: pool) }

    public init(
        pool: PostgresPool, smtp: SMTPClient, sender: MailAddress, templates: EmailTemplates, rateLimiter: RateLimiter,
        logger: Logger, maxBatchSize: Int = 20, connectionsPerBatch: Int = 4, hooks: EmailHandlerHooks = EmailHandlerHooks()
    ) {
        self.pool = pool
        self.smtp = smtp
        self.sender = sender
        self.templates = templates
        self.rateLimiter = rateLimiter
        self.maxBatchSize = max(1, maxBatchSize)
        self.connectionsPerBatch = max(1, connectionsPerBatch)
        self.hooks = hooks
        self.logger = logger
    }

    public func handle(_ message: IncomingMessage) async throws {
        try await handle(batch: [message]).first?.get()
    }

    /// One email of the batch.
    private struct Work: Sendable {
        var index: Int
        var request: NotificationEmail
        var claim: DeliveryStore.Claim
    }

    public func handle(batch messages: [IncomingMessage]) async -> [Result<Void, any Error>] {
        var results = [Result<Void, any Error>](repeating: .success(()), count: messages.count)
        var work: [Work] = []
        var keys = Set<String>()
        for (index, message) in messages.enumerated() {
            // Appointment emails and account emails (verify, set password, notices) alike.
            guard let request = try? NotificationEmail(payload: message.payload) else {
                results[index] = .failure(HandlerError.permanent("not an email request", class: .validation))
                continue
            }
            // The same key twice in a batch is the same email delivered twice by Kafka: the first answers for both.
            guard keys.insert(request.idempotencyKey).inserted else { continue }
            work.append(
                Work(
                    index: index, request: request,
                    claim: DeliveryStore.Claim(
                        key: request.idempotencyKey, tenantId: message.metadata.tenantId, recipient: request.recipient.email,
                        kind: request.kindName, isReplay: message.record.header(HeaderName.replayedFrom) != nil)))
        }
        guard !work.isEmpty else { return results }

        let decisions: [String: DeliveryStore.Decision]
        do {
            let started = ContinuousClock.now
            decisions = try await deliveries.claim(work.map(\.claim))
            Self.timed(.claim, since: started)
        } catch {
            for item in work { results[item.index] = .failure(error) }
            return results
        }
        var toSend: [Work] = []
        for item in work {
            switch decisions[item.claim.key] {
            case .delivered?:
                continue
            case .inDoubt?:
                results[item.index] = .failure(
                    HandlerError.permanent(
                        "a previous attempt stopped mid-send: the email may have been delivered; replaying it may send a second copy",
                        class: .deliveryUnknown))
            case .send?:
                toSend.append(item)
            case nil:
                results[item.index] = .failure(HandlerError.transient("the claim returned no row for this key"))
            }
        }
        guard !toSend.isEmpty else { return results }

        let sendStarted = ContinuousClock.now
        let outcomes = await send(toSend)
        Self.timed(.send, since: sendStarted)
        await hooks.afterSending?(toSend.map(\.claim.key))
        let recordStarted = ContinuousClock.now
        let recorded = await recordUntilDone(
            zip(toSend, outcomes).map { DeliveryStore.Outcome(claim: $0.claim, verdict: $1.verdict) })
        Self.timed(.record, since: recordStarted)
        for (item, outcome) in zip(toSend, outcomes) {
            results[item.index] = recorded ? outcome.result : .failure(outcome.unrecorded)
        }
        return results
    }

    /// The three steps of a batch, timed apart (`carefleet_email_batch_phase_seconds{phase}`), so
    /// a slow batch says whether PostgreSQL (claim, record) or the SMTP server (send) held it.
    enum Phase: String { case claim, send, record }

    static func timed(_ phase: Phase, since start: ContinuousClock.Instant) {
        Metrics.Timer(label: "carefleet_email_batch_phase_seconds", dimensions: [("phase", phase.rawValue)])
            .record(ContinuousClock.now - start)
    }

    /// What became of one email, for the record and for the runtime.
    private struct Sent: Sendable {
        var key: String
        var verdict: DeliveryStore.Outcome.Verdict
        var result: Result<Void, any Error>

        /// When the record could not be written before the task was cancelled.
        var unrecorded: HandlerError {
            switch verdict {
            case .delivered:
                HandlerError.transient("delivered, but the worker stopped before recording it", class: .deliveryUnknown)
            default:
                HandlerError.transient("the worker stopped before recording the outcome")
            }
        }
    }

    /// Sends the batch over up to `connectionsPerBatch` sessions at once. Recipients are dealt to
    /// the sessions in turn, in order of first appearance, and all of a recipient's emails go over
    /// the same session in batch order, so a patient's confirmation never overtakes their booking
    /// email. The outcomes come back in the order of `items`.
    private func send(_ items: [Work]) async -> [Sent] {
        let plan = Self.sessions(for: items.map(\.claim.recipient), upTo: connectionsPerBatch)
        guard plan.count > 1 else { return await sendInOrder(items) }
        var outcomes = [Sent?](repeating: nil, count: items.count)
        await withTaskGroup(of: [(Int, Sent)].self) { group in
            for positions in plan {
                group.addTask {
                    let sent = await sendInOrder(positions.map { items[$0] })
                    return Array(zip(positions, sent))
                }
            }
            for await sent in group {
                for (position, outcome) in sent { outcomes[position] = outcome }
            }
        }
        return zip(items, outcomes).map { item, outcome in
            outcome ?? Sent(key: item.claim.key, verdict: .notSent, result: .failure(HandlerError.transient("not sent")))
        }
    }

    /// Positions of the batch per session: recipients (compared without case) dealt to at most
    /// `limit` sessions in turn, each recipient's positions ascending on one session.
    static func sessions(for recipients: [String], upTo limit: Int) -> [[Int]] {
        var sessionOf: [String: Int] = [:]
        var sessions: [[Int]] = []
        for (position, recipient) in recipients.enumerated() {
            let key = recipient.lowercased()
            let session = sessionOf[key] ?? sessionOf.count % max(1, limit)
            sessionOf[key] = session
            if session == sessions.count { sessions.append([]) }
            sessions[session].append(position)
        }
        return sessions
    }

    /// Sends one after another over one connection. An email never tried (libcurl refused an
    /// option, or the task was cancelled) releases its claim.
    private func sendInOrder(_ items: [Work]) async -> [Sent] {
        var sent: [Sent] = []
        do {
            try await smtp.withSession { session in
                for item in items {
                    try await rateLimiter.wait()
                    let outcome = try await session.send(mail(for: item.request))
                    sent.append(Self.sent(item.claim.key, outcome))
                }
            }
        } catch {
            let failure = HandlerError.transient("not sent: \(error)", class: .smtpSetup)
            for item in items.dropFirst(sent.count) {
                sent.append(Sent(key: item.claim.key, verdict: .notSent, result: .failure(failure)))
            }
        }
        return sent
    }

    private static func sent(_ key: String, _ outcome: SendOutcome) -> Sent {
        switch outcome {
        case .delivered(let messageId, _, let reply):
            return Sent(key: key, verdict: .delivered(messageId: messageId, reply: reply), result: .success(()))
        case .transient(let code, let reply):
            return Sent(
                key: key, verdict: .notSent,
                result: .failure(HandlerError.transient("SMTP \(code.map(String.init) ?? "connection"): \(reply)", class: .smtpUnavailable)))
        case .permanent(let code, let reply):
            return Sent(
                key: key, verdict: .rejected(reply: reply),
                result: .failure(HandlerError.permanent("SMTP \(code): \(reply)", class: .smtpRejected)))
        case .unknown(let reply):
            return Sent(
                key: key, verdict: .unknown,
                result: .failure(
                    HandlerError.permanent(
                        "the connection broke before the server's verdict: the email may have been delivered (\(reply))",
                        class: .deliveryUnknown)))
        }
    }

    /// Writes the batch's outcomes, trying again with backoff for as long as it takes. Returns
    /// false only when the task is cancelled first (shutdown), with the accepted keys logged.
    private func recordUntilDone(_ outcomes: [DeliveryStore.Outcome]) async -> Bool {
        var delay = Duration.milliseconds(50)
        var attempt = 1
        while true {
            do {
                try await deliveries.record(outcomes)
                if attempt > 1 { logger.info("recorded email outcomes after \(attempt) attempts", metadata: ["emails": "\(outcomes.count)"]) }
                return true
            } catch {
                let accepted = outcomes.filter(\.isDelivered).map(\.key)
                logger.warning(
                    "could not record email outcomes; trying again",
                    metadata: ["error": "\(error)", "attempt": "\(attempt)", "accepted": "\(accepted.count)"])
                do {
                    try await Task.sleep(for: delay)
                } catch {
                    logger.critical(
                        "stopping with emails the server accepted but not recorded: do not replay them",
                        metadata: ["keys": "\(accepted.joined(separator: ","))"])
                    return false
                }
                delay = min(delay * 2, .seconds(5))
                attempt += 1
            }
        }
    }

    private func mail(for email: NotificationEmail) -> MailMessage {
        let rendered: EmailTemplates.Rendered
        var attachments: [MailAttachment] = []
        switch email {
        case .appointment(let request):
            rendered = templates.render(request)
            if let method = CalendarInvite.method(for: request.kind) {
                let invite = CalendarInvite.make(method, summary: request.appointment, organizer: sender.address, attendee: request.recipient)
                attachments.append(
                    MailAttachment(
                        filename: method == .cancel ? "cancel.ics" : "invite.ics",
                        contentType: "text/calendar; method=\(method.rawValue); charset=UTF-8", data: Data(invite.utf8)))
            }
        case .account(let request):
            rendered = templates.render(request)
        }
        let key = email.idempotencyKey
        return MailMessage(
            from: sender, to: [MailAddress(email.recipient.email, name: email.recipient.name)], subject: rendered.subject,
            text: rendered.text, html: rendered.html, attachments: attachments,
            messageId: "<\(Self.messageIdPart(key))@\(sender.address.split(separator: "@").last ?? "carefleet")>",
            headers: [("X-CareFleet-Key", key)])
    }

    /// A Message-ID local part from the idempotency key: the same email always has the same id.
    static func messageIdPart(_ key: String) -> String {
        String(key.lowercased().map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." ? $0 : "." })
    }
}

/// Places where tests step into a batch.
public struct EmailHandlerHooks: Sendable {
    /// After the batch's SMTP conversations, before their outcomes are recorded (the keys sent):
    /// a test puts a database outage here.
    public var afterSending: (@Sendable ([String]) async -> Void)?

    public init(afterSending: (@Sendable ([String]) async -> Void)? = nil) {
        self.afterSending = afterSending
    }
}

extension ErrorClass {
    static let smtpUnavailable = ErrorClass("smtp_unavailable")
    static let smtpRejected = ErrorClass("smtp_rejected")
    /// libcurl refused an option: nothing was sent (see the worker's SMTP settings).
    static let smtpSetup = ErrorClass("smtp_setup")
}
