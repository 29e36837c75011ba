import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A TCP port on 127.0.0.1 that nothing listens on right now.
public func freeLoopbackPort() throws -> Int {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { throw FixtureError("socket() failed") }
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw FixtureError("bind() failed") }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let named = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
    }
    guard named == 0 else { throw FixtureError("getsockname() failed") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// GET a URL on loopback: status and body (FoundationNetworking's URLSession).
public func httpGet(_ url: String) async throws -> (status: Int, body: String) {
    try await HTTPClient.get(url)
}

enum HTTPClient {
    static func get(_ url: String) async throws -> (status: Int, body: String) {
        guard let address = URL(string: url) else { throw FixtureError("bad URL \(url)") }
        let (data, response) = try await URLSession.shared.data(from: address)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }
}
