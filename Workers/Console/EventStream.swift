import Foundation
import Hummingbird
import ServiceLifecycle

/// A `text/event-stream` response that sends `fragment` events, each the HTML `next` renders,
/// every `interval`, until the browser goes away, the session ends, the stream's lifetime is
/// over (the browser's EventSource then reconnects) or the console shuts down.
enum EventStream {
    static func fragments(
        every interval: Duration, lifetime: Duration, stillSignedIn: @escaping @Sendable () -> Bool,
        next: @escaping @Sendable () async throws -> String
    ) -> Response {
        let body = ResponseBody { writer in
            let end = ContinuousClock.now + lifetime
            // Ask the browser to come back after a second when the stream ends or breaks.
            try await writer.write(ByteBuffer(string: "retry: 1000\n\n"))
            while ContinuousClock.now < end, !Task.isCancelled, !Task.isShuttingDownGracefully, stillSignedIn() {
                let html = try await next()
                try await writer.write(ByteBuffer(string: event("fragment", html)))
                try await Task.sleep(for: interval)
            }
            try await writer.finish(nil)
        }
        return Response(
            status: .ok, headers: [.contentType: "text/event-stream; charset=utf-8", .cacheControl: "no-store"], body: body)
    }

    /// One event: every line of `data` as its own `data:` field (a line break cannot end it early).
    static func event(_ name: String, _ data: String) -> String {
        var text = "event: \(name)\n"
        for line in data.split(separator: "\n", omittingEmptySubsequences: false) {
            text += "data: \(line.replacingOccurrences(of: "\r", with: ""))\n"
        }
        return text + "\n"
    }
}
