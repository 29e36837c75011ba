import Contracts
import Foundation
import Kafka
import TestSupport
import Testing
import Webhooks

/// Registering endpoints: who may, and what an address may be.
@Suite("Webhook routes (in process)")
struct WebhookRouteTests {
    @Test func onlyAdminsRegisterAndTheSecretIsShownOnce() async throws {
        let harness = RouteTests.Harness()
        try await harness.world.account("admin@hooks.test", role: .admin)
        try await harness.world.account("patient@hooks.test", role: .patient)
        try await harness.run { client in
            let patient = try await client.token("patient@hooks.test").access
            let token = try await client.token("admin@hooks.test").access
            let body = #"{"url":"https://hooks.example.com/carefleet","eventTypes":["appointment.booked"]}"#
            #expect(try await client.send(.post, "/v1/webhooks", json: body, token: patient).status == 403)
            #expect(try await client.send(.get, "/v1/webhooks", token: patient).status == 403)
            let created = try await client.send(.post, "/v1/webhooks", json: body, token: token)
            #expect(created.status == 201, "\(created.text)")
            let secret = try #require(created.json["secret"] as? String)
            #expect(secret.hasPrefix("whsec_") && WebhookSigning.key(of: secret) != nil)
            let list = try await client.send(.get, "/v1/webhooks", token: token)
            #expect(list.status == 200)
            #expect(!list.text.contains(secret), "a listing never shows the secret")
            let id = try #require(((list.json["items"] as? [[String: Any]])?.first)?["id"] as? String)
            #expect(try await client.send(.get, "/v1/webhooks/\(id)/deliveries", token: token).status == 200)
            #expect(try await client.send(.get, "/v1/webhooks/\(UUID())/deliveries", token: token).status == 404)
            #expect(try await client.send(.get, "/v1/webhooks/\(id)/deliveries?limit=-1", token: token).status == 400)
            #expect(try await client.send(.post, "/v1/webhooks/\(id)/disable", token: token).status == 204)
            #expect(try await client.send(.post, "/v1/webhooks/\(id)/enable", token: token).status == 204)
        }
    }

