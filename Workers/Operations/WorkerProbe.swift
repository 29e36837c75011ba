import Foundation

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// What a worker's `/health` and `/metrics` said when asked.
public struct WorkerStatus: Sendable, Hashable {
    public var endpoint: WorkerEndpoint
    /// `ok` or `failing` as the worker reports it; `unreachable` when it did not answer.
    public var status: String
    public var group: String?
    public var assignedPartitions: Int?
    public var secondsSinceLastPoll: Double?
    /// The worker's fatal error, or why it could not be reached.
    public var problem: String?
    /// `carefleet_messages_handled_total` summed over topics (nil when /metrics did not answer).
    public var handled: Double?
    public var sampledAt: Date

    public var isHealthy: Bool { status == "ok" }
}

/// Asks workers for their health and counters over HTTP.
public struct WorkerProbe: Sendable {
    public var timeout: TimeInterval

    public init(timeout: TimeInterval = 2) {
        self.timeout = timeout
    }

    /// Every endpoint at once; the answers in the endpoints' order.
    public func check(_ endpoints: [WorkerEndpoint]) async -> [WorkerStatus] {
        await withTaskGroup(of: (Int, WorkerStatus).self) { group in
            for (index, endpoint) in endpoints.enumerated() { group.addTask { (index, await check(endpoint)) } }
            var statuses: [(Int, WorkerStatus)] = []
            for await status in group { statuses.append(status) }
            return statuses.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }

    struct HealthReport: Decodable {
        var status: String
        var group: String?
        var assignedPartitions: Int?
        var secondsSinceLastPoll: Double?
        var failure: String?
    }

    public func check(_ endpoint: WorkerEndpoint) async -> WorkerStatus {
        var status = WorkerStatus(endpoint: endpoint, status: "unreachable", sampledAt: Date())
        do {
            let (data, code) = try await get(endpoint.url + "/health")
            let report = try JSONDecoder().decode(HealthReport.self, from: data)
            status.status = report.status
            status.group = report.group
            status.assignedPartitions = report.assignedPartitions
            status.secondsSinceLastPoll = report.secondsSinceLastPoll
            status.problem = report.failure ?? (code == 200 ? nil : "HTTP \(code)")
        } catch {
            status.problem = "\(error)"
            return status
        }
        if let (data, code) = try? await get(endpoint.url + "/metrics"), code == 200 {
            status.handled = Self.sum(of: "carefleet_messages_handled_total", in: String(decoding: data, as: UTF8.self))
        }
        status.sampledAt = Date()
        return status
    }

    /// The sum of every sample of `metric` in Prometheus text exposition.
    public static func sum(of metric: String, in text: String) -> Double {
        var total = 0.0
        for line in text.split(separator: "\n") where line.hasPrefix(metric) {
            let rest = line.dropFirst(metric.count)
            guard rest.first == "{" || rest.first == " " else { continue }
            if let value = line.split(separator: " ").last.flatMap({ Double($0) }) { total += value }
        }
        return total
    }

    private func get(_ address: String) async throws -> (Data, Int) {
        guard let url = URL(string: address) else { throw WorkerEndpointError(entry: address) }
        var request = URLRequest(url: url)
        request.timeoutInterval = timeout
        let (data, response) = try await URLSession.shared.data(for: request)
        return (data, (response as? HTTPURLResponse)?.statusCode ?? 0)
    }
}

/// Messages per second of each worker, from the change of its handled counter between samples.
public struct WorkerThroughput: Sendable {
    private var previous: [WorkerEndpoint: (handled: Double, at: Date)] = [:]

    public init() {}

    /// Records the samples; the rate per worker since its previous sample (nil on the first, or
    /// after a restart reset its counter).
    public mutating func rates(_ statuses: [WorkerStatus]) -> [WorkerEndpoint: Double] {
        var rates: [WorkerEndpoint: Double] = [:]
        for status in statuses {
            guard let handled = status.handled else { continue }
            if let last = previous[status.endpoint], handled >= last.handled {
                let seconds = status.sampledAt.timeIntervalSince(last.at)
                if seconds > 0 { rates[status.endpoint] = (handled - last.handled) / seconds }
            }
            previous[status.endpoint] = (handled, status.sampledAt)
        }
        return rates
    }
}
