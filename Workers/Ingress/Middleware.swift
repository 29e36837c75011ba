import Contracts
import Foundation
import HTTPTypes
import Hummingbird
import Kafka
import Logging
import Metrics
import Postgres
import Runtime
import Synchronization

/// Correlation id, access log (method, path, status, time; never bodies, queries or tokens),
/// request metrics, and the last word on errors: anything that is not already an `APIError`
/// becomes a clear JSON error, never a stack trace; a known path asked with another method is
/// 405 with `Allow`.
struct AccessMiddleware: RouterMiddleware {
    typealias Context = IngressContext
    let logger: Logger
    let routes: RouteTable
    let metrics = HTTPMetrics()
    /// Access log lines (info level); off with `http.access.log = false`.
    let accessLog: Bool

    static let requestIdHeader = HTTPField.Name("X-Request-Id")!  // a valid token, known at compile time

    func handle(_ request: Request, context: IngressContext, next: (Request, IngressContext) async throws -> Response)
        async throws -> Response
    {
        var context = context
        context.requestId = Self.requestId(request.headers[Self.requestIdHeader]) ?? UUID.random().canonical
        let started = ContinuousClock.now
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            response = try answer(to: error, request, context)
        }
        response.headers[Self.requestIdHeader] = context.requestId
        let elapsed = ContinuousClock.now - started
        metrics.record(method: request.method, status: response.status.code, elapsed: elapsed)
        if accessLog { AccessLogLine.write(request, response, context, elapsed) }
        return response
    }

    /// A client's own request id is kept when it is short and printable (it lands in logs).
    static func requestId(_ incoming: String?) -> String? {
        guard let incoming, (1...100).contains(incoming.utf8.count),
            incoming.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") })
        else { return nil }
        return incoming
    }

    func answer(to error: any Error, _ request: Request, _ context: IngressContext) throws -> Response {
        switch error {
        case let error as APIError:
            return try error.response(from: request, context: context)
        case let error as HTTPResponseError where error.status == .notFound:
            // Hummingbird found no route: a known path with another method is 405.
            let allowed = routes.methods(servingPath: request.uri.path)
            if !allowed.isEmpty {
                return try APIError.methodNotAllowed(allowed: allowed.map(\.rawValue)).response(from: request, context: context)
            }
            return try APIError(.notFound, code: "not_found", message: "no such route").response(from: request, context: context)
        case let error as HTTPResponseError:
            let status = error.status
            return try APIError(status, code: "http_\(status.code)", message: status.reasonPhrase).response(from: request, context: context)
        case let error as PostgresError where error.isConnectionFailure || error.isRetriable:
            logger.error("database unavailable", metadata: ["request_id": "\(context.requestId)", "error": "\(error)"])
            return try APIError.unavailable("the database is unavailable; try again").response(from: request, context: context)
        case let error as PostgresError where error.isCausedByInput:
            // Input the edge checks should have refused: still the client's, never a 500.
            logger.warning("input refused by the database", metadata: ["request_id": "\(context.requestId)", "error": "\(error)"])
            return try APIError(
                .badRequest, code: "invalid_input", message: "a value in the request is out of range or not allowed"
            ).response(from: request, context: context)
        case let error as OutboxUnavailable:
            logger.error("broker unavailable", metadata: ["request_id": "\(context.requestId)", "error": "\(error)"])
            return try APIError.unavailable("the message broker did not take the command; try again").response(from: request, context: context)
        case let error as KafkaError:
            logger.error("broker unavailable", metadata: ["request_id": "\(context.requestId)", "error": "\(error)"])
            return try APIError.unavailable("the message broker is unavailable; try again").response(from: request, context: context)
        default:
            logger.error("unexpected error", metadata: ["request_id": "\(context.requestId)", "error": "\(error)"])
            return try APIError(.internalServerError, code: "internal", message: "something went wrong (request \(context.requestId))")
                .response(from: request, context: context)
        }
    }
}

extension PostgresError {
    /// The server refused a value (SQLSTATE class 22: data exception; 54: a program limit such as
    /// an index row too big), or libpq could not send it (a NUL): the request's fault.
    var isCausedByInput: Bool {
        if kind == .server, let sqlState { return sqlState.hasPrefix("22") || sqlState.hasPrefix("54") }
        // The library refuses a NUL in a parameter, or a value that does not encode, before sending.
        return kind == .parameter || kind == .encoding
    }
}

