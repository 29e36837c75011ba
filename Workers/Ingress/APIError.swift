import Foundation
import HTTPTypes
import Hummingbird

/// Every error answer: `{"error": {"code", "message", "details"}}` with the right status.
public struct APIError: HTTPResponseError, Sendable {
    public let status: HTTPResponse.Status
    public let code: String
    public let message: String
    public let details: [String: String]
    public var headers: HTTPFields = [:]

    public init(_ status: HTTPResponse.Status, code: String, message: String, details: [String: String] = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.details = details
    }

    /// The body does not parse, or a field is missing or of the wrong type.
    public static func malformed(field: String?, _ message: String) -> APIError {
        APIError(.badRequest, code: "malformed_request", message: message, details: field.map { ["field": $0] } ?? [:])
    }

    /// The body parses but a value breaks a rule.
    public static func invalid(field: String, _ message: String) -> APIError {
        APIError(.unprocessableContent, code: "validation_failed", message: "\(field) \(message)", details: ["field": field])
    }

    public static func notFound(_ what: String) -> APIError {
        APIError(.notFound, code: "not_found", message: "\(what) not found")
    }

    public static func forbidden(_ message: String) -> APIError { APIError(.forbidden, code: "forbidden", message: message) }

    public static func unauthorized(_ message: String) -> APIError {
        var error = APIError(.unauthorized, code: "unauthorized", message: message)
        error.headers[.wwwAuthenticate] = "Bearer"
        return error
    }

    public static func conflict(_ code: String, _ message: String) -> APIError { APIError(.conflict, code: code, message: message) }

    public static func tooManyRequests(retryAfterSeconds: Int) -> APIError {
        var error = APIError(
            .tooManyRequests, code: "rate_limited", message: "too many failed attempts; try again later",
            details: ["retryAfterSeconds": String(retryAfterSeconds)])
        error.headers[.retryAfter] = String(retryAfterSeconds)
        return error
    }

    public static func unavailable(_ message: String) -> APIError {
        var error = APIError(.serviceUnavailable, code: "unavailable", message: message)
        error.headers[.retryAfter] = "1"
        return error
    }

    /// A known path asked with a method it does not serve.
    public static func methodNotAllowed(allowed: [String]) -> APIError {
        var error = APIError(
            .methodNotAllowed, code: "method_not_allowed", message: "this path answers \(allowed.joined(separator: ", ")) only")
        error.headers[.allow] = allowed.joined(separator: ", ")
        return error
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = try JSONBody.response(status: status, ErrorBody(error: .init(code: code, message: message, details: details)))
        for field in headers { response.headers.append(field) }
        return response
    }

    struct ErrorBody: Encodable {
        struct Inner: Encodable {
            var code: String
            var message: String
            var details: [String: String]
        }
        var error: Inner
    }
}
