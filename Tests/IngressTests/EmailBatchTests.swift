import Contracts
@testable import Email
import Foundation
import Kafka
import Logging
import Mail
import Migrations
import Postgres
@testable import Runtime
import TestSupport
import Testing

/// The email worker's batch path against the real PostgreSQL and SMTP sink.
@Suite("Email batches", .serialized, .timeLimit(.minutes(4)))
struct EmailBatchTests {
    static func address(_ name: String) -> String { "\(name)-\(UUID().uuidString.prefix(8).lowercased())@batch.test" }

    /// An email request as the runtime hands it to the handler (offset `n` of partition 0).
    static func incoming(_ n: Int, to email: String, key: String? = nil, replayed: Bool = false) throws -> IncomingMessage {
        let start = Date().addingTimeInterval(86400)
        let patient = UUID()
        let envelope = Envelope(
            correlationId: "batch", tenantId: Tenants.defaultTenant, actor: .system,
            payload: EmailRequested(
                idempotencyKey: key ?? "batch-\(UUID().uuidString.lowercased())", kind: .booked,
                recipient: EmailRecipient(userId: patient, email: email, name: "Batch Patient", role: .patient),
                appointment: AppointmentSummary(
                    appointmentId: UUID(), doctorId: UUID(), doctorName: "Dr. Batch", patientId: patient, patientName: "Batch Patient",
                    startsAt: start, endsAt: start.addingTimeInterval(900), timeZone: "UTC", status: .confirmed, sequence: 0)))
        let value = try envelope.encoded()
        let headers = replayed ? [KafkaHeader(HeaderName.replayedFrom, "notifications.email.email-worker.dlq/0/\(n)")] : []
        return IncomingMessage(
            decoded: try Catalogs.notificationEmail.decode(value),
            record: KafkaMessage(
                topic: Topics.notificationEmail.name, partition: 0, offset: Int64(n), key: Data(patient.uuidString.utf8), value: value,
                headers: headers, timestamp: Date()),
            sourceTopic: Topics.notificationEmail.name, stage: 0, attempt: 1)
    }

    static func handler(
        _ pool: PostgresPool, smtp: String, connectionsPerBatch: Int = 4, hooks: EmailHandlerHooks = EmailHandlerHooks()
    ) throws -> EmailHandler {
        EmailHandler(
            pool: pool, smtp: SMTPClient(settings: SMTPSettings(url: smtp, timeout: .seconds(5))),
            sender: MailAddress("appointments@carefleet.test", name: "CareFleet Test Clinic"), templates: try EmailTemplates(),
            rateLimiter: RateLimiter(perSecond: 0), logger: Logger(label: "email-batch-test"), maxBatchSize: 50,
            connectionsPerBatch: connectionsPerBatch, hooks: hooks)
    }

    @Test func recipientsAreDealtToTheSessionsInTurnAndKeepTheirOrderOnOne() {
        // Five recipients (a twice, in another case the second time) over four sessions: the fifth
        // goes back to the first session; every session's positions ascend.
        let plan = EmailHandler.sessions(for: ["a@x", "b@x", "A@X", "c@x", "d@x", "e@x"], upTo: 4)
        #expect(plan == [[0, 2, 5], [1], [3], [4]])
        #expect(EmailHandler.sessions(for: ["a@x", "b@x", "c@x"], upTo: 1) == [[0, 1, 2]])
        #expect(EmailHandler.sessions(for: ["a@x", "a@x"], upTo: 4) == [[0, 1]])
        #expect(EmailHandler.sessions(for: [], upTo: 4).isEmpty)
    }

