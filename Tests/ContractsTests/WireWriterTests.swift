import Foundation
import Identifiers
import Testing

@testable import Contracts

/// The hand writers of the busy messages (`HotMessageWriters.swift`) must give exactly the bytes
/// the tree encoder gives for the same value: consumers compare, hash and store those bytes, and
/// the wire has one dialect.
@Suite("Wire writer")
struct WireWriterTests {
    /// Text that needs every kind of escape, and some that needs none (slashes are not escaped).
    static let awkward = "Dr. \"Ann\" O'Neil \\ line\nbreak\r\ttab \u{01}\u{1F} é 😀 </script>"
    static let ids = (0..<8).map { _ in UUID() }
    static let when = Date(timeIntervalSince1970: 1_795_000_000.245)
    static let later = Date(timeIntervalSince1970: 1_795_001_800)
    /// Beyond year 9999: the timestamp's other path.
    static let farOff = Date(timeIntervalSince1970: 300_000_000_000)

    static let snapshot = AppointmentSnapshot(
        appointmentId: ids[0], doctorId: ids[1], patientId: ids[2], startsAt: when, endsAt: later, status: .noShow, sequence: -7,
        requestedAt: farOff)
    static let summary = AppointmentSummary(
        appointmentId: ids[0], doctorId: ids[1], doctorName: awkward, patientId: ids[2], patientName: "Zoë", startsAt: when,
        endsAt: later, timeZone: "America/Argentina/Buenos_Aires", status: .confirmed, sequence: Int.max)
    static let recipient = EmailRecipient(userId: ids[2], email: "zoe+1@example.com", name: awkward, role: .patient)

    /// Each writer's type with every optional set: what `everyOptionalIsSetInTheFullSamples` checks.
    static let full: [any WireWritable & Sendable] = [
        Principal(role: .doctor, userId: ids[3]),
        RequestAppointment(
            appointmentId: ids[0], doctorId: ids[1], patientId: ids[2], startsAt: when, endsAt: later, reason: awkward, allowOffGrid: false),
        snapshot,
        AppointmentBooked(commandId: ids[4], appointment: snapshot, reason: awkward),
        AppointmentDeclined(
            commandId: ids[4], commandType: "appointment.request", reason: .slotTaken, doctorId: ids[1], appointmentId: ids[0],
            patientId: ids[2], startsAt: when, endsAt: farOff),
        recipient,
        summary,
        EmailRequested(
            idempotencyKey: "\(ids[5].canonical):\(ids[2].canonical)", kind: .waitlistOffer, recipient: recipient, appointment: summary,
            changedBy: .admin, previousStartsAt: when, declineReason: .offGrid, link: "https://clinic.example/w?t=a/b&c=\"d\"",
            linkExpiresAt: later),
        InAppNotificationCreated(
            notificationId: ids[6], recipientId: ids[2], kind: .rescheduled, title: awkward, body: "", appointmentId: ids[0], createdAt: when),
        Envelope(
            id: ids[7], occurredAt: when, correlationId: awkward, causationId: ids[5], tenantId: ids[3],
            actor: Principal(role: .patient, userId: ids[2]), payload: summaryRequest),
    ]

    static let summaryRequest = EmailRequested(
        idempotencyKey: "k", kind: .booked, recipient: recipient, appointment: summary, changedBy: .patient, previousStartsAt: farOff,
        declineReason: .tooSoon, link: "l", linkExpiresAt: when)

    /// The same types with every optional nil.
    static let sparse: [any WireWritable & Sendable] = [
        Principal.system,
        RequestAppointment(appointmentId: ids[0], doctorId: ids[1], patientId: ids[2], startsAt: when, endsAt: later, reason: nil),
        AppointmentBooked(commandId: ids[4], appointment: snapshot, reason: nil),
        AppointmentDeclined(
            commandId: ids[4], commandType: "", reason: .tenantDisabled, doctorId: ids[1], appointmentId: ids[0], patientId: nil,
            startsAt: nil, endsAt: nil),
        EmailRequested(idempotencyKey: "", kind: .reminder, recipient: recipient, appointment: summary),
        InAppNotificationCreated(
            notificationId: ids[6], recipientId: ids[2], kind: .declined, title: "t", body: awkward, appointmentId: nil, createdAt: farOff),
        Envelope(
            id: ids[7], occurredAt: farOff, correlationId: "", causationId: nil, tenantId: ids[3], actor: .system,
            payload: InAppNotificationCreated(
                notificationId: ids[6], recipientId: ids[2], kind: .booked, title: "", body: "", appointmentId: nil, createdAt: when)),
    ]

