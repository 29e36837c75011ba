import Foundation
@testable import Mail
import TestSupport
import Testing

@Suite("Mail over SMTP against the aiosmtpd sink", .timeLimit(.minutes(2)))
struct MailTests {
    static func unique(_ name: String) -> String { "\(name)-\(UUID().uuidString.prefix(8).lowercased())@example.test" }

    @Test func aMessageWithACalendarAttachmentArrivesIntact() async throws {
        let endpoints = try await TestServices.shared()
        let recipient = Self.unique("patient")
        let invite = """
            BEGIN:VCALENDAR\r
            VERSION:2.0\r
            METHOD:REQUEST\r
            BEGIN:VEVENT\r
            UID:appointment-1@carefleet\r
            SEQUENCE:0\r
            DTSTART:20261201T100000Z\r
            END:VEVENT\r
            END:VCALENDAR\r

            """
        let client = SMTPClient(settings: SMTPSettings(url: endpoints.smtpURL, timeout: .seconds(10)))
        let outcome = try await client.send(
            MailMessage(
                from: MailAddress("appointments@carefleet.test", name: "CareFleet Clinic"),
                to: [MailAddress(recipient, name: "Zoë Patient")], subject: "Your appointment on 1 December",
                text: "See you then.\n.\nA line with a lone dot above.", html: "<p>See you then.</p>",
                attachments: [
                    MailAttachment(
                        filename: "invite.ics", contentType: "text/calendar; method=REQUEST; charset=UTF-8",
                        data: Data(invite.utf8))
                ]))
        guard case .delivered(let messageId, let code, _) = outcome else {
            Issue.record("not delivered: \(outcome)")
            return
        }
        #expect(code == 250)
        let mails = try await TestMaildir.shared().waitForMessages(to: recipient, count: 1)
        let mail = try #require(mails.first)
        #expect(mails.count == 1)
        #expect(mail.header("From")?.contains("<appointments@carefleet.test>") == true)
        #expect(mail.header("To")?.contains("<\(recipient)>") == true)
        #expect(mail.header("Subject") == "Your appointment on 1 December")
        #expect(mail.header("Message-ID") == messageId)
        #expect(messageId.hasPrefix("<") && messageId.hasSuffix("@carefleet.test>"))
        #expect(mail.header("Date")?.hasSuffix("+0000") == true)
        let calendar = try #require(mail.parts.first { $0.contentType.hasPrefix("text/calendar") })
        #expect(calendar.contentType.contains("method=REQUEST"))
        #expect(calendar.body == Data(invite.utf8), "attachment bytes unchanged")
        #expect(calendar.disposition?.contains("invite.ics") == true)
        let text = try #require(mail.parts.first { $0.contentType.hasPrefix("text/plain") })
        #expect(text.text == "See you then.\n.\nA line with a lone dot above.")
        #expect(mail.parts.contains { $0.contentType.hasPrefix("text/html") })
    }

    @Test func aRecipientRefusedWith550IsPermanent() async throws {
        let endpoints = try await TestServices.shared()
        let refused = Self.unique("refused")
        try await TestMaildir.shared().refuse(refused, code: 550)
        let client = SMTPClient(settings: SMTPSettings(url: endpoints.smtpURL, timeout: .seconds(10)))
        let outcome = try await client.send(
            MailMessage(from: MailAddress("appointments@carefleet.test"), to: [MailAddress(refused)], subject: "Hi", text: "Hi"))
        guard case .permanent(let code, let reply) = outcome else {
            Issue.record("expected permanent, got \(outcome)")
            return
        }
        #expect(code == 550)
        #expect(reply.contains("550"))
        #expect(try await TestMaildir.shared().messages(to: refused).isEmpty)
    }

