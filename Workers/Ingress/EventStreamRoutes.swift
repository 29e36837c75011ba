import Foundation
import HTTPTypes
import Hummingbird

/// `GET /v1/events/stream`: server-sent events for the signed-in user — their new notifications
/// (`event: notification`) and the changes of their appointments as they are decided
/// (`event: appointment`). `Last-Event-ID` resumes after a reconnect without loss or repeats, on
/// any copy of the ingress; a comment and a checkpoint every `ingress.streams.heartbeat`.
struct EventStreamRoutes {
    let services: IngressServices
    static let lastEventId = HTTPField.Name("Last-Event-ID")!  // a valid token, known at compile time

    func add(to routes: Routes) {
        routes.get(
            "events/stream",
            Doc(
                "Server-sent events: my new notifications and my appointments' changes, live; Last-Event-ID resumes", tag: "notifications",
                parameters: [Doc.header("Last-Event-ID", .text(2_000, minLength: 1), "the id of the last event received")],
                answers: [Doc.eventStream("events as they happen (appointment, notification, checkpoint, reset, end); the stream stays open")], errors: [503])
        ) { request, context in
            let caller = try context.requireUser()
            guard let hub = services.streams else { throw APIError.unavailable("event streams are not available on this copy") }
            let resume = try request.headers[Self.lastEventId].map { try Check.line($0, field: "Last-Event-ID", max: 2_000) }
            guard resume.map({ StreamCursor(parsing: $0) != nil }) ?? true else {
                throw APIError.malformed(field: "Last-Event-ID", "Last-Event-ID is not an id this API sent")
            }
            let stream = try await hub.open(for: caller, expiresAt: caller.expiresAt, lastEventId: resume)
            return Response(
                status: .ok,
                headers: [.contentType: "text/event-stream; charset=utf-8", .cacheControl: "no-cache", HTTPField.Name("X-Accel-Buffering")!: "no"],
                body: ResponseBody { writer in
                    for await message in stream {
                        try await writer.write(ByteBuffer(bytes: message.bytes))
                        if case .end = message { break }
                    }
                    try await writer.finish(nil)
                })
        }
    }
}