    @Test(
        "an endpoint address the worker must not call, or that is not one, is refused naming the field",
        arguments: [
            ("http://hooks.example.com/in", "url"), ("https://127.0.0.1/in", "url"), ("https://localhost:8080/in", "url"),
            ("https://10.1.2.3/in", "url"), ("https://169.254.169.254/latest", "url"), ("https://[::1]/in", "url"),
            ("https://2130706433/in", "url"), ("https://user:pw@hooks.example.com/in", "url"), ("ftp://hooks.example.com/in", "url"),
            ("https://hooks.example.com/in\\u0000", "url"), (" https://hooks.example.com/in", "url"), ("https://db/in", "url"),
            ("https://hooks.example.com/" + String(repeating: "a", count: 3000), "url"), ("https://[::ffff:7f00:1]/in", "url"),
            ("https://[fe80::1%25eth0]/in", "url"), ("https://100.100.100.200/in", "url"), ("https://010.0.0.1/in", "url"),
        ])
    func refusedAddresses(url: String, field: String) async throws {
        let harness = RouteTests.Harness()
        try await harness.world.account("admin@hooks.test", role: .admin)
        try await harness.run { client in
            let token = try await client.token("admin@hooks.test").access
            let answer = try await client.send(.post, "/v1/webhooks", json: #"{"url":"\#(url)"}"#, token: token)
            #expect(answer.status == 422 || answer.status == 400, "\(url): \(answer.status) \(answer.text)")
            #expect(answer.field == field, "\(url): \(answer.text)")
        }
    }

    @Test func unknownEventTypesAndTooManyEndpointsAreRefused() async throws {
        let harness = RouteTests.Harness()
        try await harness.world.account("admin@hooks.test", role: .admin)
        try await harness.run { client in
            let token = try await client.token("admin@hooks.test").access
            let unknown = try await client.send(
                .post, "/v1/webhooks", json: #"{"url":"https://hooks.example.com/a","eventTypes":["appointment.booked","x.y"]}"#,
                token: token)
            #expect(unknown.status == 422 || unknown.status == 400, "\(unknown.text)")
            #expect(unknown.field == "eventTypes[1]")
            let none = try await client.send(.post, "/v1/webhooks", json: #"{"url":"https://hooks.example.com/a","eventTypes":[]}"#, token: token)
            #expect(none.field == "eventTypes")
            for index in 0..<WebhookRules.maximumEndpointsPerTenant {
                let answer = try await client.send(.post, "/v1/webhooks", json: #"{"url":"https://hooks.example.com/\#(index)"}"#, token: token)
                try #require(answer.status == 201)
            }
            let over = try await client.send(.post, "/v1/webhooks", json: #"{"url":"https://hooks.example.com/over"}"#, token: token)
            #expect(over.status == 409 && over.code == "too_many_endpoints")
        }
    }
}

/// Which addresses a webhook may reach, and the poster keeping to it when it connects.
@Suite("Webhook addresses")
struct WebhookAddressTests {
    @Test func theFleetsOwnNetworkIsPrivateAndTheInternetIsNot() {
        for address in [
            "127.0.0.1", "10.0.0.5", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
            "224.0.0.1", "255.255.255.255", "198.18.0.1", "192.0.0.8", "::1", "::", "fd00::1", "fc12::1", "fe80::1", "fec0::1",
            "ff02::1", "::ffff:10.1.2.3", "::ffff:127.0.0.1", "64:ff9b::a9fe:a9fe", "::127.0.0.1",
        ] {
            #expect(WebhookAddressPolicy.isPrivate(literal: address) == true, "\(address)")
        }
        for address in [
            "8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "169.253.0.1", "192.0.2.1", "2001:4860:4860::8888", "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            #expect(WebhookAddressPolicy.isPrivate(literal: address) == false, "\(address)")
        }
        #expect(WebhookAddressPolicy.isPrivate(literal: "hooks.example.com") == nil)
        #expect(WebhookAddressPolicy.isPrivate(literal: "010.0.0.1") == nil, "not a literal inet_pton reads; the route refuses it")
    }

    /// A name is checked by what it resolves to when the POST connects (`localhost` stands for a
    /// public name rebound to an address of the fleet's network): nothing reaches the receiver.
    @Test func thePosterNeverConnectsToAPrivateAddressUnlessAllowed() async throws {
        let receiver = try await WebhookReceiver()
        try receiver.set(["/in": .init(status: 200)])
        let guarded = WebhookPoster(timeout: .seconds(5))
        for url in ["http://localhost:\(receiver.port)/in", "http://127.0.0.1:\(receiver.port)/in", "http://[::ffff:127.0.0.1]:\(receiver.port)/in"] {
            let outcome = await guarded.post(url: url, headers: [], body: "{}")
            guard case .refused(let reason) = outcome else {
                Issue.record("\(url): \(outcome)")
                continue
            }
            #expect(reason.contains("127.0.0.1") || reason.contains("0:0:0:0:0:0:0:1") || reason.contains("ffff"), "\(reason)")
        }
        #expect(receiver.received("/in").isEmpty, "nothing was sent")
        let allowed = WebhookPoster(timeout: .seconds(5), allowPrivateAddresses: true)
        #expect(await allowed.post(url: "http://localhost:\(receiver.port)/in", headers: [], body: "{}") == .answered(status: 200, retryAfter: nil))
        #expect(receiver.received("/in").count == 1)
    }
}

/// The webhook worker against the real broker, PostgreSQL and an HTTP receiver on loopback.
@Suite("Webhooks", .serialized, .timeLimit(.minutes(5)))
struct WebhookTests {
    static func register(_ fleet: TestFleet, _ admin: Session, url: String, eventTypes: [String]? = nil) async throws
        -> (id: String, secret: String)
    {
        var body: [String: Any] = ["url": url]
        if let eventTypes { body["eventTypes"] = eventTypes }
        let answer = try await fleet.api.post("/v1/webhooks", body, token: admin.accessToken)
        try #require(answer.status == 201, "\(answer.text)")
        let endpoint = try #require(answer.json["endpoint"] as? [String: Any])
        return (try #require(endpoint["id"] as? String), try #require(answer.json["secret"] as? String))
    }

    static func log(_ fleet: TestFleet, _ admin: Session, endpoint: String) async throws -> [[String: Any]] {
        let answer = try await fleet.api.get("/v1/webhooks/\(endpoint)/deliveries", token: admin.accessToken)
        try #require(answer.status == 200, "\(answer.text)")
        return try #require(answer.json["items"] as? [[String: Any]])
    }

    static func endpointStatus(_ fleet: TestFleet, _ admin: Session, _ endpoint: String) async throws -> [String: Any]? {
        let answer = try await fleet.api.get("/v1/webhooks", token: admin.accessToken)
        return (answer.json["items"] as? [[String: Any]])?.first { $0["id"] as? String == endpoint }
    }

    @Test func anEndpointDownFor20SecondsGetsEveryEventOnceInOrderAndSigned() async throws {
        let receiver = try await WebhookReceiver()
        try await TestFleet.with(workers: .init(webhooks: ["worker.retry.backoff.max": "2s"])) { fleet in
            let admin = try await fleet.admin()
            let doctor = try await fleet.doctor(by: admin)
            let patient = try await fleet.register("Hooked")
            let endpoint = try await Self.register(fleet, admin, url: receiver.url("/down"))
            try receiver.set(["/down": .init(status: 503, secret: endpoint.secret)])
            let slots = try await fleet.freeSlots(doctor.id, token: patient.accessToken)
            let first = try await fleet.book(patient, doctor: doctor.id, startsAt: slots[0].startsAt).lowercased()
            let second = try await fleet.book(patient, doctor: doctor.id, startsAt: slots[1].startsAt).lowercased()
            try await fleet.act("cancel", on: first, ["reason": "plans changed"], as: patient)
            try await fleet.act("cancel", on: second, ["reason": "plans changed"], as: patient)
            try await eventually(timeout: .seconds(20), "the endpoint is tried") { !receiver.received("/down").isEmpty }
            try await Task.sleep(for: .seconds(20))
            #expect(receiver.received("/down").allSatisfy { $0.status == 503 }, "nothing delivered while it was down")
            try receiver.set(["/down": .init(status: 200, secret: endpoint.secret)])
            try await eventually(timeout: .seconds(30), "every event delivered") {
                receiver.received("/down").filter { $0.status == 200 }.count >= 4
            }
            try await fleet.caughtUp([ConsumerGroups.webhook])
            let all = receiver.received("/down")
            let delivered = all.filter { $0.status == 200 }
            #expect(delivered.count == 4, "each event once: \(delivered.map { $0.type ?? "?" })")
            #expect(Set(delivered.compactMap(\.webhookId)).count == 4)
            // One endpoint's events in the order they happened: the tries never go back to an earlier event.
            var tried: [String] = []
            for request in all where tried.last != request.webhookId { tried.append(request.webhookId ?? "") }
            #expect(tried == delivered.map { $0.webhookId ?? "" }, "tries in order: \(tried)")
            for appointment in [first, second] {
                #expect(
                    delivered.filter { $0.appointmentId?.lowercased() == appointment }.map { $0.type ?? "" }
                        == ["appointment.booked", "appointment.cancelled"])
            }
            // Signed: the receiver verified every request with the secret; another secret does not verify.
            #expect(all.allSatisfy { $0.verified == true })
            let sample = try #require(delivered.first)
            let timestamp = try #require(Int(sample.timestamp ?? ""))
            #expect(abs(Double(timestamp) - sample.at) < 60)
            #expect(
                WebhookSigning.verify(
                    id: sample.webhookId ?? "", timestamp: timestamp, body: sample.body, signatures: sample.signature ?? "",
                    secret: endpoint.secret))
            #expect(
                !WebhookSigning.verify(
                    id: sample.webhookId ?? "", timestamp: timestamp, body: sample.body, signatures: sample.signature ?? "",
                    secret: WebhookSigning.newSecret()))
            // The delivery log says what happened.
            let log = try await Self.log(fleet, admin, endpoint: endpoint.id)
            #expect(log.count == 4)
            #expect(log.allSatisfy { $0["status"] as? String == "delivered" && $0["lastStatusCode"] as? Int == 200 })
            #expect(log.contains { ($0["attempts"] as? Int ?? 0) >= 5 }, "the first event was tried while the endpoint was down")
            let status = try await Self.endpointStatus(fleet, admin, endpoint.id)
            #expect(status?["status"] as? String == "active" && status?["failingSince"] == nil)
        }
    }

    @Test func retryAfterIsHonouredRefusalsAreDeadLetteredAndOnlySubscribedTypesSent() async throws {
        let receiver = try await WebhookReceiver()
        try await TestFleet.with(workers: .init(webhooks: ["webhook.timeout": "1s"])) { fleet in
            let admin = try await fleet.admin()
            let doctor = try await fleet.doctor(by: admin)
            let patient = try await fleet.register("Busy")
            // A receiver that does not answer within the worker's timeout is tried again.
            let slow = try await Self.register(fleet, admin, url: receiver.url("/slow"), eventTypes: ["appointment.booked"])
            let busy = try await Self.register(fleet, admin, url: receiver.url("/busy"), eventTypes: ["appointment.booked"])
            let wrong = try await Self.register(fleet, admin, url: receiver.url("/wrong-secret"), eventTypes: ["appointment.booked"])
            // The receiver of /wrong-secret holds another secret: it refuses every delivery (401).
            // /busy answers its first request 429 with Retry-After 3; /slow does not answer its first
            // within the worker's timeout. (Endpoints may share a partition: no answer waits on a test step.)
            try receiver.set([
                "/busy": .init(status: 200, secret: busy.secret, first: .init(status: 429, retryAfter: 3)),
                "/wrong-secret": .init(status: 200, secret: WebhookSigning.newSecret()), "/slow": .init(status: 200, first: .init(hangSeconds: 5)),
            ])
            let slot = try await fleet.firstFreeSlot(doctor.id, token: patient.accessToken)
            let appointment = try await fleet.book(patient, doctor: doctor.id, startsAt: slot.startsAt)
            try await fleet.act("cancel", on: appointment, ["reason": "plans changed"], as: patient)
            try await eventually(timeout: .seconds(20), "delivered after Retry-After") { receiver.received("/busy").count >= 2 }
            try await fleet.caughtUp([ConsumerGroups.webhook])
            let tries = receiver.received("/busy")
            #expect(tries.count == 2 && tries[1].status == 200, "\(tries.map(\.status))")
            // The ladder's first backoff is 1 s; the receiver asked for 3.
            #expect(tries[1].at - tries[0].at >= 2.9, "waited \(tries[1].at - tries[0].at) s")
            #expect(tries.allSatisfy { $0.type == "appointment.booked" }, "the cancellation is not subscribed")

            try await eventually(timeout: .seconds(20), "the slow endpoint answers in time at last") {
                receiver.received("/slow").contains { !$0.hung }
            }
            let slowLog = try await Self.log(fleet, admin, endpoint: slow.id)
            #expect(slowLog.first?["status"] as? String == "delivered")
            #expect((slowLog.first?["attempts"] as? Int ?? 0) >= 2, "timed out first: \(slowLog)")
            #expect(receiver.received("/slow").filter { !$0.hung }.count == 1)

            let refused = receiver.received("/wrong-secret")
            #expect(refused.count == 1, "a 4xx is not retried: \(refused.count)")
            #expect(refused.first?.verified == false && refused.first?.status == 401)
            let log = try await Self.log(fleet, admin, endpoint: wrong.id)
            #expect(log.count == 1)
            #expect(log.first?["status"] as? String == "failed" && log.first?["lastStatusCode"] as? Int == 401)
            let kafka = try await TestKafka.config()
            let letters = try await TopicReader(config: kafka).readAll(
                fleet.namespace.group(ConsumerGroups.webhook).deadLetterTopic(of: fleet.namespace.topicName(Topics.webhookDeliveries.name)),
                admin: try KafkaAdmin(config: kafka))
            #expect(letters.count == 1)
            #expect(letters.first?.header(HeaderName.errorClass) == "webhook_rejected")
        }
    }

    /// Registered while its name pointed elsewhere (the test's ingress allows loopback; the
    /// worker, as in production, does not): the delivery is refused at connect time, logged and
    /// dead-lettered, not retried.
    @Test func anEndpointThatResolvesToTheFleetsNetworkIsNeverCalled() async throws {
        let receiver = try await WebhookReceiver()
        try receiver.set(["/rebound": .init(status: 200)])
        try await TestFleet.with(workers: .init(webhooks: ["webhooks.allow.private.addresses": "false"])) { fleet in
            let admin = try await fleet.admin()
            let doctor = try await fleet.doctor(by: admin)
            let patient = try await fleet.register("Rebound")
            let endpoint = try await Self.register(
                fleet, admin, url: "http://localhost:\(receiver.port)/rebound", eventTypes: ["appointment.booked"])
            let slot = try await fleet.firstFreeSlot(doctor.id, token: patient.accessToken)
            _ = try await fleet.book(patient, doctor: doctor.id, startsAt: slot.startsAt)
            let kafka = try await TestKafka.config()
            let deadLetters = fleet.namespace.group(ConsumerGroups.webhook).deadLetterTopic(
                of: fleet.namespace.topicName(Topics.webhookDeliveries.name))
            var letters: [KafkaMessage] = []
            try await eventually(timeout: .seconds(30), "the delivery is dead-lettered") {
                letters = try await TopicReader(config: kafka).readAll(deadLetters, admin: try KafkaAdmin(config: kafka))
                return !letters.isEmpty
            }
            try await fleet.caughtUp([ConsumerGroups.webhook])
            #expect(letters.count == 1)
            #expect(letters.first?.header(HeaderName.errorClass) == "endpoint_address_refused")
            #expect(receiver.received("/rebound").isEmpty, "the worker never connected")
            let log = try await Self.log(fleet, admin, endpoint: endpoint.id)
            #expect(log.first?["status"] as? String == "failed")
            #expect((log.first?["lastError"] as? String)?.contains("resolves to") == true, "\(log)")
            #expect(log.first?["attempts"] as? Int == 1)
        }
    }

    @Test func anEndpointFailingTooLongIsDisabledItsAdminToldAndItsDeliveriesReplayedOnceEnabled() async throws {
        let receiver = try await WebhookReceiver()
        let smtp = try await TestServices.shared().smtpURL
        let maildir = try await TestMaildir.shared()
        try await TestFleet.with(
            workers: .init(smtpURL: smtp, webhooks: ["webhook.disable.after": "3s", "worker.retry.backoff.max": "1s"])
        ) { fleet in
            let admin = try await fleet.admin()
            let doctor = try await fleet.doctor(by: admin)
            let patient = try await fleet.register("Disabled")
            let endpoint = try await Self.register(fleet, admin, url: receiver.url("/broken"))
            try receiver.set(["/broken": .init(status: 500)])
            let slot = try await fleet.firstFreeSlot(doctor.id, token: patient.accessToken)
            _ = try await fleet.book(patient, doctor: doctor.id, startsAt: slot.startsAt)
            try await eventually(timeout: .seconds(30), "the endpoint disabled") {
                try await Self.endpointStatus(fleet, admin, endpoint.id)?["status"] as? String == "disabled"
            }
            let notices = try await maildir.waitForMessages(to: admin.email, count: 1)
            #expect(notices.count == 1)
            #expect(notices.first?.header("Subject")?.contains("disabled") == true)
            #expect(notices.first?.parts.contains { $0.text.contains(receiver.url("/broken")) } == true)
            let dlq = fleet.namespace.group(ConsumerGroups.webhook).deadLetterTopic(
                of: fleet.namespace.topicName(Topics.webhookDeliveries.name))
            let kafka = try await TestKafka.config()
            try await eventually(timeout: .seconds(20), "the delivery dead-lettered") {
                try await TopicReader(config: kafka).readAll(dlq, admin: try KafkaAdmin(config: kafka)).count == 1
            }
            let failedTries = receiver.received("/broken")
            #expect(failedTries.allSatisfy { $0.status == 500 })

            // Fixed and enabled again: the operator replays the dead letters, and it arrives once.
            try receiver.set([:])
            let enabled = try await fleet.api.post("/v1/webhooks/\(endpoint.id)/enable", token: admin.accessToken)
            #expect(enabled.status == 204)
            let environment = ["CAREFLEET_FLEET_NAMESPACE": fleet.namespace.prefix, "CAREFLEET_DATABASE_URL": fleet.databaseURL]
            let replay = try await FleetBinary.run(["dlq", "replay", dlq], environment: environment)
            #expect(replay.status == 0 && replay.output.contains("replayed 1"), "\(replay.output)")
            try await eventually(timeout: .seconds(20), "delivered after the replay") {
                receiver.received("/broken").contains { $0.status == 200 }
            }
            try await fleet.caughtUp([ConsumerGroups.webhook])
            let delivered = receiver.received("/broken").filter { $0.status == 200 }
            #expect(delivered.count == 1)
            #expect(delivered.first?.webhookId == failedTries.first?.webhookId, "the same webhook-id as the failed tries")
            #expect(try await Self.log(fleet, admin, endpoint: endpoint.id).first?["status"] as? String == "delivered")
            try await Task.sleep(for: .milliseconds(500))
            #expect(try maildir.messages(to: admin.email).count == 1, "one notice")
        }
    }

    @Test func aWorkerKilledMidDeliveryDeliversAgainWithTheSameIdAndLosesNothing() async throws {
        let receiver = try await WebhookReceiver()
        try await TestFleet.with(workers: .init()) { fleet in
            let admin = try await fleet.admin()
            let doctor = try await fleet.doctor(by: admin)
            let patient = try await fleet.register("Killed")
            let endpoint = try await Self.register(fleet, admin, url: receiver.url("/slow"), eventTypes: ["appointment.booked"])
            try receiver.set(["/slow": .init(status: 200, hangSeconds: 60, secret: endpoint.secret)])
            let environment = [
                "CAREFLEET_DATABASE_URL": fleet.databaseURL, "CAREFLEET_FLEET_NAMESPACE": fleet.namespace.prefix,
                "CAREFLEET_WEBHOOK_TIMEOUT": "60s",
            ]
            let first = try await ProgramProcess("webhook-worker", environment: environment)
            let slots = try await fleet.freeSlots(doctor.id, token: patient.accessToken)
            for slot in slots.prefix(3) { _ = try await fleet.book(patient, doctor: doctor.id, startsAt: slot.startsAt) }
            try await eventually(timeout: .seconds(30), "the first delivery under way") { !receiver.received("/slow").isEmpty }
            first.signal(SIGKILL)
            _ = await first.waitForExit(timeout: .seconds(10))
            let cut = try #require(receiver.received("/slow").first)

            try receiver.set(["/slow": .init(status: 200, secret: endpoint.secret)])
            let second = try await ProgramProcess("webhook-worker", environment: environment)
            try await eventually(timeout: .seconds(60), "every booking delivered") {
                Set(receiver.received("/slow").filter { !$0.hung }.compactMap(\.webhookId)).count == 3
            }
            try await fleet.caughtUp([ConsumerGroups.webhook])
            let answered = receiver.received("/slow").filter { !$0.hung }
            #expect(answered.count == 3, "each delivered once after the restart: \(answered.map { $0.webhookId ?? "" })")
            #expect(answered.first?.webhookId == cut.webhookId, "the cut delivery again, first, with its webhook-id")
            #expect(answered.allSatisfy { $0.verified == true })
            second.signal(SIGTERM)
            #expect(await second.waitForExit(timeout: .seconds(15)) == 0)
        }
    }
}
