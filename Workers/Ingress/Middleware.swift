import Contracts
import Foundation
import HTTPTypes
import Hummingbird
import Kafka
import Logging
import Metrics
import Postgres

/// Correlation id, access log (method, path, status, time; never bodies or tokens), request
/// metrics, and the last word on errors: anything that is not already an `APIError` becomes a
/// clear JSON error, never a stack trace.
struct AccessMiddleware: RouterMiddleware {
    typealias Context = IngressContext
    let logger: Logger

    func handle(_ request: Request, context: IngressContext, next: (Request, IngressContext) async throws -> Response)
        async throws -> Response
    {
        var context = context
        let incoming = request.headers[HTTPField.Name("X-Request-Id")!].flatMap { $0.count <= 100 ? $0 : nil }
        context.requestId = incoming ?? UUID().uuidString.lowercased()
        let started = ContinuousClock.now
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as APIError {
            response = try error.response(from: request, context: context)
        } catch let error as HTTPResponseError {
            // Hummingbird's own (404 for unknown routes, 405 …): same JSON shape.
            let status = error.status
            response = try APIError(status, code: status.code == 404 ? "not_found" : "http_\(status.code)", message: status.reasonPhrase)
                .response(from: request, context: context)
        } catch let error as PostgresError where error.isConnectionFailure {
            logger.error("database unavailable", metadata: ["request_id": "\(context.requestId)", "error": "\(error)"])
            response = try APIError.unavailable("the database is unavailable; try again").response(from: request, context: context)
        } catch let error as KafkaError {
            logger.error("broker unavailable", metadata: ["request_id": "\(context.requestId)", "error": "\(error)"])
            response = try APIError.unavailable("the message broker is unavailable; try again").response(from: request, context: context)
        } catch {
            logger.error("unexpected error", metadata: ["request_id": "\(context.requestId)", "error": "\(error)"])
            response = try APIError(.internalServerError, code: "internal", message: "something went wrong (request \(context.requestId))")
                .response(from: request, context: context)
        }
        response.headers[HTTPField.Name("X-Request-Id")!] = context.requestId
        let elapsed = ContinuousClock.now - started
        let milliseconds = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        logger.info(
            "request",
            metadata: [
                "request_id": "\(context.requestId)", "method": "\(request.method.rawValue)", "path": "\(request.uri.path)",
                "status": "\(response.status.code)", "duration_ms": "\(String(format: "%.2f", milliseconds))",
                "user_id": "\(context.user?.id.uuidString.lowercased() ?? "-")",
            ])
        Counter(
            label: "carefleet_http_requests_total",
            dimensions: [("method", request.method.rawValue), ("status", String(response.status.code))]
        ).increment()
        Timer(label: "carefleet_http_request_duration_seconds", dimensions: [("method", request.method.rawValue)])
            .recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
        return response
    }
}

/// Reads `Authorization: Bearer <token>`. A missing header leaves the caller anonymous (routes
/// that need a user answer 401); a bad, tampered or expired token is 401 at once.
struct AuthenticationMiddleware: RouterMiddleware {
    typealias Context = IngressContext
    let tokens: AccessTokens

    func handle(_ request: Request, context: IngressContext, next: (Request, IngressContext) async throws -> Response)
        async throws -> Response
    {
        guard let header = request.headers[.authorization] else { return try await next(request, context) }
        guard header.lowercased().hasPrefix("bearer ") else { throw APIError.unauthorized("use Authorization: Bearer <token>") }
        var context = context
        do {
            context.user = try tokens.verify(String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces))
        } catch .expired {
            throw APIError.unauthorized("the access token has expired; refresh it")
        } catch {
            throw APIError.unauthorized("the access token is not valid")
        }
        return try await next(request, context)
    }
}
