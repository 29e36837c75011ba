import CCurl
import Dispatch
import Foundation

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

    public init(
        url: String, requireTLS: Bool = false, username: String? = nil, password: String? = nil,
        timeout: Duration = .seconds(30), allowInsecureTLS: Bool = false
    ) {
        self.url = url
        self.requireTLS = requireTLS
        self.username = username
        self.password = password
        self.timeout = timeout
        self.allowInsecureTLS = allowInsecureTLS
    }
}

/// What became of one message.
public enum SendOutcome: Sendable, Equatable, CustomStringConvertible {
    /// The server accepted it (2xx).
    case delivered(messageId: String, code: Int, reply: String)
    /// Try again later: a 4xx reply, no connection, or a timeout (`code` nil when no reply).
    case transient(code: Int?, reply: String)
    /// Never send it again as is: a 5xx reply.
    case permanent(code: Int, reply: String)

    public var description: String {
        switch self {
        case .delivered(let id, let code, _): "delivered \(id) (\(code))"
        case .transient(let code, let reply): "transient \(code.map(String.init) ?? "-"): \(reply)"
        case .permanent(let code, let reply): "permanent \(code): \(reply)"
        }
    }
}

/// Sends mail through libcurl. Each send runs on a Dispatch thread, never the cooperative pool.
public struct SMTPClient: Sendable {
    public let settings: SMTPSettings
    private static let queue = DispatchQueue(label: "carefleet.mail.smtp", attributes: .concurrent)
    private static let globalInit: Bool = curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK

    public init(settings: SMTPSettings) {
        self.settings = settings
    }

    public func send(_ message: MailMessage, date: Date = Date()) async -> SendOutcome {
        let settings = self.settings
        let (messageId, data) = message.rendered(date: date)
        let recipients = message.to.map(\.address)
        return await withCheckedContinuation { continuation in
            Self.queue.async {
                _ = Self.globalInit
                continuation.resume(
                    returning: Self.perform(settings, from: message.from.address, to: recipients, data: data, messageId: messageId))
            }
        }
    }

    private static func perform(_ settings: SMTPSettings, from: String, to: [String], data: Data, messageId: String)
        -> SendOutcome
    {
        guard let curl = curl_easy_init() else { return .transient(code: nil, reply: "curl_easy_init failed") }
        defer { curl_easy_cleanup(curl) }
        var recipients: UnsafeMutablePointer<curl_slist>?
        for address in to { recipients = curl_slist_append(recipients, "<\(MIMEText.singleLine(address))>") }
        defer { curl_slist_free_all(recipients) }

        let transfer = Transfer(data: data)
        let opaque = Unmanaged.passUnretained(transfer).toOpaque()
        let millis = Int(settings.timeout.components.seconds * 1000 + settings.timeout.components.attoseconds / 1_000_000_000_000_000)

        _ = carefleet_curl_setopt_string(curl, CURLOPT_URL, settings.url)
        _ = carefleet_curl_setopt_string(curl, CURLOPT_MAIL_FROM, "<\(MIMEText.singleLine(from))>")
        _ = carefleet_curl_setopt_slist(curl, CURLOPT_MAIL_RCPT, recipients)
        _ = carefleet_curl_setopt_long(curl, CURLOPT_UPLOAD, 1)
        _ = carefleet_curl_setopt_read_function(curl) { buffer, size, count, userdata in
            guard let buffer, let userdata else { return 0 }
            return Unmanaged<Transfer>.fromOpaque(userdata).takeUnretainedValue().read(into: buffer, capacity: size * count)
        }
        _ = carefleet_curl_setopt_pointer(curl, CURLOPT_READDATA, opaque)
        // The debug callback is the only place libcurl shows the server's replies verbatim.
        _ = carefleet_curl_setopt_long(curl, CURLOPT_VERBOSE, 1)
        _ = carefleet_curl_setopt_debug_function(curl) { _, type, text, size, userdata in
            guard type == CURLINFO_HEADER_IN, let text, let userdata else { return 0 }
            let line = String(decoding: UnsafeRawBufferPointer(start: text, count: size), as: UTF8.self)
            Unmanaged<Transfer>.fromOpaque(userdata).takeUnretainedValue().record(reply: line)
            return 0
        }
        _ = carefleet_curl_setopt_pointer(curl, CURLOPT_DEBUGDATA, opaque)
        _ = carefleet_curl_setopt_long(curl, CURLOPT_NOSIGNAL, 1)
        _ = carefleet_curl_setopt_long(curl, CURLOPT_TIMEOUT_MS, millis)
        _ = carefleet_curl_setopt_long(curl, CURLOPT_CONNECTTIMEOUT_MS, min(millis, 10_000))
        if settings.requireTLS {
            _ = carefleet_curl_setopt_long(curl, CURLOPT_USE_SSL, Int(CURLUSESSL_ALL.rawValue))
        }
        if settings.allowInsecureTLS {
            _ = carefleet_curl_setopt_long(curl, CURLOPT_SSL_VERIFYPEER, 0)
            _ = carefleet_curl_setopt_long(curl, CURLOPT_SSL_VERIFYHOST, 0)
        }
        if let username = settings.username { _ = carefleet_curl_setopt_string(curl, CURLOPT_USERNAME, username) }
        if let password = settings.password { _ = carefleet_curl_setopt_string(curl, CURLOPT_PASSWORD, password) }

        let result = curl_easy_perform(curl)
        var code = 0
        _ = carefleet_curl_getinfo_long(curl, CURLINFO_RESPONSE_CODE, &code)
        let reply = transfer.reply(withCode: code) ?? String(cString: curl_easy_strerror(result))
        if result == CURLE_OK { return .delivered(messageId: messageId, code: code == 0 ? 250 : code, reply: reply) }
        switch code {
        case 500...599: return .permanent(code: code, reply: reply)
        case 400...499: return .transient(code: code, reply: reply)
        default: return .transient(code: nil, reply: "\(String(cString: curl_easy_strerror(result))) \(reply)")
        }
    }
}

/// Per-send state for libcurl's callbacks; used only on the thread that runs the transfer.
private final class Transfer {
    private let data: Data
    private var offset = 0
    private var replies: [String] = []
    private var pending = ""

    init(data: Data) {
        self.data = data
    }

    func read(into buffer: UnsafeMutablePointer<CChar>, capacity: Int) -> Int {
        let count = min(capacity, data.count - offset)
        guard count > 0 else { return 0 }
        data.withUnsafeBytes { bytes in
            guard let base = bytes.baseAddress else { return }
            UnsafeMutableRawPointer(buffer).copyMemory(from: base + offset, byteCount: count)
        }
        offset += count
        return count
    }

    /// Keeps every complete reply; a multi-line reply (`250-…`, `250 …`) is kept whole.
    func record(reply chunk: String) {
        let line = chunk.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !line.isEmpty else { return }
        pending += (pending.isEmpty ? "" : " ") + line
        let bytes = Array(line.utf8)
        if bytes.count < 4 || bytes[3] != UInt8(ascii: "-") {
            replies.append(pending)
            pending = ""
        }
    }

    /// The last reply with this code (curl's response code), not the `221 Bye` that follows it.
    func reply(withCode code: Int) -> String? {
        replies.last { $0.hasPrefix(String(code)) } ?? replies.last
    }
}
