import ArgumentParser
import Contracts
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Many open event streams on one ingress copy: opened over plain sockets (a stream is a
/// connection that stays open), the ingress's resident memory read from /proc before and after.
struct StreamsBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "streams",
        abstract: "Memory per open GET /v1/events/stream on one ingress copy, and whether all of them hold.",
        discussion: """
            Sets up a tenant of its own and a patient, reads the ingress's resident set size \
            (VmRSS of --pid, default the pid scripts/local keeps in .local/run/ingress.pid), opens \
            --streams event streams, waits --hold seconds (heartbeats keep flowing), reads it again, \
            checks how many streams are still open and closes them. Start the fleet first.
            """)

    @OptionGroup var global: GlobalOptions
    @Option(help: "The ingress (host and port are used; plain HTTP).") var url = "http://127.0.0.1:8080"
    @Option(help: "The ingress's process id (default: .local/run/ingress.pid).") var pid: Int32?
    @Option(help: "Streams to open.") var streams = 5_000
    @Option(help: "Seconds to hold them open before measuring.") var hold = 5
    @Option(help: "Where to keep the figures as JSON.") var json: String?

    func validate() throws {
        try OptionCheck.atLeast(1, streams, "--streams")
        try OptionCheck.atLeast(0, hold, "--hold")
        if let pid { try OptionCheck.atLeast(1, Int(pid), "--pid") }
    }

    struct Result: Codable {
        var benchmark = "streams"
        var requested: Int
        var opened: Int
        var stillOpenAfterHold: Int
        var rssBeforeMegabytes: Double
        var rssAfterMegabytes: Double
        var kilobytesPerStream: Double
        var openSeconds: Double
        var measuredAt: String
    }

    func run() async throws {
        let config = try global.load()
        let ingressPid = try pid ?? Self.pidFromFile(".local/run/ingress.pid")
        guard let components = URLComponents(string: url), let host = components.host, let port = components.port else {
            throw failure("--url must name a host and a port, e.g. http://127.0.0.1:8080")
        }
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        guard limit.rlim_max >= rlim_t(streams + 64) else {
            throw failure("this process may open \(limit.rlim_max) files; \(streams) streams need more (ulimit -n)")
        }
        limit.rlim_cur = limit.rlim_max
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)

        let clinic = try await BenchClinic.make(config: config, ingress: url)
        // One stream first, so that what every process pays once (the feed, buffers) is in "before".
        let first = try StreamSocket.open(host: host, port: port, token: clinic.patientToken)
        try await Task.sleep(for: .seconds(1))
        let before = try Self.residentKilobytes(of: ingressPid)
        let started = ContinuousClock.now
        var sockets: [StreamSocket] = []
        sockets.reserveCapacity(streams)
        for index in 1..<streams {
            do {
                sockets.append(try StreamSocket.open(host: host, port: port, token: clinic.patientToken))
            } catch {
                FileHandle.standardError.write(Data("bench: stream \(index + 1) could not open: \(error)\n".utf8))
                break
            }
        }
        let opened = ContinuousClock.now - started
        try await Task.sleep(for: .seconds(hold))
        let after = try Self.residentKilobytes(of: ingressPid)
        let stillOpen = 1 + sockets.count(where: { $0.isOpen })
        first.close()
        for socket in sockets { socket.close() }

        let count = sockets.count + 1
        let result = Result(
            requested: streams, opened: count, stillOpenAfterHold: stillOpen, rssBeforeMegabytes: Double(before) / 1024,
            rssAfterMegabytes: Double(after) / 1024, kilobytesPerStream: Double(after - before) / Double(max(1, count - 1)),
            openSeconds: opened.seconds, measuredAt: WireCoding.formatTimestamp(Date()))
        print(
            Table.render([
                ["BENCHMARK", "STREAMS", "OPENED", "OPEN AFTER HOLD", "RSS BEFORE MB", "RSS AFTER MB", "KB/STREAM", "OPEN S"],
                [
                    "streams", String(streams), String(count), String(stillOpen), String(format: "%.1f", result.rssBeforeMegabytes),
                    String(format: "%.1f", result.rssAfterMegabytes), String(format: "%.1f", result.kilobytesPerStream),
                    String(format: "%.1f", result.openSeconds),
                ],
            ]))
        try BenchFigures.keep(result, bench: "streams", measuredAt: result.measuredAt, at: json)
        if stillOpen < count { throw failure("\(count - stillOpen) of \(count) streams were closed by the ingress") }
    }

    static func pidFromFile(_ path: String) throws -> Int32 {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
            let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
        else { throw failure("no ingress pid in \(path): pass --pid") }
        return pid
    }

    /// VmRSS from /proc/<pid>/status, in kB.
    static func residentKilobytes(of pid: Int32) throws -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
            let kilobytes = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        else { throw failure("cannot read the resident set size of process \(pid)") }
        return kilobytes
    }
}

/// One open event stream: a socket that sent the request and read the response's head.
final class StreamSocket {
    private var descriptor: Int32

    private init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    static func open(host: String, port: Int, token: String) throws -> StreamSocket {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw failure("socket: errno \(errno)") }
        let stream = StreamSocket(descriptor: descriptor)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host == "localhost" ? "127.0.0.1" : host, &address.sin_addr) == 1 else {
            stream.close()
            throw failure("--url's host must be an IPv4 address")
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            stream.close()
            throw failure("connect: errno \(errno)")
        }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let request = Array(
            "GET /v1/events/stream HTTP/1.1\r\nHost: \(host)\r\nAuthorization: Bearer \(token)\r\nAccept: text/event-stream\r\n\r\n".utf8)
        guard request.withUnsafeBytes({ send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == request.count else {
            stream.close()
            throw failure("send: errno \(errno)")
        }
        var head: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !head.containsHeadEnd {
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            guard count > 0 else {
                stream.close()
                throw failure("the ingress closed the stream before answering (errno \(errno))")
            }
            head += buffer[0..<count]
        }
        guard String(decoding: head.prefix(16), as: UTF8.self).hasPrefix("HTTP/1.1 200") else {
            stream.close()
            throw failure("the stream was refused: \(String(decoding: head.prefix(200), as: UTF8.self))")
        }
        return stream
    }

    /// Whether the peer has not closed it: what arrived (heartbeats) is read without waiting,
    /// until nothing is left (open) or the end of the stream (closed).
    var isOpen: Bool {
        guard descriptor >= 0 else { return false }
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if count > 0 { continue }
            return count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)
        }
    }

    func close() {
        guard descriptor >= 0 else { return }
        Glibc.close(descriptor)
        descriptor = -1
    }
}

extension [UInt8] {
    fileprivate var containsHeadEnd: Bool {
        guard count >= 4 else { return false }
        for index in 0...(count - 4) where self[index] == 13 && self[index + 1] == 10 && self[index + 2] == 13 && self[index + 3] == 10 {
            return true
        }
        return false
    }
}