    @Test func aBatchGoesOutOverSeveralConnectionsAtOnceAndARecipientsEmailsOverOne() async throws {
        let smtp = try await TestServices.shared().smtpURL
        let maildir = try await TestMaildir.shared()
        try await TestDatabase.with { url in
            let pool = PostgresPool(url: url, maximumConnections: 2)
            defer { pool.close() }
            // Six recipients, the first two with two emails each: eight emails over four connections.
            let recipients = (0..<6).map { _ in Self.address("spread") }
            let batch = try (recipients + recipients.prefix(2)).enumerated().map { try Self.incoming($0.offset, to: $0.element) }
            let handler = try Self.handler(pool, smtp: smtp, connectionsPerBatch: 4)
            let results = await handler.handle(batch: batch)
            for (index, result) in results.enumerated() {
                if case .failure(let error) = result { Issue.record("email \(index) failed: \(error)") }
            }
            var peers: [String: Set<String>] = [:]
            for (index, recipient) in recipients.enumerated() {
                let mails = try await maildir.waitForMessages(to: recipient, count: index < 2 ? 2 : 1)
                #expect(mails.count == (index < 2 ? 2 : 1), "\(recipient) got \(mails.count)")
                peers[recipient] = Set(mails.compactMap { $0.header("X-Peer") })
            }
            // The sink names the client's end of each connection (X-Peer): four of them, and a
            // recipient's two emails came over one (so in batch order).
            #expect(peers.values.reduce(into: Set<String>()) { $0.formUnion($1) }.count == 4, "\(peers)")
            for recipient in recipients { #expect(peers[recipient]?.count == 1, "\(recipient): \(peers[recipient] ?? [])") }
        }
    }

    static func status(_ pool: PostgresPool, _ key: String) async throws -> String? {
        try await pool.query("SELECT status FROM mail.deliveries WHERE idempotency_key = $1", [key]).first?.decode(String.self, 0)
    }

    static func keys(_ message: IncomingMessage) -> String {
        message.envelope(as: EmailRequested.self)?.payload.idempotencyKey ?? ""
    }

    @Test func aBatchWithOneRefusedRecipientDeliversTheOthersOnceAndRejectsThatOne() async throws {
        let smtp = try await TestServices.shared().smtpURL
        let maildir = try await TestMaildir.shared()
        try await TestDatabase.with { url in
            let pool = PostgresPool(url: url, maximumConnections: 2)
            defer { pool.close() }
            let refused = Self.address("refused")
            try maildir.refuse(refused, code: 550)
            let good = (0..<9).map { _ in Self.address("good") }
            var batch = try good.enumerated().map { try Self.incoming($0.offset, to: $0.element) }
            batch.insert(try Self.incoming(9, to: refused), at: 4)
            // Kafka may deliver a message twice in one fetch: the same key again in the batch.
            batch.append(try Self.incoming(10, to: good[0], key: Self.keys(batch[0])))
            let handler = try Self.handler(pool, smtp: smtp)

            let results = await handler.handle(batch: batch)
            #expect(results.count == batch.count)
            for (index, result) in results.enumerated() where index != 4 {
                if case .failure(let error) = result { Issue.record("email \(index) failed: \(error)") }
            }
            guard case .failure(let error as HandlerError) = results[4] else {
                Issue.record("the refused email did not fail: \(results[4])")
                return
            }
            #expect(error.disposition == .permanent)
            #expect(error.errorClass == ErrorClass("smtp_rejected"))
            #expect(error.message.contains("550"))
            #expect(try await Self.status(pool, Self.keys(batch[4])) == "rejected")

            // Delivered again (a redelivery after a crash before the offset commit): nothing sent twice.
            _ = await handler.handle(batch: batch)
            for (index, recipient) in good.enumerated() {
                let mails = try await maildir.waitForMessages(to: recipient, count: 1)
                #expect(mails.count == 1, "\(recipient) got \(mails.count)")
                #expect(try await Self.status(pool, Self.keys(batch[index < 4 ? index : index + 1])) == "delivered")
            }
            try await Task.sleep(for: .milliseconds(500))
            for recipient in good { #expect(try maildir.messages(to: recipient).count == 1) }
            #expect(try maildir.messages(to: refused).isEmpty)
        }
    }

    /// An account email (verify an address, set a password, a notice to admins) as the runtime hands it over.
    static func incomingAccountEmail(_ n: Int, kind: AccountEmailKind, to email: String, link: String?, detail: String? = nil) throws
        -> IncomingMessage
    {
        let user = UUID()
        let envelope = Envelope(
            correlationId: "account", tenantId: Tenants.defaultTenant, actor: .system,
            payload: AccountEmailRequested(
                idempotencyKey: "\(kind.rawValue):\(user.canonical)", kind: kind,
                recipient: EmailRecipient(userId: user, email: email, name: "Account Holder", role: .admin),
                clinicName: "Batch Clinic", link: link, linkExpiresAt: link == nil ? nil : Date().addingTimeInterval(3600), detail: detail))
        let value = try envelope.encoded()
        return IncomingMessage(
            decoded: try Catalogs.notificationEmail.decode(value),
            record: KafkaMessage(
                topic: Topics.notificationEmail.name, partition: 0, offset: Int64(n), key: Data(user.uuidString.utf8), value: value,
                headers: [], timestamp: Date()),
            sourceTopic: Topics.notificationEmail.name, stage: 0, attempt: 1)
    }

    /// Account emails travel on the same topic as appointment emails; they were once dead-lettered
    /// as "not an email request", so a new patient never got the link to verify their address.
    @Test func accountEmailsAreSentOnceWithTheirLinks() async throws {
        let smtp = try await TestServices.shared().smtpURL
        let maildir = try await TestMaildir.shared()
        try await TestDatabase.with { url in
            let pool = PostgresPool(url: url, maximumConnections: 2)
            defer { pool.close() }
            let verify = Self.address("verify"), setPassword = Self.address("set-password")
            let notice = Self.address("notice"), already = Self.address("already")
            let batch = [
                try Self.incomingAccountEmail(0, kind: .verifyEmail, to: verify, link: "https://clinic.test/verify?token=v-123"),
                try Self.incomingAccountEmail(1, kind: .setPassword, to: setPassword, link: "https://clinic.test/set-password?token=s-456"),
                try Self.incomingAccountEmail(2, kind: .alreadyRegistered, to: already, link: nil),
                try Self.incomingAccountEmail(
                    3, kind: .webhookDisabled, to: notice, link: nil, detail: "https://hooks.test/in failed for 24 hours"),
            ]
            let handler = try Self.handler(pool, smtp: smtp)
            for result in await handler.handle(batch: batch) + (await handler.handle(batch: batch)) {
                if case .failure(let error) = result { Issue.record("an account email failed: \(error)") }
            }
            let expected = [
                (verify, "Confirm your email address", "token=v-123"), (setPassword, "set a password", "token=s-456"),
                (already, "tried to register", "sign in"), (notice, "was disabled", "https://hooks.test/in failed for 24 hours"),
            ]
            for (recipient, subject, text) in expected {
                let mails = try await maildir.waitForMessages(to: recipient, count: 1)
                #expect(mails.count == 1, "\(recipient) got \(mails.count)")
                #expect(mails.first?.header("Subject")?.contains(subject) == true, "\(mails.first?.header("Subject") ?? "no subject")")
                #expect(mails.first?.parts.contains { $0.text.contains(text) } == true, "\(recipient): no '\(text)'")
            }
            let kinds = try await pool.query(
                "SELECT kind FROM mail.deliveries WHERE recipient = ANY($1::text[]) AND status = 'delivered' ORDER BY kind",
                [[verify, setPassword, already, notice]]
            ).map { try $0.decode(String.self, 0) }
            #expect(kinds == ["already_registered", "set_password", "verify_email", "webhook_disabled"])
        }
    }

    @Test func aDeliveryIsRecordedThroughAPostgresOutageBetweenThe250AndTheRecord() async throws {
        let smtp = try await TestServices.shared().smtpURL
        let maildir = try await TestMaildir.shared()
        // A PostgreSQL server of this test's own, to stop and start.
        let services = try await ServicesProcess.start(only: ["postgres"])
        defer { Task { try? await services.stop() } }
        let url = try #require(services.env["CAREFLEET_DATABASE_URL"])
        _ = try await Migrator(migrations: Migration.bundled()).migrate(databaseURL: url)
        let pool = PostgresPool(url: url, maximumConnections: 2)
        defer { pool.close() }
        let outages = Locked(0)
        let data = "\(services.directory)/pg"
        let pgctl = "runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D \(data)"
        let hooks = EmailHandlerHooks { _ in
            // The server said 250 to every email; now PostgreSQL goes away for two seconds.
            outages.withLock { $0 += 1 }
            do {
                _ = try await ServicesProcess.run(["-c", "\(pgctl) -m immediate -w stop >/dev/null"])
                Task {
                    try await Task.sleep(for: .seconds(2))
                    _ = try await ServicesProcess.run(
                        ["-c", "\(pgctl) -l \(services.directory)/logs/postgres.log -o \"$(cat \(services.directory)/run/postgres.options)\" -w start >/dev/null"])
                }
            } catch {
                Issue.record("could not stop PostgreSQL: \(error)")
            }
        }
        let recipients = (0..<5).map { _ in Self.address("outage") }
        let batch = try recipients.enumerated().map { try Self.incoming($0.offset, to: $0.element) }
        let handler = try Self.handler(pool, smtp: smtp, hooks: hooks)
        let started = ContinuousClock.now
        let results = await handler.handle(batch: batch)
        #expect(outages.value == 1)
        #expect(ContinuousClock.now - started > .seconds(1.5), "the record waited for PostgreSQL to come back")
        for result in results {
            if case .failure(let error) = result { Issue.record("a delivered email was not recorded: \(error)") }
        }
        for message in batch { #expect(try await Self.status(pool, Self.keys(message)) == "delivered") }

        // Kafka delivers the batch again (the offsets were not committed): nothing is sent twice,
        // and nothing is taken for in doubt.
        let again = await handler.handle(batch: batch)
        #expect(again.allSatisfy { if case .success = $0 { true } else { false } })
        try await Task.sleep(for: .milliseconds(500))
        for recipient in recipients { #expect(try maildir.messages(to: recipient).count == 1, "exactly one copy") }
    }

    @Test func aDeliveryUnknownLetterIsReplayedOnlyWhenTheOperatorAllowsDuplicates() async throws {
        let smtp = try await TestServices.shared().smtpURL
        try await TestFleet.with(workers: .init(booking: false, smtpURL: smtp)) { fleet in
            let maildir = try await TestMaildir.shared()
            let recipient = Self.address("unknown")
            let message = try Self.incoming(0, to: recipient)
            let key = Self.keys(message)
            // A worker died in the middle of this email's SMTP conversation.
            try await fleet.database.query(
                """
                INSERT INTO mail.deliveries (idempotency_key, tenant_id, recipient, kind, status)
                VALUES ($1, $2, $3, 'booked', 'sending')
                """, [key, Tenants.defaultTenant, recipient])
            let producer = try KafkaProducer(config: try await TestKafka.config())
            try await producer.send(
                ProducerRecord(
                    topic: fleet.namespace.topicName(Topics.notificationEmail.name), key: message.record.key, value: message.record.value))
            await producer.close()
            let dlq = fleet.namespace.group(ConsumerGroups.email).deadLetterTopic(of: fleet.namespace.topicName(Topics.notificationEmail.name))
            try await eventually(timeout: .seconds(30), "the email in doubt is dead-lettered") {
                let config = try await TestKafka.config()
                let letters = try await TopicReader(config: config).readAll(dlq, admin: try KafkaAdmin(config: config))
                return letters.count == 1 && letters[0].header(HeaderName.errorClass) == ErrorClass.deliveryUnknown.rawValue
            }
            #expect(ErrorClass.deliveryUnknown.rawValue == "delivery_unknown", "the class operators filter on")

            let environment = ["CAREFLEET_FLEET_NAMESPACE": fleet.namespace.prefix, "CAREFLEET_DATABASE_URL": fleet.databaseURL]
            let refused = try await FleetBinary.run(["dlq", "replay", dlq], environment: environment)
            #expect(refused.status == 0, "\(refused.output)")
            #expect(refused.output.contains("replayed 0"), "\(refused.output)")
            #expect(refused.output.contains("held back 1 delivery_unknown"), "\(refused.output)")
            try await Task.sleep(for: .seconds(2))
            #expect(try maildir.messages(to: recipient).isEmpty, "no copy without the operator's say-so")

            let allowed = try await FleetBinary.run(["dlq", "replay", dlq, "--allow-possible-duplicates"], environment: environment)
            #expect(allowed.output.contains("replayed 1"), "\(allowed.output)")
            _ = try await maildir.waitForMessages(to: recipient, count: 1)
            let again = try await FleetBinary.run(["dlq", "replay", dlq, "--allow-possible-duplicates"], environment: environment)
            #expect(again.output.contains("replayed 0"), "\(again.output)")
            try await Task.sleep(for: .seconds(2))
            #expect(try maildir.messages(to: recipient).count == 1, "replayed once")
        }
    }
}
