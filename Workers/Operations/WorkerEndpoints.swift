import Foundation

/// A worker's operations endpoint (`/health`, `/metrics`) as configuration names it.
public struct WorkerEndpoint: Sendable, Hashable {
    public var name: String
    /// Its base URL, e.g. `http://127.0.0.1:9101`.
    public var url: String

    public init(name: String, url: String) {
        self.name = name
        self.url = url
    }

    /// Reads `operations.workers`: `name=url` pairs separated by commas, e.g.
    /// `booking-worker=http://127.0.0.1:9101,email-worker=http://127.0.0.1:9103`.
    public static func parse(_ text: String) throws(WorkerEndpointError) -> [WorkerEndpoint] {
        var endpoints: [WorkerEndpoint] = []
        for entry in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !entry.isEmpty {
            let parts = entry.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, !parts[0].isEmpty, let url = URL(string: parts[1]), url.scheme == "http" || url.scheme == "https",
                url.host != nil
            else { throw WorkerEndpointError(entry: entry) }
            endpoints.append(WorkerEndpoint(name: parts[0], url: parts[1].hasSuffix("/") ? String(parts[1].dropLast()) : parts[1]))
        }
        return endpoints
    }
}

public struct WorkerEndpointError: Error, Sendable, CustomStringConvertible {
    public let entry: String
    public var description: String { "operations.workers: '\(entry)' is not name=http://host:port" }
}
