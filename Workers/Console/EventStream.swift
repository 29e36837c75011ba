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

/// A page whose live part the server renders, then renders again every refresh and sends over
/// `<path>/stream` (the page's script swaps it in). Each open stream has its own `state`, e.g.
/// the counts its rates are measured from; the first render, without a stream, has none.
enum LivePage {
    /// What the page's template gets: the live part's HTML.
    struct Values {
        var live: String
    }

    static func add<State: Sendable>(
        to router: Router<ConsoleContext>, _ path: String, title: String, section: ConsolePages.Section, services: ConsoleServices,
        state: @escaping @Sendable () -> State, render: @escaping @Sendable (State?) async throws -> String
    ) {
        router.get(RouterPath(path)) { _, context -> Response in
            let live = try await render(nil)
            return try services.pages.page(path, Values(live: live), title: title, section: section, session: context.session)
        }
        router.get(RouterPath("\(path)/stream")) { _, context -> Response in
            let sessions = services.sessions
            let id = context.session?.id ?? ""
            let streamState = state()
            return EventStream.fragments(
                every: services.refreshInterval, lifetime: services.streamLifetime, stillSignedIn: { sessions.session(id) != nil },
                next: { try await render(streamState) })
        }
    }
}
