import Foundation

/// `scripts/webhook-receiver` on a free loopback port, with a folder of its own: tests tell it
/// how each path answers (200, 500, 429 with Retry-After, hang, check signatures) and read what
/// it received.
public final class WebhookReceiver: @unchecked Sendable {  // the process is only killed in deinit
    public let port: Int
    public let directory: String
    private let process = Process()

    public struct Mode: Encodable, Sendable {
        public var status: Int
        public var retryAfter: Int?
        public var hangSeconds: Double?
        /// When set, the receiver verifies signatures with it and answers 401 to a wrong one.
        public var secret: String?
        /// How the path's first `count` requests answer instead (status, retryAfter, hangSeconds).
        public var first: First?

        public struct First: Encodable, Sendable {
            public var count: Int
            public var status: Int?
            public var retryAfter: Int?
            public var hangSeconds: Double?

            public init(count: Int = 1, status: Int? = nil, retryAfter: Int? = nil, hangSeconds: Double? = nil) {
                self.count = count
                self.status = status
                self.retryAfter = retryAfter
                self.hangSeconds = hangSeconds
            }
        }

        public init(status: Int = 200, retryAfter: Int? = nil, hangSeconds: Double? = nil, secret: String? = nil, first: First? = nil) {
            self.status = status
            self.retryAfter = retryAfter
            self.hangSeconds = hangSeconds
            self.secret = secret
            self.first = first
        }
    }

    public struct Received: Decodable, Sendable {
        public var path: String
        public var at: Double
        public var webhookId: String?
        public var timestamp: String?
        public var signature: String?
        public var userAgent: String?
        public var body: String
        public var status: Int
        public var verified: Bool?
        public var hung: Bool

        /// The `type` member of the body.
        public var type: String? { (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])?["type"] as? String }
        /// `data.appointment.appointmentId` or `data.appointmentId`, whichever the event has.
        public var appointmentId: String? {
            guard let object = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any],
                let data = object["data"] as? [String: Any]
            else { return nil }
            return ((data["appointment"] as? [String: Any])?["appointmentId"] as? String) ?? data["appointmentId"] as? String
        }
    }

    public init() async throws {
        port = try freeLoopbackPort()
        directory = NSTemporaryDirectory() + "webhook-receiver-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [
            ServicesProcess.projectRoot.appendingPathComponent("scripts/webhook-receiver").path, "--port", String(port), "--dir", directory,
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = ContinuousClock.now + .seconds(10)
        while (try? await httpGet("http://127.0.0.1:\(port)/")) == nil {
            guard ContinuousClock.now < deadline, process.isRunning else { throw FixtureError("the webhook receiver did not start") }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    public func url(_ path: String) -> String { "http://127.0.0.1:\(port)\(path)" }

    /// How each path answers from now on (paths not listed answer 200).
    public func set(_ modes: [String: Mode]) throws {
        let data = try JSONEncoder().encode(modes)
        let target = directory + "/modes.json"
        try data.write(to: URL(fileURLWithPath: target + ".new"))
        // rename(2) replaces the old file at once: the receiver never reads half a file.
        guard rename(target + ".new", target) == 0 else { throw FixtureError("cannot replace \(target)") }
    }

    /// Every POST to `path` so far, in arrival order.
    public func received(_ path: String) -> [Received] {
        guard let text = try? String(contentsOfFile: directory + "/received.jsonl", encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { try? JSONDecoder().decode(Received.self, from: Data($0.utf8)) }
            .filter { $0.path == path }
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        try? FileManager.default.removeItem(atPath: directory)
    }
}