/// One access log line, written without a `Logger.Metadata` dictionary per request.
enum AccessLogLine {
    static func write(_ request: Request, _ response: Response, _ context: IngressContext, _ elapsed: Duration) {
        let hundredths = elapsed.components.seconds * 100_000 + elapsed.components.attoseconds / 10_000_000_000_000
        var line = "{\"duration_ms\":\""
        line += "\(hundredths / 100)." + (hundredths % 100 < 10 ? "0" : "") + "\(hundredths % 100)"
        line += "\",\"level\":\"info\",\"logger\":\"carefleet.ingress.access\",\"message\":\"request\",\"method\":"
        line += JSONLogHandler.quote(request.method.rawValue)
        line += ",\"path\":"
        line += JSONLogHandler.quote(String(request.uri.path.prefix(300)))
        line += ",\"request_id\":"
        line += JSONLogHandler.quote(context.requestId)
        line += ",\"status\":\"\(response.status.code)\",\"time\":\""
        line += WireCoding.formatTimestamp(Date())
        line += "\",\"user_id\":\""
        line += context.user?.id.canonical ?? "-"
        line += "\"}\n"
        LogWriter.standardError.write(line)
    }
}

/// The request counters and timers, made once per (method, status) instead of per request.
final class HTTPMetrics: Sendable {
    private let counters = Mutex<[String: Counter]>([:])
    private let timers = Mutex<[String: Metrics.Timer]>([:])

    func record(method: HTTPRequest.Method, status: Int, elapsed: Duration) {
        let key = "\(method.rawValue) \(status)"
        let counter = counters.withLock { counters in
            if let counter = counters[key] { return counter }
            let counter = Counter(
                label: "carefleet_http_requests_total", dimensions: [("method", method.rawValue), ("status", String(status))])
            counters[key] = counter
            return counter
        }
        counter.increment()
        let timer = timers.withLock { timers in
            if let timer = timers[method.rawValue] { return timer }
            let timer = Metrics.Timer(label: "carefleet_http_request_duration_seconds", dimensions: [("method", method.rawValue)])
            timers[method.rawValue] = timer
            return timer
        }
        timer.record(elapsed)
    }
}

/// Reads `Authorization: Bearer <token>`. A missing header leaves the caller anonymous (routes
/// that need a user answer 401); a bad, tampered, expired or revoked token is 401 at once.
struct AuthenticationMiddleware: RouterMiddleware {
    typealias Context = IngressContext
    let tokens: AccessTokens
    let revoked: RevokedSessions
    let activity: SessionActivity

    func handle(_ request: Request, context: IngressContext, next: (Request, IngressContext) async throws -> Response)
        async throws -> Response
    {
        guard let header = request.headers[.authorization] else { return try await next(request, context) }
        guard let token = Self.bearerToken(header) else { throw APIError.unauthorized("use Authorization: Bearer <token>") }
        var context = context
        let user: AuthenticatedUser
        do {
            user = try await tokens.verify(token)
        } catch .expired {
            throw APIError.unauthorized("the access token has expired; refresh it")
        } catch {
            throw APIError.unauthorized("the access token is not valid")
        }
        guard !revoked.isRevoked(user.sessionId) else {
            throw APIError.unauthorized("the session of this access token has ended; sign in again")
        }
        activity.used(user.sessionId)
        context.user = user
        return try await next(request, context)
    }

    /// The token of `Bearer <token>` (the scheme in any case, spaces around the token ignored).
    static func bearerToken(_ header: String) -> String? {
        let bytes = header.utf8
        guard bytes.count > 7, bytes.prefix(6).elementsEqual("bearer".utf8, by: { $0 | 0x20 == $1 }), bytes.dropFirst(6).first == 0x20
        else { return nil }
        var token = Substring(header).dropFirst(7)
        while token.first == " " { token = token.dropFirst() }
        while token.last == " " { token = token.dropLast() }
        return token.isEmpty ? nil : String(token)
    }
}
