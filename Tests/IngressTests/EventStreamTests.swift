import Contracts
import Foundation
@testable import Ingress
import Kafka
import Logging
import Postgres
import Prometheus
import ServiceLifecycle
import Synchronization
import TestSupport
import Testing

/// A server-sent-events client for tests: curl reading the stream, events parsed as they come.
final class EventStreamClient: @unchecked Sendable {  // the Process is only started and terminated
    struct Event: Sendable {
        var id: String?
        var name: String
        var data: String
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(data.utf8)) as? [String: Any]) ?? [:] }
    }

    private let process: Process
    private let received = Received()

    final class Received: Sendable {
        let state = Mutex<(events: [Event], comments: Int, text: String, ended: Bool)>(([], 0, "", false))
        func withLock<R: Sendable>(_ body: (inout (events: [Event], comments: Int, text: String, ended: Bool)) -> R) -> R { state.withLock { body(&$0) } }
    }

    init(_ url: String, token: String, lastEventId: String? = nil) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        var arguments = ["-sN", "--max-time", "120", "-H", "Authorization: Bearer \(token)", "-H", "Accept: text/event-stream"]
        if let lastEventId { arguments += ["-H", "Last-Event-ID: \(lastEventId)"] }
        process.arguments = arguments + [url]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        let received = self.received
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            received.withLock { state in
                if data.isEmpty {
                    state.ended = true
                    return
                }
                state.text += String(decoding: data, as: UTF8.self)
                // Complete messages end with a blank line.
                while let end = state.text.range(of: "\n\n") {
                    let block = String(state.text[..<end.lowerBound])
                    state.text.removeSubrange(..<end.upperBound)
                    var event = Event(id: nil, name: "message", data: "")
                    var isEvent = false
                    for line in block.split(separator: "\n", omittingEmptySubsequences: false) {
                        if line.hasPrefix(":") { state.comments += 1 }
                        if line.hasPrefix("id: ") { event.id = String(line.dropFirst(4)) }
                        if line.hasPrefix("event: ") {
                            event.name = String(line.dropFirst(7))
                            isEvent = true
                        }
                        if line.hasPrefix("data: ") { event.data += String(line.dropFirst(6)) }
                    }
                    if isEvent { state.events.append(event) }
                }
            }
        }
        try process.run()
    }

    var events: [Event] { received.withLock { $0.events } }
    var comments: Int { received.withLock { $0.comments } }
    /// The server ended the response: curl exited (it does when the response is complete), or
    /// the pipe reached its end. curl's exit is the reliable sign: the pipe's end can be held
    /// open by any child another test spawns meanwhile, which inherits its writing end.
    var ended: Bool { !process.isRunning || received.withLock { $0.ended } }
    var isRunning: Bool { process.isRunning }
    func named(_ name: String) -> [Event] { events.filter { $0.name == name } }
    /// The id of the last event received (what a browser sends as Last-Event-ID).
    var lastEventId: String? { events.last { $0.id != nil }?.id }

    func close() {
        if process.isRunning { process.terminate() }
    }

    deinit { close() }
}

