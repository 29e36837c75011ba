import CCurl

/// The libcurl options every message over one connection shares, in the order they are set.
///
/// Kept as data so that each option's result is checked in one place and named in the error,
/// and so that a test can hand libcurl a value it refuses.
struct ConnectionOptions: Sendable {
    enum Value: Sendable, Equatable {
        case long(Int)
        case string(String)
    }

    struct Entry: Sendable {
        let name: String
        let option: CURLoption
        var value: Value
    }

    var entries: [Entry]

    init(_ settings: SMTPSettings) {
        let millis = Int(
            settings.timeout.components.seconds * 1000 + settings.timeout.components.attoseconds / 1_000_000_000_000_000)
        entries = [
            Entry(name: "CURLOPT_URL", option: CURLOPT_URL, value: .string(settings.url)),
            Entry(name: "CURLOPT_UPLOAD", option: CURLOPT_UPLOAD, value: .long(1)),
            // The debug callback is the only place libcurl shows the server's replies verbatim.
            Entry(name: "CURLOPT_VERBOSE", option: CURLOPT_VERBOSE, value: .long(1)),
            Entry(name: "CURLOPT_NOSIGNAL", option: CURLOPT_NOSIGNAL, value: .long(1)),
            // Small SMTP commands must not wait for the ACK of the previous segment (Nagle).
            Entry(name: "CURLOPT_TCP_NODELAY", option: CURLOPT_TCP_NODELAY, value: .long(1)),
            Entry(name: "CURLOPT_TIMEOUT_MS", option: CURLOPT_TIMEOUT_MS, value: .long(millis)),
            Entry(name: "CURLOPT_CONNECTTIMEOUT_MS", option: CURLOPT_CONNECTTIMEOUT_MS, value: .long(min(millis, 10_000))),
        ]
        if settings.requireTLS {
            entries.append(Entry(name: "CURLOPT_USE_SSL", option: CURLOPT_USE_SSL, value: .long(Int(CURLUSESSL_ALL.rawValue))))
        }
        if settings.allowInsecureTLS {
            entries.append(Entry(name: "CURLOPT_SSL_VERIFYPEER", option: CURLOPT_SSL_VERIFYPEER, value: .long(0)))
            entries.append(Entry(name: "CURLOPT_SSL_VERIFYHOST", option: CURLOPT_SSL_VERIFYHOST, value: .long(0)))
        }
        if let username = settings.username {
            entries.append(Entry(name: "CURLOPT_USERNAME", option: CURLOPT_USERNAME, value: .string(username)))
        }
        if let password = settings.password {
            entries.append(Entry(name: "CURLOPT_PASSWORD", option: CURLOPT_PASSWORD, value: .string(password)))
        }
    }

    /// Gives `name` another value (tests use it to make libcurl refuse an option).
    mutating func set(_ name: String, to value: Value) {
        for index in entries.indices where entries[index].name == name { entries[index].value = value }
    }
}
