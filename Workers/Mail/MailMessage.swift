import Foundation

public struct MailAddress: Sendable, Hashable, CustomStringConvertible {
    public var address: String
    public var name: String?

    public init(_ address: String, name: String? = nil) {
        self.address = address
        self.name = name
    }

    /// `"Name" <address>` as a header value; CR and LF are removed so no header can be injected.
    public var description: String {
        let address = MIMEText.singleLine(self.address)
        guard let name, !name.isEmpty else { return "<\(address)>" }
        return "\(MIMEText.encodedWord(MIMEText.singleLine(name), quoted: true)) <\(address)>"
    }
}

public struct MailAttachment: Sendable, Hashable {
    public var filename: String
    /// Full content type, e.g. `text/calendar; method=REQUEST; charset=UTF-8`.
    public var contentType: String
    public var data: Data

    public init(filename: String, contentType: String, data: Data) {
        self.filename = filename
        self.contentType = contentType
        self.data = data
    }
}

/// An email: a text part, an optional HTML alternative and attachments.
public struct MailMessage: Sendable {
    public var from: MailAddress
    public var to: [MailAddress]
    public var subject: String
    public var text: String
    public var html: String?
    public var attachments: [MailAttachment]
    /// `<…@domain>`; generated from a UUID and the sender's domain when nil.
    public var messageId: String?
    /// Extra headers (e.g. `X-CareFleet-Key`). Names and values are made single-line.
    public var headers: [(name: String, value: String)]

    public init(
        from: MailAddress, to: [MailAddress], subject: String, text: String, html: String? = nil,
        attachments: [MailAttachment] = [], messageId: String? = nil, headers: [(name: String, value: String)] = []
    ) {
        self.from = from
        self.to = to
        self.subject = subject
        self.text = text
        self.html = html
        self.attachments = attachments
        self.messageId = messageId
        self.headers = headers
    }

    /// The RFC 5322 message with CRLF line endings; bodies are base64 so no line is too long
    /// and none starts with a dot.
    public func rendered(date: Date = Date()) -> (messageId: String, data: Data) {
        let domain = from.address.split(separator: "@").last.map(String.init) ?? "carefleet.local"
        let messageId = self.messageId ?? "<\(UUID().uuidString.lowercased())@\(MIMEText.singleLine(domain))>"
        var lines = [
            "Date: \(MIMEText.rfc5322Date(date))",
            "From: \(from)",
            "To: \(to.map(\.description).joined(separator: ", "))",
            "Subject: \(MIMEText.encodedWord(MIMEText.singleLine(subject), quoted: false))",
            "Message-ID: \(messageId)",
            "MIME-Version: 1.0",
        ]
        for header in headers {
            lines.append("\(MIMEText.singleLine(header.name).filter { $0 != ":" }): \(MIMEText.singleLine(header.value))")
        }
        let body = bodyPart()
        lines += body.headers
        lines.append("")
        let text = lines.joined(separator: "\r\n") + "\r\n" + body.content
        return (messageId, Data(text.utf8))
    }

    private struct Part {
        var headers: [String]
        var content: String
    }

    private func bodyPart() -> Part {
        let textPart = Part(
            headers: ["Content-Type: text/plain; charset=UTF-8", "Content-Transfer-Encoding: base64"],
            content: MIMEText.base64Lines(Data(text.utf8)))
        var main = textPart
        if let html {
            let htmlPart = Part(
                headers: ["Content-Type: text/html; charset=UTF-8", "Content-Transfer-Encoding: base64"],
                content: MIMEText.base64Lines(Data(html.utf8)))
            main = multipart("alternative", [textPart, htmlPart])
        }
        guard !attachments.isEmpty else { return main }
        let files = attachments.map { attachment in
            let name = MIMEText.singleLine(attachment.filename).replacingOccurrences(of: "\"", with: "")
            return Part(
                headers: [
                    "Content-Type: \(MIMEText.singleLine(attachment.contentType)); name=\"\(name)\"",
                    "Content-Disposition: attachment; filename=\"\(name)\"",
                    "Content-Transfer-Encoding: base64",
                ], content: MIMEText.base64Lines(attachment.data))
        }
        return multipart("mixed", [main] + files)
    }

    private func multipart(_ subtype: String, _ parts: [Part]) -> Part {
        let boundary = "=_carefleet_\(UUID().uuidString.lowercased())"
        var content = ""
        for part in parts {
            content += "--\(boundary)\r\n" + part.headers.joined(separator: "\r\n") + "\r\n\r\n" + part.content
        }
        content += "--\(boundary)--\r\n"
        return Part(headers: ["Content-Type: multipart/\(subtype); boundary=\"\(boundary)\""], content: content)
    }
}

enum MIMEText {
    static func singleLine(_ text: String) -> String {
        String(text.map { $0 == "\r" || $0 == "\n" ? " " : $0 })
    }

    /// RFC 2047 encoded word when the text is not plain ASCII (or, for display names, needs quoting).
    static func encodedWord(_ text: String, quoted: Bool) -> String {
        let printable = text.unicodeScalars.allSatisfy { $0.isASCII && $0.value >= 32 && $0.value < 127 }
        if printable {
            guard quoted else { return text }
            var result = "\""
            for character in text {
                if character == "\\" || character == "\"" { result.append("\\") }
                result.append(character)
            }
            return result + "\""
        }
        return encodedWords(text).joined(separator: "\r\n ")
    }

    /// RFC 2047 §2: an encoded word is at most 75 characters. `=?UTF-8?B?` and `?=` take 12, so
    /// each word carries at most 45 bytes (60 base64 characters), cut between characters, never
    /// inside one; the words are folded onto continuation lines and read back as one text.
    static func encodedWords(_ text: String) -> [String] {
        var words: [String] = []
        var chunk: [UInt8] = []
        for character in text {
            let bytes = Array(String(character).utf8)
            if !chunk.isEmpty, chunk.count + bytes.count > 45 {
                words.append("=?UTF-8?B?\(Data(chunk).base64EncodedString())?=")
                chunk = []
            }
            chunk += bytes
        }
        if !chunk.isEmpty || words.isEmpty { words.append("=?UTF-8?B?\(Data(chunk).base64EncodedString())?=") }
        return words
    }

    static func base64Lines(_ data: Data) -> String {
        let encoded = data.base64EncodedString(options: [.lineLength76Characters, .endLineWithCarriageReturn, .endLineWithLineFeed])
        return encoded.isEmpty ? "" : encoded + "\r\n"
    }

    static func rfc5322Date(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? calendar.timeZone
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second, .weekday], from: date)
        let weekdays = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ value: Int?) -> String {
            let value = value ?? 0
            return value < 10 ? "0\(value)" : "\(value)"
        }
        return "\(weekdays[((c.weekday ?? 1) - 1) % 7]), \(two(c.day)) \(months[((c.month ?? 1) - 1) % 12]) \(c.year ?? 1970) "
            + "\(two(c.hour)):\(two(c.minute)):\(two(c.second)) +0000"
    }
}