@Suite("Event streams (server-sent events)", .timeLimit(.minutes(4)))
struct EventStreamTests {
    @Test func aBookingReachesThePatientAndTheDoctorLive() async throws {
        try await TestFleet.with(workers: .init(booking: true, notifications: true, ingressConfig: ["ingress.streams.heartbeat": "300ms"])) { fleet in
            let admin = try await fleet.admin()
            let patient = try await fleet.register("Streamed")
            let doctor = try await fleet.doctor(by: admin)
            let stranger = try await fleet.register("Other")
            let slot = try await fleet.firstFreeSlot(doctor.id, token: patient.accessToken)
            let mine = try EventStreamClient("\(fleet.baseURL)/v1/events/stream", token: patient.accessToken)
            let doctors = try EventStreamClient("\(fleet.baseURL)/v1/events/stream", token: doctor.session.accessToken)
            let others = try EventStreamClient("\(fleet.baseURL)/v1/events/stream", token: stranger.accessToken)
            try await eventually("the streams are open") { mine.comments > 0 && doctors.comments > 0 && others.comments > 0 }

            let requested = ContinuousClock.now
            let appointment = try await fleet.book(patient, doctor: doctor.id, startsAt: slot.startsAt)
            try await eventually(timeout: .seconds(10), "the patient hears of the booking") {
                mine.named("appointment").contains { $0.json["appointmentId"] as? String == appointment }
                    && mine.named("notification").contains { $0.json["kind"] as? String == "booked" }
            }
            #expect(ContinuousClock.now - requested < .seconds(5), "live, not polled")
            let change = try #require(mine.named("appointment").first)
            #expect(change.json["type"] as? String == "appointment.booked")
            #expect((change.json["appointment"] as? [String: Any])?["status"] as? String == "confirmed")
            try await eventually("the doctor hears of it too") {
                doctors.named("notification").contains { $0.json["kind"] as? String == "booked" }
            }
            #expect(others.named("appointment").isEmpty && others.named("notification").isEmpty, "nobody else hears of it")
            #expect(mine.comments > 1, "heartbeat comments keep the stream alive")
            // A stream without a token is refused; an ended session ends its stream.
            #expect(try await fleet.api.get("/v1/events/stream").status == 401)
            #expect(try await fleet.api.post("/v1/auth/logout", token: patient.accessToken).status == 204)
            do {
                try await eventually("the stream of the ended session ends") { mine.ended }
            } catch {
                // Which side held on: the server (no end event), or the client's pipe (curl done).
                Issue.record("end events received: \(mine.named("end").count), curl running: \(mine.isRunning), comments: \(mine.comments)")
                throw error
            }
            // What curl printed before it exited may still be on its way through the pipe.
            try await eventually(timeout: .seconds(5), "the stream says why it ended") { !mine.named("end").isEmpty }
            #expect(mine.named("end").last?.json["reason"] as? String == "session_ended")
        }
    }

    @Test func aReconnectToAnotherCopyResumesWithoutLossOrRepeats() async throws {
        try await TestFleet.with(workers: .init(booking: true, notifications: true, ingressConfig: ["ingress.streams.heartbeat": "300ms"])) { fleet in
            let admin = try await fleet.admin()
            let patient = try await fleet.register("Resumer")
            let doctor = try await fleet.doctor(by: admin)
            let slots = try await fleet.freeSlots(doctor.id, token: patient.accessToken, days: 2)
            let first = try EventStreamClient("\(fleet.baseURL)/v1/events/stream", token: patient.accessToken)
            let one = try await fleet.book(patient, doctor: doctor.id, startsAt: slots[0].startsAt)
            try await eventually("the first booking arrives") { first.named("appointment").contains { $0.json["appointmentId"] as? String == one } }
            try await eventually("and its notification") { first.named("notification").count == 1 }
            let resumeFrom = try #require(first.lastEventId)
            first.close()

            // While the client is away: two more bookings.
            let two = try await fleet.book(patient, doctor: doctor.id, startsAt: slots[1].startsAt)
            let three = try await fleet.book(patient, doctor: doctor.id, startsAt: slots[2].startsAt)
            try await eventually("their notifications are stored") {
                try await fleet.api.get("/v1/notifications", token: patient.accessToken).json["total"] as? Int == 3
            }

            // It comes back to another copy of the ingress, which started after all of it.
            var logger = Logger(label: "test.second")
            logger.logLevel = .critical
            let port = try freeLoopbackPort()
            let second = try await IngressProgram.build(
                try TestFleet.config(
                    namespace: fleet.namespace, databaseURL: fleet.databaseURL, kafka: fleet.kafka,
                    extra: ["http.port": String(port), "ingress.streams.heartbeat": "300ms"]),
                metrics: PrometheusCollectorRegistry(), logger: logger)
            let group = ServiceGroup(services: [second.application(logger: logger)] + second.backgroundTasks, logger: logger)
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                try await eventually("the second copy listens") {
                    (try? await APIClient(baseURL: "http://127.0.0.1:\(port)").get("/health/live").status) == 200
                }
                let resumed = try EventStreamClient("http://127.0.0.1:\(port)/v1/events/stream", token: patient.accessToken, lastEventId: resumeFrom)
                try await eventually(timeout: .seconds(60), "the missed events arrive") {
                    resumed.named("appointment").count >= 2 && resumed.named("notification").count >= 2
                }
                // A fourth booking while connected arrives live after them.
                let four = try await fleet.book(patient, doctor: doctor.id, startsAt: slots[3].startsAt)
                try await eventually("the live one arrives") { resumed.named("appointment").contains { $0.json["appointmentId"] as? String == four } }
                try await Task.sleep(for: .milliseconds(500))  // let any repeat show itself
                let ids = resumed.named("appointment").compactMap { $0.json["appointmentId"] as? String }
                #expect(ids == [two, three, four], "no loss, no repeats, in order")
                #expect(resumed.named("notification").count == 3)
                resumed.close()
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
        }
    }

