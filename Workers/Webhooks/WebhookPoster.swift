import BlockingCalls
import CCurl
import Foundation

/// What became of one POST.
public enum PostOutcome: Sendable, Equatable {
    /// The receiver answered with this status; `retryAfter` from its `Retry-After` (seconds form).
    case answered(status: Int, retryAfter: Duration?)
    /// No answer: connection refused, DNS, TLS, or the timeout.
    case noAnswer(reason: String)
    /// libcurl refused an option: nothing was sent.
    case notSent(reason: String)
    /// Every address the endpoint's name resolved to is one the fleet must not call
    /// (`WebhookAddressPolicy`): nothing was sent.
    case refused(reason: String)
}

/// POSTs one signed webhook through libcurl: http and https only, no redirects followed (a
/// redirect is an answer, like any other 3xx), a timeout on the whole exchange, the response body
/// read and dropped. libcurl blocks, so each POST runs on a Dispatch thread; the worker's
/// concurrency (partitions at once) bounds how many run together.
///
/// Unless `allowPrivateAddresses` (development, tests), each address libcurl is about to connect
/// to is checked first (its open-socket callback): one of the fleet's own network is never
/// connected to, whatever the name said when the endpoint was registered.
public struct WebhookPoster: Sendable {
    public var timeout: Duration
    public var userAgent: String
    public var allowPrivateAddresses: Bool

    public init(timeout: Duration = .seconds(10), userAgent: String = "CareFleet-Webhooks/1", allowPrivateAddresses: Bool = false) {
        self.timeout = timeout
        self.userAgent = userAgent
        self.allowPrivateAddresses = allowPrivateAddresses
    }

    public func post(url: String, headers: [(String, String)], body: String) async -> PostOutcome {
        let request = Request(
            url: url, headers: headers, body: body, timeout: timeout, userAgent: userAgent, allowPrivateAddresses: allowPrivateAddresses)
        // libcurl waits for the receiver (up to `timeout`): not on the threads tasks run on.
        return await BlockingCall.run("carefleet.webhooks.post") { request.perform() }
    }

    /// The longest `Retry-After` honoured: a receiver cannot park a partition for a day.
    static let longestRetryAfter = Duration.seconds(600)

    /// `Retry-After: <seconds>`; the HTTP-date form is not honoured (the ladder's backoff applies).
    static func retryAfter(fromHeaderLine line: String) -> Duration? {
        let parts = line.split(separator: ":", maxSplits: 1)
        guard parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces).lowercased() == "retry-after",
            let seconds = Int(parts[1].trimmingCharacters(in: .whitespacesAndNewlines)), seconds >= 0
        else { return nil }
        return min(.seconds(seconds), longestRetryAfter)
    }
}

private struct Request: Sendable {
    let url: String
    let headers: [(String, String)]
    let body: String
    let timeout: Duration
    let userAgent: String
    let allowPrivateAddresses: Bool

