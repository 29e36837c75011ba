import BlockingCalls
import CCurl
import Dispatch
import Foundation
import Synchronization

/// Where and how to send mail.
public struct SMTPSettings: Sendable {
    /// `smtp://host:port` (plain, or STARTTLS with `requireTLS`) or `smtps://host:port` (TLS).
    public var url: String
    /// With `smtp://`: upgrade with STARTTLS and fail when the server cannot.
    public var requireTLS: Bool
    public var username: String?
    public var password: String?
    /// Whole-transaction limit; a server that does not answer in time is a transient failure.
    public var timeout: Duration
    /// Skip certificate checks (staging relays with self-signed certificates only).
    public var allowInsecureTLS: Bool
    /// Connections kept open between sessions.
    public var idleConnections: Int

    public init(
        url: String, requireTLS: Bool = false, username: String? = nil, password: String? = nil,
        timeout: Duration = .seconds(30), allowInsecureTLS: Bool = false, idleConnections: Int = 8
    ) {
        self.url = url
        self.requireTLS = requireTLS
        self.username = username
        self.password = password
        self.timeout = timeout
        self.allowInsecureTLS = allowInsecureTLS
        self.idleConnections = idleConnections
    }
}

/// What became of one message.
public enum SendOutcome: Sendable, Equatable, CustomStringConvertible {
    /// The server accepted it (2xx).
    case delivered(messageId: String, code: Int, reply: String)
    /// Try again later: a 4xx reply, no connection, or a timeout before the whole message went
    /// out (`code` nil when no reply).
    case transient(code: Int?, reply: String)
    /// Never send it again as is: a 5xx reply.
    case permanent(code: Int, reply: String)
    /// The whole message went out but the connection failed before the server's verdict: it
    /// may have been delivered, so sending it again may make a second copy.
    case unknown(reply: String)

    public var description: String {
        switch self {
        case .delivered(let id, let code, _): "delivered \(id) (\(code))"
        case .transient(let code, let reply): "transient \(code.map(String.init) ?? "-"): \(reply)"
        case .permanent(let code, let reply): "permanent \(code): \(reply)"
        case .unknown(let reply): "unknown: \(reply)"
        }
    }
}

/// Sends mail through libcurl over kept-open connections. Every transfer runs on a thread of
/// its own (`BlockingCall`), never where Swift's tasks run.
///
/// A session (`withSession`) borrows one connection for a run of messages; afterwards the
/// connection waits, still open, for the next session. At most `settings.idleConnections` wait;
/// a session that finds none opens another, so there are as many connections as sessions run
/// at once (a worker's partition concurrency).
public struct SMTPClient: Sendable {
    public let settings: SMTPSettings
    private let options: ConnectionOptions
    private let idle: IdleConnections
    /// libcurl's one-time set-up, run before the first connection (its `CURLcode`).
    private static let globalInit: UInt32 = curl_global_init(Int(CURL_GLOBAL_DEFAULT)).rawValue

    public init(settings: SMTPSettings) {
        self.init(settings: settings, options: ConnectionOptions(settings))
    }

    /// With options as given (tests hand libcurl values it refuses).
    init(settings: SMTPSettings, options: ConnectionOptions) {
        self.settings = settings
        self.options = options
        idle = IdleConnections(limit: settings.idleConnections)
    }

    /// Sends one message over a kept-open connection.
    /// Throws `SMTPSetupError` when libcurl refuses an option (nothing was sent then).
    public func send(_ message: MailMessage, date: Date = Date()) async throws -> SendOutcome {
        try await withSession { try await $0.send(message, date: date) }
    }

    /// Lends one connection to `body` for its whole duration; messages sent through the session
    /// go one after another over it.
    public func withSession<R: Sendable>(_ body: (SMTPSession) async throws -> R) async throws -> R {
        let connection = try await borrow()
        do {
            let value = try await body(SMTPSession(connection: connection))
            idle.giveBack(connection)
            return value
        } catch {
            idle.giveBack(connection)
            throw error
        }
    }

    private func borrow() async throws -> SMTPConnection {
        if let connection = idle.take() { return connection }
        let options = self.options
        return try await Self.run {
            guard Self.globalInit == CURLE_OK.rawValue else {
                throw SMTPSetupError(option: "curl_global_init", code: CURLcode(rawValue: Self.globalInit))
            }
            return try SMTPConnection(options: options)
        }
    }

    /// Runs a blocking libcurl call (it waits for the mail server) on a queue of its own: a shared
    /// concurrent queue would run it on the threads Swift's tasks run on (see `BlockingCall`).
    static func run<R: Sendable>(_ work: @escaping @Sendable () throws -> R) async throws -> R {
        try await BlockingCall.run("carefleet.mail.smtp", work)
    }
}

/// One borrowed connection: messages sent through it go one after another over it.
public struct SMTPSession: Sendable {
    let connection: SMTPConnection

    /// Sends one message. Throws `SMTPSetupError` when libcurl refuses an option (nothing was sent then).
    public func send(_ message: MailMessage, date: Date = Date()) async throws -> SendOutcome {
        let (messageId, data) = message.rendered(date: date)
        let from = message.from.address
        let recipients = message.to.map(\.address)
        let connection = self.connection
        return try await SMTPClient.run {
            try connection.send(from: from, to: recipients, data: data, messageId: messageId)
        }
    }

    /// TCP connections opened so far for this session's connection (1 while it was reused).
    public var connectionsOpened: Int { connection.connectionsOpened }
}

/// Connections waiting, open, for the next session.
private final class IdleConnections: Sendable {
    private let limit: Int
    private let connections = Mutex<[SMTPConnection]>([])

    init(limit: Int) { self.limit = max(0, limit) }

    func take() -> SMTPConnection? { connections.withLock { $0.popLast() } }

    func giveBack(_ connection: SMTPConnection) {
        let kept = connections.withLock { connections -> Bool in
            guard connections.count < limit else { return false }
            connections.append(connection)
            return true
        }
        // A connection not kept says QUIT as it goes: on a thread of its own, not the caller's.
        if !kept { BlockingCall.start("carefleet.mail.smtp.quit") { connection.close() } }
    }
}
