import Foundation
import Synchronization

/// Tests in parallel change the one refusal file: `accept` rewrites what it read, so without
/// this lock a `refuse` landing between its read and its write was lost (seen in CI: a 451
/// address accepted with 250).
private let refusalFile = Mutex(())

/// The SMTP sink's Maildir, and the refusal list it reads on every RCPT.
public struct TestMaildir: Sendable {
    public let path: String

    public init(path: String) {
        self.path = path
    }

    public static func shared() async throws -> TestMaildir {
        TestMaildir(path: try await TestServices.shared().maildir)
    }

    /// Every stored message addressed (To) to `recipient`.
    public func messages(to recipient: String) throws -> [ParsedMail] {
        let directory = (path as NSString).appendingPathComponent("new")
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return try files.sorted().compactMap { file in
            let data = try Data(contentsOf: URL(fileURLWithPath: (directory as NSString).appendingPathComponent(file)))
            let mail = ParsedMail(raw: String(decoding: data, as: UTF8.self))
            return mail.header("To")?.lowercased().contains(recipient.lowercased()) == true ? mail : nil
        }
    }

    /// Waits until `count` messages to `recipient` are stored (or the timeout passes).
    public func waitForMessages(to recipient: String, count: Int, timeout: Duration = .seconds(20)) async throws
        -> [ParsedMail]
    {
        let deadline = ContinuousClock.now + timeout
        while true {
            let messages = try self.messages(to: recipient)
            if messages.count >= count || ContinuousClock.now >= deadline { return messages }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Makes the sink refuse `address` at RCPT with `code` (550 permanent, 451 transient).
    public func refuse(_ address: String, code: Int = 550) throws {
        try refusalFile.withLock { _ in try appendRefusal(address, code: code) }
    }

    private func appendRefusal(_ address: String, code: Int) throws {
        let file = (path as NSString).appendingPathComponent("refuse")
        let line = "\(code) \(address)\n"
        if let handle = FileHandle(forWritingAtPath: file) {
            handle.seekToEndOfFile()
            handle.write(Data(line.utf8))
            try handle.close()
        } else {
            try Data(line.utf8).write(to: URL(fileURLWithPath: file))
        }
    }

    /// Accepts `address` again.
    public func accept(_ address: String) throws {
        try refusalFile.withLock { _ in
            let file = (path as NSString).appendingPathComponent("refuse")
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return }
            let kept = text.split(separator: "\n").filter { !$0.hasSuffix(" \(address)") }.joined(separator: "\n")
            // Atomic: the sink reads the file on every RCPT and must never see it half written.
            try Data((kept.isEmpty ? "" : kept + "\n").utf8).write(to: URL(fileURLWithPath: file), options: .atomic)
        }
    }
}

/// Just enough MIME to check what the fleet sends: headers, and the leaf parts of multiparts
/// with base64 bodies decoded.
public struct ParsedMail: Sendable {
    public let raw: String
    public let headers: [(name: String, value: String)]
    public let parts: [Part]

    public struct Part: Sendable {
        public let contentType: String
        public let disposition: String?
        public let body: Data
        public var text: String { String(decoding: body, as: UTF8.self) }
    }

    public init(raw: String) {
        self.raw = raw
        let (headers, body) = Self.split(raw)
        self.headers = headers
        self.parts = Self.leaves(headers: headers, body: body)
    }

    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    static func split(_ text: String) -> ([(name: String, value: String)], String) {
        let normalized = text.replacingOccurrences(of: "\r\n", with: "\n")
        let sections = normalized.components(separatedBy: "\n\n")
        let head = sections.first ?? ""
        let body = sections.dropFirst().joined(separator: "\n\n")
        var headers: [(name: String, value: String)] = []
        for line in head.split(separator: "\n", omittingEmptySubsequences: false) {
            if let first = line.first, first == " " || first == "\t", !headers.isEmpty {
                headers[headers.count - 1].value += " " + line.trimmingCharacters(in: .whitespaces)
            } else if let colon = line.firstIndex(of: ":") {
                headers.append(
                    (String(line[..<colon]), String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces)))
            }
        }
        return (headers, body)
    }

    static func leaves(headers: [(name: String, value: String)], body: String) -> [Part] {
        let contentType = headers.first { $0.name.lowercased() == "content-type" }?.value ?? "text/plain"
        if contentType.lowercased().hasPrefix("multipart/"),
            let range = contentType.range(of: "boundary=\"")
        {
            let boundary = contentType[range.upperBound...].prefix { $0 != "\"" }
            let chunks = body.components(separatedBy: "--\(boundary)")
            return chunks.dropFirst().filter { !$0.hasPrefix("--") }.flatMap { chunk -> [Part] in
                let trimmed = chunk.hasPrefix("\n") ? String(chunk.dropFirst()) : chunk
                let (partHeaders, partBody) = split(trimmed)
                return leaves(headers: partHeaders, body: partBody)
            }
        }
        let encoding = headers.first { $0.name.lowercased() == "content-transfer-encoding" }?.value.lowercased()
        let data: Data =
            encoding == "base64"
            ? Data(base64Encoded: body.filter { !$0.isWhitespace }) ?? Data() : Data(body.utf8)
        let disposition = headers.first { $0.name.lowercased() == "content-disposition" }?.value
        return [Part(contentType: contentType, disposition: disposition, body: data)]
    }
}
