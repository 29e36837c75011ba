import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// Kept-open HTTP/1.1 connections for the requests a bench times, one request at a time on each.
///
/// The pipeline bench runs on the machine whose CPU the fleet under test needs. Through
/// Foundation's URLSession (libcurl and a Dispatch timer per request on Linux) its booking
/// requests cost it most of its own CPU, 0.4–0.6 of a core at 200 requests/s (perf), and the
/// fleet's latencies grew with it. SwiftNIO on one event-loop thread does the same work for a
/// fraction of that.
final class BenchHTTPConnections: Sendable {
    private let group: MultiThreadedEventLoopGroup
    private let host: String
    private let port: Int
    private let idle = Mutex<[any Channel]>([])

    /// `base` is the ingress's `http://host:port`.
    init(base: String) throws {
        guard let url = URL(string: base), url.scheme == "http", let host = url.host else {
            throw failure("the bench's HTTP client speaks plain http only, not \(base)")
        }
        self.host = host
        port = url.port ?? 80
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    }

    func shutdown() async {
        let channels = idle.withLock { channels in
            defer { channels.removeAll() }
            return channels
        }
        for channel in channels { try? await channel.close() }
        try? await group.shutdownGracefully()
    }

    /// POSTs `body` (JSON) and returns the status and the answer's bytes. A connection that
    /// failed is dropped; the request is not tried again (the bench counts it as refused).
    func post(_ path: String, json body: Data, headers: [(String, String)]) async throws -> (status: Int, body: ByteBuffer) {
        let channel = try await borrow()
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: path)
        head.headers.add(name: "Host", value: "\(host):\(port)")
        head.headers.add(name: "Content-Type", value: "application/json")
        head.headers.add(name: "Content-Length", value: String(body.count))
        for (name, value) in headers { head.headers.add(name: name, value: value) }
        let promise = channel.eventLoop.makePromise(of: BenchResponse.self)
        let request = BenchRequest(head: head, body: ByteBuffer(bytes: body), answer: promise)
        channel.writeAndFlush(request, promise: nil)
        do {
            let response = try await promise.futureResult.get()
            if response.keepAlive { idle.withLock { $0.append(channel) } } else { try? await channel.close() }
            return (response.status, response.body)
        } catch {
            try? await channel.close()
            throw error
        }
    }

    private func borrow() async throws -> any Channel {
        while let channel = idle.withLock({ $0.popLast() }) {
            if channel.isActive { return channel }
        }
        return try await ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(BenchHTTPHandler())
                }
            }
            .connect(host: host, port: port).get()
    }
}

struct BenchRequest: Sendable {
    var head: HTTPRequestHead
    var body: ByteBuffer
    var answer: EventLoopPromise<BenchResponse>
}

struct BenchResponse: Sendable {
    var status: Int
    var body: ByteBuffer
    var keepAlive: Bool
}

/// Writes a request and answers its promise with the response that follows. The bench sends one
/// request at a time per connection, so responses meet their requests in order.
private final class BenchHTTPHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = BenchRequest
    typealias OutboundOut = HTTPClientRequestPart

    private var waiting: [EventLoopPromise<BenchResponse>] = []
    private var head: HTTPResponseHead?
    private var body = ByteBuffer()

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        waiting.append(request.answer)
        context.write(wrapOutboundOut(.head(request.head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(request.body))), promise: nil)
        context.write(wrapOutboundOut(.end(nil)), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body.clear()
        case .body(var part):
            body.writeBuffer(&part)
        case .end:
            guard let head, !waiting.isEmpty else { return }
            waiting.removeFirst().succeed(BenchResponse(status: Int(head.status.code), body: body, keepAlive: head.isKeepAlive))
            self.head = nil
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failAll(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(ChannelError.ioOnClosedChannel)
        context.fireChannelInactive()
    }

    private func failAll(_ error: any Error) {
        let promises = waiting
        waiting.removeAll()
        for promise in promises { promise.fail(error) }
    }
}
