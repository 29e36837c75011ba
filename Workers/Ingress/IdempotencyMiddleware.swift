import Clinic
import Contracts
import Crypto
import Foundation
import HTTPTypes
import Hummingbird

/// `Idempotency-Key` on a signed-in POST: the first answer to a key is stored with a hash of the
/// request; the same key and body get that answer again (and nothing is published again), the
/// same key with another body is 422, and a key whose first request is still running is 409.
///
/// It runs after authentication and applies to signed-in callers only: an anonymous request with
/// a used key is answered like any anonymous request (401 where a token is needed). Routes that
/// answer with tokens (`/v1/auth/…`) are never recorded, so no token is ever stored.
struct IdempotencyMiddleware: RouterMiddleware {
    typealias Context = IngressContext
    let store: any IdempotencyStore
    static let header = HTTPField.Name("Idempotency-Key")!  // a valid token, known at compile time
    static let replayedHeader = HTTPField.Name("Idempotent-Replayed")!  // a valid token, known at compile time

    func handle(_ request: Request, context: IngressContext, next: (Request, IngressContext) async throws -> Response)
        async throws -> Response
    {
        guard request.method == .post, let key = request.headers[Self.header], let user = context.user,
            !request.uri.path.hasPrefix("/v1/auth/")
        else { return try await next(request, context) }
        guard (1...200).contains(key.utf8.count), key.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7f }) else {
            throw APIError.malformed(field: "Idempotency-Key", "the Idempotency-Key header must be 1 to 200 printable characters")
        }
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: context.maxUploadSize)
        } catch {
            throw APIError(.contentTooLarge, code: "too_large", message: "the body is larger than \(context.maxUploadSize) bytes")
        }
        var hasher = SHA256()
        hasher.update(data: Data("\(request.method.rawValue) \(request.uri.path)\n".utf8))
        hasher.update(data: Self.canonical(Data(buffer: body)))
        let requestHash = hasher.finalize().map { String(format: "%02x", $0) }.joined()
        let principal = user.id.canonical

        switch try await store.claim(tenant: user.tenantId, principal: principal, key: key, requestHash: requestHash) {
        case .claimed: break
        case .mismatch:
            throw APIError(
                .unprocessableContent, code: "idempotency_key_reused",
                message: "this Idempotency-Key was used with a different request", details: ["field": "Idempotency-Key"])
        case .inProgress:
            throw APIError.conflict("idempotency_in_progress", "a request with this Idempotency-Key is still running")
        case .answered(let status, let body):
            var headers: HTTPFields = [Self.replayedHeader: "true"]
            if !body.isEmpty { headers[.contentType] = "application/json; charset=utf-8" }
            return Response(
                status: HTTPResponse.Status(code: status), headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
        }

        var forwarded = request
        forwarded.body = RequestBody(buffer: body)
        let capture = ResponseCapture()
        let response: Response
        do {
            response = try await ResponseCapture.$current.withValue(capture) { () async throws -> Response in
                do {
                    return try await next(forwarded, context)
                } catch let error as APIError where error.status.code < 500 {
                    return try error.response(from: forwarded, context: context)
                }
            }
        } catch {
            // A failure (5xx) is not an answer to remember: the client may try again with the key.
            try await release(user, principal, key, after: error)
            throw error
        }
        if let status = capture.status, status.code < 500 {
            try await store.complete(
                tenant: user.tenantId, principal: principal, key: key, status: Int(status.code),
                body: String(decoding: capture.body, as: UTF8.self))
        } else {
            try await release(user, principal, key, after: nil)
        }
        return response
    }

    /// Forgets the claim; if even that fails the key would answer 409 forever, so the error says so.
    private func release(_ user: AuthenticatedUser, _ principal: String, _ key: String, after failure: (any Error)?) async throws {
        do {
            try await store.release(tenant: user.tenantId, principal: principal, key: key)
        } catch {
            throw IdempotencyReleaseError(requestError: failure.map { "\($0)" }, releaseError: "\(error)")
        }
    }

    /// JSON bodies are compared by content, not by key order or spacing.
    static func canonical(_ body: Data) -> Data {
        guard let object = try? JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed]),
            let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .fragmentsAllowed])
        else { return body }  // not JSON: compared byte for byte (the route will refuse it anyway)
        return data
    }
}

/// A request failed and its idempotency claim could not be released either.
struct IdempotencyReleaseError: Error, CustomStringConvertible {
    let requestError: String?
    let releaseError: String
    var description: String {
        "the Idempotency-Key claim could not be released (\(releaseError)) after \(requestError ?? "a server error answer")"
    }
}

/// `X-Tenant-Id` on registration and login (later requests carry the tenant in their token).
enum TenantHeader {
    static let name = HTTPField.Name("X-Tenant-Id")!  // a valid token, known at compile time

    static func tenant(of request: Request) throws -> UUID {
        guard let value = request.headers[name] else { return Tenants.defaultTenant }
        guard value.count == 36, let id = UUID(parsing: value) else {
            throw APIError.malformed(field: "X-Tenant-Id", "X-Tenant-Id must be a UUID")
        }
        return id
    }
}
