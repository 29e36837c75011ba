import CCurl
import Foundation

/// One SMTP connection kept open from message to message.
///
/// A libcurl easy handle keeps its connection after a transfer, so the next message to the same
/// URL skips the TCP handshake, greeting, EHLO, STARTTLS and AUTH and starts at `MAIL FROM`.
/// libcurl notices a connection the server closed meanwhile and opens a new one.
final class SMTPConnection: @unchecked Sendable {  // lent to one session at a time; used only on SMTPClient's queue
    private let curl: UnsafeMutableRawPointer
    /// What READDATA and DEBUGDATA point at: one per connection, so no callback ever sees a freed object.
    private let transfer = Transfer()
    /// The recipients of the latest message; libcurl keeps the pointer until it is replaced.
    private var recipients: UnsafeMutablePointer<curl_slist>?
    /// TCP connections libcurl opened for this handle (1 while it could reuse its first).
    private(set) var connectionsOpened = 0

    init(options: ConnectionOptions) throws(SMTPSetupError) {
        guard let curl = curl_easy_init() else {
            throw SMTPSetupError(option: "curl_easy_init", message: "libcurl could not make a handle")
        }
        self.curl = curl
        // From here on a throw runs deinit, which cleans the handle up.
        for entry in options.entries {
            switch entry.value {
            case .long(let value): try check(carefleet_curl_setopt_long(curl, entry.option, value), entry.name)
            case .string(let value): try check(carefleet_curl_setopt_string(curl, entry.option, value), entry.name)
            }
        }
        let opaque = Unmanaged.passUnretained(transfer).toOpaque()
        try check(
            carefleet_curl_setopt_read_function(curl) { buffer, size, count, userdata in
                guard let buffer, let userdata else { return 0 }
                return Unmanaged<Transfer>.fromOpaque(userdata).takeUnretainedValue().read(into: buffer, capacity: size * count)
            }, "CURLOPT_READFUNCTION")
        try check(carefleet_curl_setopt_pointer(curl, CURLOPT_READDATA, opaque), "CURLOPT_READDATA")
        try check(
            carefleet_curl_setopt_debug_function(curl) { _, type, text, size, userdata in
                guard type == CURLINFO_HEADER_IN, let text, let userdata else { return 0 }
                let line = String(decoding: UnsafeRawBufferPointer(start: text, count: size), as: UTF8.self)
                Unmanaged<Transfer>.fromOpaque(userdata).takeUnretainedValue().record(reply: line)
                return 0
            }, "CURLOPT_DEBUGFUNCTION")
        try check(carefleet_curl_setopt_pointer(curl, CURLOPT_DEBUGDATA, opaque), "CURLOPT_DEBUGDATA")
    }

    private var closed = false

    deinit { close() }

    /// Says QUIT on an open connection and frees the handle. Blocks: the pool calls it on the SMTP queue.
    func close() {
        guard !closed else { return }
        closed = true
        curl_easy_cleanup(curl)
        curl_slist_free_all(recipients)
        recipients = nil
    }

    /// One SMTP transaction (MAIL FROM, RCPT TO, DATA) over this connection. Blocks.
    func send(from: String, to: [String], data: Data, messageId: String) throws(SMTPSetupError) -> SendOutcome {
        guard !closed else { throw SMTPSetupError(option: "connection", message: "the connection was closed") }
        var list: UnsafeMutablePointer<curl_slist>?
        for address in to { list = curl_slist_append(list, "<\(MIMEText.singleLine(address))>") }
        let rcpt = carefleet_curl_setopt_slist(curl, CURLOPT_MAIL_RCPT, list)
        guard rcpt == CURLE_OK else {
            curl_slist_free_all(list)  // libcurl still holds the previous list
            throw SMTPSetupError(option: "CURLOPT_MAIL_RCPT", code: rcpt)
        }
        curl_slist_free_all(recipients)
        recipients = list
        try check(carefleet_curl_setopt_string(curl, CURLOPT_MAIL_FROM, "<\(MIMEText.singleLine(from))>"), "CURLOPT_MAIL_FROM")
        transfer.start(data)

        let result = curl_easy_perform(curl)
        var connects = 0
        if carefleet_curl_getinfo_long(curl, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK { connectionsOpened += connects }
        var code = 0
        if carefleet_curl_getinfo_long(curl, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK { code = 0 }
        let failure = String(cString: curl_easy_strerror(result))
        let reply = transfer.reply(withCode: code) ?? failure
        if result == CURLE_OK { return .delivered(messageId: messageId, code: code == 0 ? 250 : code, reply: reply) }
        switch code {
        case 500...599: return .permanent(code: code, reply: reply)
        case 400...499: return .transient(code: code, reply: reply)
        default:
            // The whole message went out but no verdict came back: the server may have taken it.
            if transfer.sentEverything { return .unknown(reply: "\(failure) after the whole message was sent \(reply)") }
            return .transient(code: nil, reply: "\(failure) \(reply)")
        }
    }

    private func check(_ code: CURLcode, _ option: String) throws(SMTPSetupError) {
        guard code == CURLE_OK else { throw SMTPSetupError(option: option, code: code) }
    }
}

/// The message being sent and the replies heard, for libcurl's callbacks; used only on the
/// thread that runs the transfer.
private final class Transfer {
    private var data = Data()
    private var offset = 0
    private var replies: [String] = []
    private var pending = ""
    /// libcurl asked past the last byte: the message and its end-of-data mark may have gone out.
    private(set) var sentEverything = false

    func start(_ data: Data) {
        self.data = data
        offset = 0
        replies = []
        pending = ""
        sentEverything = false
    }

    func read(into buffer: UnsafeMutablePointer<CChar>, capacity: Int) -> Int {
        let count = min(capacity, data.count - offset)
        guard count > 0 else {
            sentEverything = true
            return 0
        }
        data.withUnsafeBytes { bytes in
            guard let base = bytes.baseAddress else { return }
            UnsafeMutableRawPointer(buffer).copyMemory(from: base + offset, byteCount: count)
        }
        offset += count
        return count
    }

    /// Keeps every complete reply; a multi-line reply (`250-…`, `250 …`) is kept whole.
    func record(reply chunk: String) {
        // Trimmed by hand: Foundation's trimmingCharacters goes through NSString for every reply.
        let start = chunk.drop(while: \.isWhitespace)
        let line = String(start[..<(start.lastIndex { !$0.isWhitespace }.map { start.index(after: $0) } ?? start.startIndex)])
        guard !line.isEmpty else { return }
        pending += (pending.isEmpty ? "" : " ") + line
        let bytes = Array(line.utf8)
        if bytes.count < 4 || bytes[3] != UInt8(ascii: "-") {
            replies.append(pending)
            pending = ""
        }
    }

    /// The last reply with this code (curl's response code).
    func reply(withCode code: Int) -> String? {
        replies.last { $0.hasPrefix(String(code)) } ?? replies.last
    }
}
