import Foundation

/// A minimal HTTP/1.1 client for a server on 127.0.0.1, one request per connection. chromedriver
/// writes its header lines without a space after the colon (`Content-Length:252`), which
/// FoundationNetworking's URLSession refuses ("Failed writing header"); HTTP allows it (RFC 9112,
/// 5.1: optional whitespace). The blocking socket calls run on a thread of their own, never on
/// the cooperative pool.
enum LoopbackHTTP {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static func request(method: String, port: Int, path: String, body: Data?, timeout: TimeInterval) async throws -> (status: Int, body: Data) {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                continuation.resume(with: Result { try exchange(method: method, port: port, path: path, body: body, timeout: timeout) })
            }
            thread.start()
        }
    }

    private static func exchange(method: String, port: Int, path: String, body: Data?, timeout: TimeInterval) throws -> (status: Int, body: Data) {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw Failure(description: "socket() failed: errno \(errno)") }
        defer { close(descriptor) }
        var limit = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - timeout.rounded(.down)) * 1_000_000))
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw Failure(description: "connect to 127.0.0.1:\(port) failed: errno \(errno)") }

        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\nAccept: application/json\r\n"
        if let body { head += "Content-Type: application/json; charset=utf-8\r\nContent-Length: \(body.count)\r\n" }
        var outgoing = Data((head + "\r\n").utf8)
        if let body { outgoing.append(body) }
        try outgoing.withUnsafeBytes { (buffer: UnsafeRawBufferPointer) in
            var sent = 0
            while sent < buffer.count {
                let n = send(descriptor, buffer.baseAddress! + sent, buffer.count - sent, Int32(MSG_NOSIGNAL))
                guard n > 0 else { throw Failure(description: "send failed: errno \(errno)") }
                sent += n
            }
        }

        var incoming = Data()
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = recv(descriptor, &chunk, chunk.count, 0)
            if n == 0 { break }
            guard n > 0 else { throw Failure(description: "no answer from 127.0.0.1:\(port)\(path) within \(timeout) s (errno \(errno))") }
            incoming.append(contentsOf: chunk[0..<n])
            if let complete = try parse(incoming) { return complete }
        }
        guard let complete = try parse(incoming, ended: true) else { throw Failure(description: "an incomplete answer from \(path)") }
        return complete
    }

    /// The status and body once the whole answer is in (by Content-Length, or the connection's end).
    private static func parse(_ data: Data, ended: Bool = false) throws -> (status: Int, body: Data)? {
        guard let split = data.range(of: Data("\r\n\r\n".utf8)) else { return nil }
        let lines = String(decoding: data[..<split.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        let statusParts = lines.first?.split(separator: " ") ?? []
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else { throw Failure(description: "no status line: \(lines.first ?? "")") }
        var length: Int?
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if name == "content-length" { length = Int(value) }
            if name == "transfer-encoding", value.lowercased() != "identity" {
                throw Failure(description: "transfer-encoding \(value) is not supported here")
            }
        }
        let body = data[split.upperBound...]
        if let length {
            return body.count >= length ? (status, Data(body.prefix(length))) : nil
        }
        return ended ? (status, Data(body)) : nil
    }
}