    static func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    static func writtenAndTree(_ value: some WireWritable) throws -> (written: String, tree: String) {
        (text(value.wireBytes()), text(try WireEncoder().encodeTree(value)))
    }

    @Test func everyWriterWritesTheBytesOfTheTree() throws {
        for value in Self.full + Self.sparse {
            let (written, tree) = try Self.writtenAndTree(value)
            #expect(written == tree, "\(type(of: value))")
        }
    }

    /// Otherwise a member added to a type (an optional with a default in `init`) could be missing
    /// from its writer, and the comparison above would not see it.
    @Test func everyOptionalIsSetInTheFullSamples() {
        func unset(_ value: Any, path: String) -> [String] {
            Mirror(reflecting: value).children.flatMap { child -> [String] in
                let name = "\(path).\(child.label ?? "?")"
                let inner = Mirror(reflecting: child.value)
                if inner.displayStyle == .optional {
                    guard let wrapped = inner.children.first else { return [name] }
                    return unset(wrapped.value, path: name)
                }
                return inner.displayStyle == .struct && !(child.value is UUID) && !(child.value is Date) ? unset(child.value, path: name) : []
            }
        }
        for value in Self.full {
            #expect(unset(value, path: "\(type(of: value))") == [])
        }
        // And every writer has a full sample.
        let written = Set(Self.full.map { "\(type(of: $0))" })
        for name in ["Principal", "RequestAppointment", "AppointmentSnapshot", "AppointmentBooked", "AppointmentDeclined",
            "EmailRecipient", "AppointmentSummary", "EmailRequested", "InAppNotificationCreated", "Envelope<EmailRequested>"] {
            #expect(written.contains(name), "no full sample of \(name)")
        }
    }

    /// Every golden message, decoded and encoded again: through a writer where its type has one,
    /// through the tree otherwise; the same bytes either way.
    @Test(arguments: ContractsTests.fixtureNames)
    func everyGoldenMessageEncodesAsTheTreeDoes(name: String) throws {
        let catalogs = [
            Catalogs.appointmentCommands, Catalogs.appointmentEvents, Catalogs.notificationEmail, Catalogs.auditEvents,
            Catalogs.inAppNotifications, Catalogs.webhookDeliveries,
        ]
        let data = try ContractsTests.fixture(name)
        let message = try #require(catalogs.lazy.compactMap { try? $0.decode(data) }.first)
        func tree<P: MessagePayload>(_ payload: P) throws -> [UInt8] {
            try WireEncoder().encodeTree(try #require(message.envelope(as: P.self)))
        }
        #expect(Self.text(Array(try message.encoded())) == Self.text(try tree(message.payload)))
    }

    /// A value with a writer is written by it, also inside an envelope (a conditional conformance,
    /// found at run time): this writer writes something the tree never would.
    @Test func theEncoderTakesTheWritersPath() throws {
        let marked = Envelope(correlationId: "c", tenantId: Self.ids[0], actor: .system, payload: Marked())
        #expect(Self.text(try WireEncoder().encodeBytes(Marked())) == #"{"written":true}"#)
        #expect(Self.text(try WireEncoder().encodeBytes(marked)).contains(#""payload":{"written":true}"#))
        #expect(!Self.text(try WireEncoder().encodeTree(marked)).contains("written"))
    }

    @Test(arguments: [0, 7, -1, 10, 99, 100, -100_000, 1_234_567_890, Int.max, Int.min])
    func integersAreWrittenAsStringWritesThem(_ value: Int) {
        var bytes: [UInt8] = []
        WireWriter.appendDecimal(value, to: &bytes)
        #expect(Self.text(bytes) == String(value))
    }
}

/// A payload whose writer differs from its `Encodable` form, to see which one the encoder used.
struct Marked: MessagePayload, WireWritable {
    static let messageType = "test.marked"
    static let version = 1

    func write(to writer: inout WireWriter) {
        writer.object { $0.member("written", true) }
    }
}
