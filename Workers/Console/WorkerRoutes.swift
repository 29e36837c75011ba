import Foundation
import Hummingbird
import Operations
import Synchronization

/// `/workers`: each configured worker's `/health` and its messages per second, live over
/// `/workers/stream`.
struct WorkerRoutes {
    let services: ConsoleServices

    struct Live {
        var workers: [Row]
    }

    struct Row {
        var name: String
        var url: String
        var status: String
        var statusClass: String
        var group: String
        var partitions: String
        var lastPoll: String
        var rate: String
        var problem: String
    }

    func add(to router: Router<ConsoleContext>) {
        LivePage.add(
            to: router, "workers", title: "Workers", section: .workers, services: services, state: { WorkerRates() },
            render: { state in try await render(throughput: state) })
    }

    func render(throughput: WorkerRates?) async throws -> String {
        let statuses = await services.probe.check(services.operations.workers)
        let rates = throughput?.record(statuses) ?? [:]
        let rows = statuses.map { status in
            Row(
                name: status.endpoint.name, url: status.endpoint.url, status: status.status,
                statusClass: status.isHealthy ? "good" : "bad", group: status.group ?? "–",
                partitions: status.assignedPartitions.map(String.init) ?? "–",
                lastPoll: status.secondsSinceLastPoll.map { String(format: "%.1f s ago", $0) } ?? "–",
                rate: rates[status.endpoint].map { String(format: "%.1f", $0) } ?? "–", problem: status.problem ?? "")
        }
        return try services.pages.fragment("workers-live", Live(workers: rows))
    }
}

/// The workers' counters at the previous refresh of one stream.
final class WorkerRates: Sendable {
    private let throughput = Mutex(WorkerThroughput())

    func record(_ statuses: [WorkerStatus]) -> [WorkerEndpoint: Double] {
        throughput.withLock { $0.rates(statuses) }
    }
}
