import Contracts
import Foundation
import Kafka
import Postgres
import TestSupport
import Testing

@Suite("The email worker as a process", .serialized, .timeLimit(.minutes(4)))
struct EmailWorkerProcessTests {
    @Test func anEmailWorkerKilledMidBatchSendsNoEmailTwice() async throws {
        let smtp = try await TestServices.shared().smtpURL
        try await TestFleet.with(workers: .init(notifications: true)) { fleet in
            let maildir = try await TestMaildir.shared()
            let admin = try await fleet.admin()
            var doctors: [(id: UUID, session: Session)] = []
            for _ in 0..<2 { doctors.append(try await fleet.doctor(by: admin, slotMinutes: 15)) }
            var patients: [Session] = []
            for index in 0..<8 { patients.append(try await fleet.register("Killed \(index)")) }
            var slots: [UUID: [String]] = [:]
            for doctor in doctors { slots[doctor.id] = try await fleet.freeSlots(doctor.id, token: admin.accessToken, days: 2).map(\.startsAt) }
            // Claimed together: a kill can leave at most one batch per partition in doubt.
            let batchSize = 3
            let environment = [
                "CAREFLEET_DATABASE_URL": fleet.databaseURL, "CAREFLEET_FLEET_NAMESPACE": fleet.namespace.prefix,
                "CAREFLEET_SMTP_URL": smtp, "CAREFLEET_EMAIL_RATE_PER_SECOND": "25",
                "CAREFLEET_EMAIL_BATCH_SIZE": String(batchSize),
            ]
            let first = try await ProgramProcess("email-worker", environment: environment)
            let total = 40
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<total {
                    let doctor = doctors[index % 2]
                    let start = try #require(slots[doctor.id]?[index / 2])
                    let patient = patients[index % patients.count]
                    group.addTask { _ = try await fleet.book(patient, doctor: doctor.id, startsAt: start) }
                }
                try await group.waitForAll()
            }
            func count(_ status: String) async throws -> Int {
                try await fleet.database.query("SELECT count(*) FROM mail.deliveries WHERE status = $1", [status])[0].decode(Int.self, 0)
            }
            try await eventually(timeout: .seconds(60), "some emails sent") { try await count("delivered") >= 15 }
            first.signal(SIGKILL)
            _ = await first.waitForExit(timeout: .seconds(10))
            let deliveredAtKill = try await count("delivered")
            #expect(deliveredAtKill < 2 * total, "killed mid-batch")

            let port = try freeLoopbackPort()
            let second = try await ProgramProcess("email-worker", environment: environment.merging(["CAREFLEET_HTTP_PORT": String(port)]) { $1 })
            // 40 bookings: an email to the patient and one to the doctor each. Each ends
            // delivered, or (if the kill cut its SMTP conversation) dead-lettered as unknown.
            try await eventually(timeout: .seconds(90), "every email settled") {
                let delivered = try await count("delivered")
                let unknown = try await count("sending")
                return delivered + unknown == 2 * total && delivered > deliveredAtKill
            }
            try await fleet.caughtUp([ConsumerGroups.email])
            let everyone = patients.map(\.email) + doctors.map(\.session.email)
            let keys = try everyone.flatMap { try maildir.messages(to: $0) }.compactMap { $0.header("X-CareFleet-Key") }
            #expect(Set(keys).count == keys.count, "no email twice: \(keys.count) emails, \(Set(keys).count) keys")
            let delivered = try await count("delivered")
            #expect(keys.count >= delivered && keys.count <= 2 * total)
            let unknown = try await count("sending")
            // Only the batches the kill cut are in doubt: at most one batch per partition (6).
            #expect(unknown <= 6 * batchSize, "\(unknown) in doubt")
            let letters = try await TopicReader(config: try await TestKafka.config()).readAll(
                fleet.namespace.group(ConsumerGroups.email).deadLetterTopic(of: fleet.namespace.topicName(Topics.notificationEmail.name)),
                admin: try KafkaAdmin(config: try await TestKafka.config()))
            #expect(letters.count == unknown, "each email in doubt waits in the dead-letter topic for an operator")
            #expect(letters.allSatisfy { $0.header(HeaderName.errorClass) == "delivery_unknown" })
            // Where its batches' time went, step by step.
            let metrics = try await httpGet("http://127.0.0.1:\(port)/metrics").body
            for phase in ["claim", "send", "record"] {
                #expect(metrics.contains("carefleet_email_batch_phase_seconds_count{phase=\"\(phase)\"}"), "no \(phase) timings")
            }
            second.signal(SIGTERM)
            #expect(await second.waitForExit(timeout: .seconds(15)) == 0)
        }
    }
}
