import Contracts
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Postgres

/// `Idempotency-Key` on POST: the first answer to a key is stored with a hash of the request;
/// the same key and body get that answer again (and nothing is published again), the same key
/// with another body is 422, and a key whose first request is still running is 409.
struct IdempotencyMiddleware: RouterMiddleware {
    typealias Context = IngressContext
    let database: PostgresPool
    static let header = HTTPField.Name("Idempotency-Key")!
    static let replayedHeader = HTTPField.Name("Idempotent-Replayed")!

    func handle(_ request: Request, context: IngressContext, next: (Request, IngressContext) async throws -> Response)
        async throws -> Response
    {
        guard request.method == .post, let key = request.headers[Self.header] else { return try await next(request, context) }
        guard (1...200).contains(key.count) else {
            throw APIError.malformed(field: "Idempotency-Key", "the Idempotency-Key header must be 1 to 200 characters")
        }
        let body = try await request.body.collect(upTo: context.maxUploadSize)
        var hasher = SHA256()
        hasher.update(data: Data("\(request.method.rawValue) \(request.uri.path)\n".utf8))
        hasher.update(data: Self.canonical(Data(buffer: body)))
        let requestHash = hasher.finalize().map { String(format: "%02x", $0) }.joined()
        let tenant = context.user?.tenantId ?? (try? TenantHeader.tenant(of: request)) ?? Tenants.defaultTenant
        let principal = context.user.map { $0.id.uuidString.lowercased() } ?? "anonymous"

        let claimed = try await database.query(
            """
            INSERT INTO identity.idempotency_keys (tenant_id, principal, key, request_hash) VALUES ($1, $2, $3, $4)
            ON CONFLICT DO NOTHING
            """, [tenant, principal, key, requestHash])
        guard claimed.affectedRows == 1 else {
            return try await replay(tenant: tenant, principal: principal, key: key, requestHash: requestHash)
        }

        var forwarded = request
        forwarded.body = RequestBody(buffer: body)
        let capture = ResponseCapture()
        do {
            let response = try await ResponseCapture.$current.withValue(capture) { () async throws -> Response in
                do {
                    return try await next(forwarded, context)
                } catch let error as APIError where error.status.code < 500 {
                    return try error.response(from: forwarded, context: context)
                }
            }
            if let status = capture.status, status.code < 500 {
                try await database.query(
                    """
                    UPDATE identity.idempotency_keys SET status_code = $4, response_body = $5
                    WHERE tenant_id = $1 AND principal = $2 AND key = $3
                    """, [tenant, principal, key, Int(status.code), String(decoding: capture.body, as: UTF8.self)])
            } else {
                try await forget(tenant: tenant, principal: principal, key: key)
            }
            return response
        } catch {
            // A failure (5xx) is not an answer to remember: the client may try again with the key.
            try? await forget(tenant: tenant, principal: principal, key: key)
            throw error
        }
    }

    /// JSON bodies are compared by content, not by key order or spacing.
    static func canonical(_ body: Data) -> Data {
        guard let object = try? JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed]),
            let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .fragmentsAllowed])
        else { return body }
        return data
    }

    private func replay(tenant: UUID, principal: String, key: String, requestHash: String) async throws -> Response {
        let rows = try await database.query(
            """
            SELECT request_hash, status_code, response_body FROM identity.idempotency_keys
            WHERE tenant_id = $1 AND principal = $2 AND key = $3
            """, [tenant, principal, key])
        guard let row = rows.first else { throw APIError.conflict("idempotency_conflict", "try the request again") }
        guard try row.decode(String.self, 0) == requestHash else {
            throw APIError(
                .unprocessableContent, code: "idempotency_key_reused",
                message: "this Idempotency-Key was used with a different request", details: ["field": "Idempotency-Key"])
        }
        guard let status = try row.decode(Int?.self, 1) else {
            throw APIError.conflict("idempotency_in_progress", "a request with this Idempotency-Key is still running")
        }
        let body = try row.decode(String?.self, 2) ?? ""
        var headers: HTTPFields = [Self.replayedHeader: "true"]
        if !body.isEmpty { headers[.contentType] = "application/json; charset=utf-8" }
        return Response(
            status: HTTPResponse.Status(code: status), headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
    }

    private func forget(tenant: UUID, principal: String, key: String) async throws {
        try await database.query(
            "DELETE FROM identity.idempotency_keys WHERE tenant_id = $1 AND principal = $2 AND key = $3",
            [tenant, principal, key])
    }
}

/// `X-Tenant-Id` on registration and login (later requests carry the tenant in their token).
enum TenantHeader {
    static let name = HTTPField.Name("X-Tenant-Id")!

    static func tenant(of request: Request) throws -> UUID {
        guard let value = request.headers[name] else { return Tenants.defaultTenant }
        guard let id = UUID(uuidString: value) else { throw APIError.malformed(field: "X-Tenant-Id", "X-Tenant-Id must be a UUID") }
        return id
    }
}
