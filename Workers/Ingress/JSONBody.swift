import Contracts
import Foundation
import HTTPTypes
import Hummingbird

/// JSON in and out, with errors that name the field.
enum JSONBody {
    static func response(status: HTTPResponse.Status = .ok, _ value: some Encodable) throws -> Response {
        let bytes: [UInt8]
        do {
            bytes = try WireCoding.encoder().encodeBytes(value)
        } catch {
            // Our own answer did not encode: a bug, never something to hide behind `{}`.
            throw AnswerEncodingError(type: String(describing: type(of: value)), underlying: "\(error)")
        }
        ResponseCapture.current?.record(status: status, body: bytes)
        return Response(
            status: status, headers: [.contentType: "application/json; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    static func noContent() -> Response {
        ResponseCapture.current?.record(status: .noContent, body: [])
        return Response(status: .noContent)
    }

    /// Like `decode`, but an empty body is nil (for bodies whose fields are all optional).
    static func decodeIfPresent<T: Decodable & Documented>(_ type: T.Type, from request: Request, context: IngressContext) async throws -> T? {
        let buffer = try await collect(request, context: context)
        guard buffer.readableBytes > 0 else { return nil }
        return try decode(type, from: buffer)
    }

    /// Decodes the request body: 400 naming the field when it does not parse or fit the type.
    static func decode<T: Decodable & Documented>(_ type: T.Type, from request: Request, context: IngressContext) async throws -> T {
        let buffer = try await collect(request, context: context)
        guard buffer.readableBytes > 0 else { throw APIError.malformed(field: nil, "the body is empty: send a JSON object") }
        return try decode(type, from: buffer)
    }

    private static func collect(_ request: Request, context: IngressContext) async throws -> ByteBuffer {
        do {
            return try await request.body.collect(upTo: context.maxUploadSize)
        } catch {
            throw APIError(.contentTooLarge, code: "too_large", message: "the body is larger than \(context.maxUploadSize) bytes")
        }
    }

    /// Decodes a body, refusing fields its schema does not name (a misspelt optional field would
    /// otherwise be ignored without a word) and names an object holds twice (which copy counts
    /// would be the decoder's guess).
    private static func decode<T: Decodable & Documented>(_ type: T.Type, from buffer: ByteBuffer) throws -> T {
        let value: T
        do {
            // The wire decoder, not JSONDecoder: less time per body (perf of the ingress under POST
            // load: 8.1% of its CPU in JSONDecoder, 5.7% in the wire decoder), stricter ids, and an
            // object that names a member twice is refused rather than read by one of its copies.
            value = try buffer.withUnsafeReadableBytes { try WireDecoder().decode(T.self, from: Data($0)) }
        } catch {
            if case .dataCorrupted(let context)? = error as? DecodingError, context.underlyingError is WireRepeatedMember {
                // The document is valid up to that member, and the scanner stops there: let it
                // give the member's path.
                try refuseUnknownOrRepeatedFields(T.self, in: buffer)
            }
            let problem = DecodingProblem(error)
            throw APIError.malformed(field: problem.field, problem.description)
        }
        // It decoded, so it is JSON of the right shape: only unknown names are left to find.
        try refuseUnknownOrRepeatedFields(T.self, in: buffer)
        return value
    }

    private static func refuseUnknownOrRepeatedFields<T: Documented>(_ type: T.Type, in buffer: ByteBuffer) throws {
        var scanner = JSONFieldScanner(bytes: buffer.readableBytesView)
        switch scanner.firstProblem(for: T.schema) {
        case .unknown(let field)?: throw APIError.malformed(field: field, "'\(field)' is not a field of this request")
        case .repeated(let field)?: throw APIError.malformed(field: field, "'\(field)' appears twice: send each field once")
        case nil: return
        }
    }
}

/// An answer of ours that could not be encoded (a bug): a 500, logged with the type.
struct AnswerEncodingError: Error, CustomStringConvertible {
    let type: String
    let underlying: String
    var description: String { "could not encode the answer \(type): \(underlying)" }
}

/// The JSON answer of the request running in this task, for the idempotency record.
final class ResponseCapture: @unchecked Sendable {  // written and read by the one task serving the request
    @TaskLocal static var current: ResponseCapture?
    private(set) var status: HTTPResponse.Status?
    private(set) var body: [UInt8] = []

    func record(status: HTTPResponse.Status, body: [UInt8]) {
        self.status = status
        self.body = body
    }
}
