import Hummingbird

// http-ceiling: Hummingbird 2 answering a constant (`GET /`) and echoing a body (`POST /echo`),
// nothing else: the ceiling `fleet bench ingress` measures the ingress's routes against, in the
// same run and on the same machine (the probe of ../shared/bench/http-ceiling, built with the
// package so the bench can start it).
let router = Router()
router.get("/") { _, _ in "hello" }
router.post("/echo") { request, _ -> Response in
    let body = try await request.body.collect(upTo: 1 << 20)
    return Response(status: .accepted, body: .init(byteBuffer: body))
}
let port = Int(CommandLine.arguments.dropFirst().first ?? "") ?? 8181
let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
try await app.runService()
