import Contracts
import Foundation
import HTTPTypes
import Hummingbird

/// JSON in and out, with errors that name the field.
enum JSONBody {
    static func response(status: HTTPResponse.Status = .ok, _ value: some Encodable) -> Response {
        let data = (try? WireCoding.encoder().encode(value)) ?? Data("{}".utf8)
        ResponseCapture.current?.record(status: status, body: data)
        return Response(
            status: status, headers: [.contentType: "application/json; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func noContent() -> Response {
        ResponseCapture.current?.record(status: .noContent, body: Data())
        return Response(status: .noContent)
    }

    /// Like `decode`, but an empty body is nil (for bodies whose fields are all optional).
    static func decodeIfPresent<T: Decodable>(_ type: T.Type, from request: Request, context: IngressContext) async throws -> T? {
        let buffer = try await request.body.collect(upTo: context.maxUploadSize)
        guard buffer.readableBytes > 0 else { return nil }
        var copy = request
        copy.body = RequestBody(buffer: buffer)
        return try await decode(type, from: copy, context: context)
    }

    /// Decodes the request body: 400 naming the field when it does not parse or fit the type.
    static func decode<T: Decodable>(_ type: T.Type, from request: Request, context: IngressContext) async throws -> T {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: context.maxUploadSize)
        } catch {
            throw APIError(.contentTooLarge, code: "too_large", message: "the body is larger than \(context.maxUploadSize) bytes")
        }
        guard buffer.readableBytes > 0 else { throw APIError.malformed(field: nil, "the body is empty: send a JSON object") }
        do {
            return try WireCoding.decoder().decode(T.self, from: Data(buffer: buffer))
        } catch {
            let problem = DecodingProblem(error)
            throw APIError.malformed(field: problem.field, problem.description)
        }
    }
}

/// The JSON answer of the request running in this task, for the idempotency record.
final class ResponseCapture: @unchecked Sendable {  // written and read by the one task serving the request
    @TaskLocal static var current: ResponseCapture?
    private(set) var status: HTTPResponse.Status?
    private(set) var body = Data()

    func record(status: HTTPResponse.Status, body: Data) {
        self.status = status
        self.body = body
    }
}
