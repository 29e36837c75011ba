import CCurl

/// libcurl refused an option while a connection was being set up or a message addressed.
///
/// Nothing is sent after such a refusal: a connection whose `CURLOPT_USE_SSL` did not take
/// could otherwise talk in clear text.
public struct SMTPSetupError: Error, Sendable, CustomStringConvertible {
    /// The libcurl option, e.g. `CURLOPT_USE_SSL`.
    public let option: String
    /// libcurl's `CURLcode`.
    public let code: Int
    public let message: String

    init(option: String, code: CURLcode) {
        self.option = option
        self.code = Int(code.rawValue)
        message = String(cString: curl_easy_strerror(code))
    }

    init(option: String, message: String) {
        self.option = option
        code = -1
        self.message = message
    }

    public var description: String { "libcurl refused \(option) (\(code)): \(message)" }
}