    func perform() -> PostOutcome {
        guard let curl = curl_easy_init() else { return .notSent(reason: "libcurl could not make a handle") }
        defer { curl_easy_cleanup(curl) }
        var list: UnsafeMutablePointer<curl_slist>?
        defer { curl_slist_free_all(list) }
        for (name, value) in headers + [("Content-Type", "application/json"), ("Expect", "")] {
            // Header values are made by the worker (ids, digits, base64); a line break would end the header.
            let clean = value.filter { $0 != "\r" && $0 != "\n" && $0 != "\0" }
            list = curl_slist_append(list, "\(name): \(clean)")
        }
        let millis = Int(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        let answer = Answer(allowPrivateAddresses: allowPrivateAddresses)
        let opaque = Unmanaged.passUnretained(answer).toOpaque()
        let options: [(String, CURLcode)] = [
            ("CURLOPT_URL", carefleet_curl_setopt_string(curl, CURLOPT_URL, url)),
            ("CURLOPT_PROTOCOLS_STR", carefleet_curl_setopt_string(curl, CURLOPT_PROTOCOLS_STR, "http,https")),
            ("CURLOPT_FOLLOWLOCATION", carefleet_curl_setopt_long(curl, CURLOPT_FOLLOWLOCATION, 0)),
            ("CURLOPT_NOSIGNAL", carefleet_curl_setopt_long(curl, CURLOPT_NOSIGNAL, 1)),
            ("CURLOPT_TCP_NODELAY", carefleet_curl_setopt_long(curl, CURLOPT_TCP_NODELAY, 1)),
            ("CURLOPT_TIMEOUT_MS", carefleet_curl_setopt_long(curl, CURLOPT_TIMEOUT_MS, millis)),
            ("CURLOPT_CONNECTTIMEOUT_MS", carefleet_curl_setopt_long(curl, CURLOPT_CONNECTTIMEOUT_MS, min(millis, 10_000))),
            ("CURLOPT_USERAGENT", carefleet_curl_setopt_string(curl, CURLOPT_USERAGENT, userAgent)),
            ("CURLOPT_HTTPHEADER", carefleet_curl_setopt_slist(curl, CURLOPT_HTTPHEADER, list)),
            ("CURLOPT_POSTFIELDSIZE", carefleet_curl_setopt_long(curl, CURLOPT_POSTFIELDSIZE, body.utf8.count)),
            ("CURLOPT_COPYPOSTFIELDS", carefleet_curl_setopt_string(curl, CURLOPT_COPYPOSTFIELDS, body)),
            (
                "CURLOPT_WRITEFUNCTION",
                carefleet_curl_setopt_write_function(curl) { _, size, count, _ in size * count }
            ),
            (
                "CURLOPT_HEADERFUNCTION",
                carefleet_curl_setopt_header_function(curl) { text, size, count, userdata in
                    guard let text, let userdata else { return size * count }
                    let line = String(decoding: UnsafeRawBufferPointer(start: text, count: size * count), as: UTF8.self)
                    Unmanaged<Answer>.fromOpaque(userdata).takeUnretainedValue().header(line)
                    return size * count
                }
            ),
            ("CURLOPT_HEADERDATA", carefleet_curl_setopt_pointer(curl, CURLOPT_HEADERDATA, opaque)),
            (
                "CURLOPT_OPENSOCKETFUNCTION",
                carefleet_curl_setopt_opensocket_function(curl) { clientp, _, address in
                    guard let clientp, let address else { return CURL_SOCKET_BAD }
                    return Unmanaged<Answer>.fromOpaque(clientp).takeUnretainedValue().openSocket(address)
                }
            ),
            ("CURLOPT_OPENSOCKETDATA", carefleet_curl_setopt_pointer(curl, CURLOPT_OPENSOCKETDATA, opaque)),
        ]
        for (name, code) in options where code != CURLE_OK {
            return .notSent(reason: "\(name): \(String(cString: curl_easy_strerror(code)))")
        }
        let result = withExtendedLifetime(answer) { curl_easy_perform(curl) }
        var status = 0
        if carefleet_curl_getinfo_long(curl, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK { status = 0 }
        if result == CURLE_OK, status > 0 { return .answered(status: status, retryAfter: answer.retryAfter) }
        if let refused = answer.refusedAddress {
            return .refused(reason: "the endpoint's name resolves to \(refused), a loopback, private, link-local or reserved address")
        }
        return .noAnswer(reason: String(cString: curl_easy_strerror(result)))
    }
}

/// The response headers as libcurl reports them, one line at a time, and the addresses it was
/// kept from connecting to (only on the transfer's thread).
private final class Answer {
    let allowPrivateAddresses: Bool
    var retryAfter: Duration?
    var refusedAddress: String?

    init(allowPrivateAddresses: Bool) {
        self.allowPrivateAddresses = allowPrivateAddresses
    }

    /// Opens the socket libcurl asks for, unless its address is one the fleet must not call.
    /// (libcurl then tries the name's next address, if any, or fails with "could not connect".)
    func openSocket(_ address: UnsafeMutablePointer<curl_sockaddr>) -> curl_socket_t {
        let family = address.pointee.family
        if !allowPrivateAddresses {
            guard let offset = MemoryLayout<curl_sockaddr>.offset(of: \.addr) else { return CURL_SOCKET_BAD }
            let socketAddress = UnsafeRawPointer(address) + offset
            let text: String
            let isPrivate: Bool
            switch family {
            case AF_INET:
                let bytes = withUnsafeBytes(of: socketAddress.loadUnaligned(as: sockaddr_in.self).sin_addr) { Array($0) }
                (text, isPrivate) = (bytes.map(String.init).joined(separator: "."), WebhookAddressPolicy.isPrivate(ipv4: bytes))
            case AF_INET6:
                let bytes = withUnsafeBytes(of: socketAddress.loadUnaligned(as: sockaddr_in6.self).sin6_addr) { Array($0) }
                let groups = stride(from: 0, to: 16, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }
                (text, isPrivate) = (groups.joined(separator: ":"), WebhookAddressPolicy.isPrivate(ipv6: bytes))
            default:
                (text, isPrivate) = ("an address of family \(family)", true)
            }
            if isPrivate {
                refusedAddress = refusedAddress ?? text
                return CURL_SOCKET_BAD
            }
        }
        return socket(family, address.pointee.socktype | Int32(SOCK_CLOEXEC.rawValue), address.pointee.protocol)
    }

    func header(_ line: String) {
        // A new status line starts a new set of headers (e.g. after `100 Continue`).
        if line.hasPrefix("HTTP/") { retryAfter = nil }
        if let value = WebhookPoster.retryAfter(fromHeaderLine: line) { retryAfter = value }
    }
}