    @Test func aRecipientDeferredWith451IsTransient() async throws {
        let endpoints = try await TestServices.shared()
        let busy = Self.unique("busy")
        try await TestMaildir.shared().refuse(busy, code: 451)
        let client = SMTPClient(settings: SMTPSettings(url: endpoints.smtpURL, timeout: .seconds(10)))
        let outcome = try await client.send(
            MailMessage(from: MailAddress("appointments@carefleet.test"), to: [MailAddress(busy)], subject: "Hi", text: "Hi"))
        #expect(outcome == .transient(code: 451, reply: "451 4.2.1 <\(busy)>: try again later"))
    }

    @Test func noServerListeningIsTransientWithinTheTimeout() async throws {
        let client = SMTPClient(settings: SMTPSettings(url: "smtp://127.0.0.1:1", timeout: .seconds(3)))
        let started = ContinuousClock.now
        let outcome = try await client.send(
            MailMessage(from: MailAddress("a@carefleet.test"), to: [MailAddress("b@example.test")], subject: "x", text: "x"))
        guard case .transient(let code, _) = outcome else {
            Issue.record("expected transient, got \(outcome)")
            return
        }
        #expect(code == nil)
        #expect(ContinuousClock.now - started < .seconds(5))
    }

    @Test func messagesOfOneSessionShareOneConnection() async throws {
        let endpoints = try await TestServices.shared()
        let recipients = (0..<5).map { _ in Self.unique("reused") }
        let client = SMTPClient(settings: SMTPSettings(url: endpoints.smtpURL, timeout: .seconds(10)))
        let opened = try await client.withSession { session in
            for recipient in recipients {
                let outcome = try await session.send(
                    MailMessage(from: MailAddress("a@carefleet.test"), to: [MailAddress(recipient)], subject: "Hi", text: "Hi"))
                guard case .delivered = outcome else { throw FixtureError("not delivered: \(outcome)") }
            }
            return session.connectionsOpened
        }
        #expect(opened == 1, "one TCP connection for five messages")
        for recipient in recipients { #expect(try await TestMaildir.shared().waitForMessages(to: recipient, count: 1).count == 1) }
        // The next session takes the same connection, still open.
        let later = try await client.withSession { session in
            _ = try await session.send(
                MailMessage(from: MailAddress("a@carefleet.test"), to: [MailAddress(Self.unique("later"))], subject: "Hi", text: "Hi"))
            return session.connectionsOpened
        }
        #expect(later == 1)
    }

    @Test func aRefusedRecipientDoesNotSpoilTheSessionForTheNext() async throws {
        let endpoints = try await TestServices.shared()
        let refused = Self.unique("refused")
        let welcome = Self.unique("welcome")
        try await TestMaildir.shared().refuse(refused, code: 550)
        let client = SMTPClient(settings: SMTPSettings(url: endpoints.smtpURL, timeout: .seconds(10)))
        let outcomes = try await client.withSession { session in
            [
                try await session.send(
                    MailMessage(from: MailAddress("a@carefleet.test"), to: [MailAddress(refused)], subject: "Hi", text: "Hi")),
                try await session.send(
                    MailMessage(from: MailAddress("a@carefleet.test"), to: [MailAddress(welcome)], subject: "Hi", text: "Hi")),
            ]
        }
        guard case .permanent(550, _) = outcomes[0], case .delivered = outcomes[1] else {
            Issue.record("expected 550 then delivered: \(outcomes)")
            return
        }
        #expect(try await TestMaildir.shared().waitForMessages(to: welcome, count: 1).count == 1)
    }

    @Test func anOptionLibcurlRefusesIsANamedErrorAndNothingIsSent() async throws {
        let endpoints = try await TestServices.shared()
        let recipient = Self.unique("oversized")
        // libcurl refuses strings over 8 MB (CURL_MAX_INPUT_LENGTH).
        let client = SMTPClient(
            settings: SMTPSettings(url: endpoints.smtpURL, username: String(repeating: "u", count: 8_000_001), timeout: .seconds(10)))
        do {
            let outcome = try await client.send(
                MailMessage(from: MailAddress("a@carefleet.test"), to: [MailAddress(recipient)], subject: "x", text: "x"))
            Issue.record("expected an SMTPSetupError, got \(outcome)")
        } catch let error as SMTPSetupError {
            #expect(error.option == "CURLOPT_USERNAME")
            #expect(error.code == 43, "CURLE_BAD_FUNCTION_ARGUMENT")
        }
        try await Task.sleep(for: .milliseconds(300))
        #expect(try await TestMaildir.shared().messages(to: recipient).isEmpty)
    }

    @Test func whenLibcurlRefusesTLSNoMailGoesOutInClear() async throws {
        let endpoints = try await TestServices.shared()
        let recipient = Self.unique("clear")
        let settings = SMTPSettings(url: endpoints.smtpURL, requireTLS: true, timeout: .seconds(10))
        var options = ConnectionOptions(settings)
        options.set("CURLOPT_USE_SSL", to: .long(99))  // no such level: libcurl refuses it
        let client = SMTPClient(settings: settings, options: options)
        do {
            let outcome = try await client.send(
                MailMessage(from: MailAddress("a@carefleet.test"), to: [MailAddress(recipient)], subject: "x", text: "x"))
            Issue.record("expected an SMTPSetupError, got \(outcome)")
        } catch let error as SMTPSetupError {
            #expect(error.option == "CURLOPT_USE_SSL")
            #expect(error.description.contains("CURLOPT_USE_SSL"))
        }
        try await Task.sleep(for: .milliseconds(300))
        #expect(try await TestMaildir.shared().messages(to: recipient).isEmpty, "nothing sent in clear")
    }

    @Test func headerInjectionThroughSubjectOrNameIsImpossible() {
        let message = MailMessage(
            from: MailAddress("a@carefleet.test", name: "Evil\r\nBcc: victim@example.test"),
            to: [MailAddress("b@example.test")], subject: "Hello\r\nBcc: victim@example.test", text: "x")
        let raw = String(decoding: message.rendered().data, as: UTF8.self)
        #expect(!raw.contains("\r\nBcc:"))
    }

    @Test func aDisplayNameIsQuotedWithItsQuotesAndBackslashesEscaped() {
        let message = MailMessage(
            from: MailAddress("a@carefleet.test", name: #"Clinic "North" \ East"#), to: [MailAddress("b@example.test")], subject: "Hi", text: "x")
        let raw = String(decoding: message.rendered().data, as: UTF8.self)
        #expect(raw.contains(#"From: "Clinic \"North\" \\ East" <a@carefleet.test>"#), "\(raw)")
    }

    @Test func longNonASCIISubjectsAreSplitIntoEncodedWordsOfAtMost75Characters() throws {
        let subject = "Rendez-vous confirmé avec Dr. Zoë Ångström-Ñúñez le 3 décembre à 09:30 — 東京クリニック 🙂 " + String(repeating: "é", count: 40)
        let message = MailMessage(from: MailAddress("a@carefleet.test", name: "Clinique Été"), to: [MailAddress("b@example.test")], subject: subject, text: "x")
        let raw = String(decoding: message.rendered().data, as: UTF8.self)
        let head = try #require(raw.components(separatedBy: "\r\n\r\n").first)
        let lines = head.components(separatedBy: "\r\n")
        let start = try #require(lines.firstIndex { $0.hasPrefix("Subject: ") })
        var subjectLines = [String(lines[start].dropFirst("Subject: ".count))]
        for line in lines[(start + 1)...] {
            guard line.hasPrefix(" ") else { break }
            subjectLines.append(String(line.dropFirst()))
        }
        #expect(subjectLines.count > 1, "a long subject takes several words")
        var decoded = Data()
        for word in subjectLines {
            #expect(word.count <= 75, "\(word.count) characters: \(word)")
            #expect(word.hasPrefix("=?UTF-8?B?") && word.hasSuffix("?="))
            decoded.append(try #require(Data(base64Encoded: String(word.dropFirst(10).dropLast(2)))))
        }
        #expect(String(decoding: decoded, as: UTF8.self) == subject, "the words read back as the subject, no character cut in two")
        #expect(lines.allSatisfy { $0.utf8.count <= 998 })
    }
}