    @Test func aClientThatDoesNotReadIsDroppedNotBufferedForever() async throws {
        try await TestFleet.with(workers: .none) { fleet in
            // A stream nobody reads.
            let (patient, hub, stream) = try await Self.streamOfNewPatient("Slow", in: fleet)
            #expect(hub.openStreams == 1)
            let producer = try KafkaProducer(config: fleet.kafka)
            let records = try (0..<(hub.bufferLimit + 50)).map { try Self.notification(to: patient, titled: "n\($0)", in: fleet) }
            for record in records { try await producer.send(record) }
            await producer.close()
            // The stream was finished when its buffer overflowed: reading it ends after what it held.
            var count = 0
            for await _ in stream { count += 1 }
            #expect(count <= hub.bufferLimit + 1, "no more than the buffer held")
            #expect(count < records.count)
            try await eventually("the stream is gone from the hub") { hub.openStreams == 0 }
        }
    }

    /// A record on a followed topic that does not decode is skipped, logged and counted; the
    /// stream goes on with the events after it.
    @Test func anEventThatDoesNotDecodeIsCountedAndTheStreamGoesOn() async throws {
        try await TestFleet.with(workers: .none) { fleet in
            let (patient, hub, stream) = try await Self.streamOfNewPatient("Garbled", in: fleet)
            let topic = fleet.namespace.topicName(Topics.inAppNotifications.name)
            let producer = try KafkaProducer(config: fleet.kafka)
            try await producer.send(ProducerRecord(topic: topic, key: patient.userId.canonical, value: Data("{not an envelope".utf8)))
            try await producer.send(Self.notification(to: patient, titled: "after the garbage", in: fleet))
            await producer.close()
            var received: String?
            for await message in stream {
                if case .event(_, "notification", let json) = message {
                    received = String(decoding: json, as: UTF8.self)
                    break
                }
            }
            #expect(received?.contains("after the garbage") == true, "\(received ?? "nothing")")
            #expect(hub.skippedEvents == 1)
        }
    }

    /// A new patient and an event stream of theirs on the fleet's ingress, opened once the feed
    /// follows the topics.
    static func streamOfNewPatient(_ name: String, in fleet: TestFleet) async throws
        -> (patient: Session, hub: EventStreamHub, stream: AsyncStream<StreamMessage>)
    {
        let patient = try await fleet.register(name)
        let hub = try #require(fleet.ingress.streams)
        let user = AuthenticatedUser(id: patient.userId, tenantId: patient.tenantId, role: .patient, sessionId: patient.sessionId)
        try await eventually("the feed follows the topics") { !hub.feed.currentPositions.isEmpty }
        return (patient, hub, try await hub.open(for: user, expiresAt: .distantFuture, lastEventId: nil))
    }

    /// An in-app notification for `patient`, as the notification worker publishes it.
    static func notification(to patient: Session, titled title: String, in fleet: TestFleet) throws -> ProducerRecord {
        let created = InAppNotificationCreated(
            notificationId: .random(), recipientId: patient.userId, kind: .booked, title: title, body: "b", appointmentId: nil,
            createdAt: Date())
        let envelope = Envelope(correlationId: "stream-test", tenantId: patient.tenantId, actor: .system, payload: created)
        return ProducerRecord(
            topic: fleet.namespace.topicName(Topics.inAppNotifications.name), key: patient.userId.canonical, value: try envelope.encoded())
    }
}

@Suite("Database errors caused by input")
struct InputErrorClassificationTests {
    @Test func whatTheLibraryRefusesBeforeSendingIsTheClientsNotA500() {
        #expect(PostgresError(kind: .parameter, message: "a NUL in $1").isCausedByInput)
        #expect(PostgresError(kind: .encoding, message: "NaN is not JSON").isCausedByInput)
        #expect(PostgresError(kind: .server, sqlState: "22008", message: "date out of range").isCausedByInput)
        #expect(!PostgresError(kind: .server, sqlState: "23505", message: "duplicate key").isCausedByInput)
        #expect(!PostgresError(kind: .connection, message: "gone").isCausedByInput)
    }
}
