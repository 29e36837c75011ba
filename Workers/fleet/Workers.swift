import ArgumentParser
import Foundation
import Operations

/// `fleet workers`: the health and throughput of the workers named by `operations.workers`, as
/// the console's workers page shows them.
struct WorkersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "workers", abstract: "Health of each worker in operations.workers (its /health), and messages/s from its /metrics.")

    @OptionGroup var global: GlobalOptions
    @Option(help: "Seconds between the two samples that give the throughput.") var interval: Double = 1

    func validate() throws {
        try OptionCheck.within(0.1...3600, interval, "--interval")
    }

    func run() async throws {
        let settings = try OperationsSettings(config: try global.load())
        guard !settings.workers.isEmpty else {
            throw failure("operations.workers is empty: list name=http://host:port for each worker")
        }
        let probe = WorkerProbe()
        var throughput = WorkerThroughput()
        _ = throughput.rates(await probe.check(settings.workers))
        try await Task.sleep(for: .seconds(max(0.1, interval)))
        let statuses = await probe.check(settings.workers)
        let rates = throughput.rates(statuses)
        var rows = [["WORKER", "URL", "STATUS", "GROUP", "PARTITIONS", "MSG/S", "PROBLEM"]]
        for status in statuses {
            rows.append([
                status.endpoint.name, status.endpoint.url, status.status, status.group ?? "-", status.assignedPartitions.map(String.init) ?? "-",
                rates[status.endpoint].map { String(format: "%.1f", $0) } ?? "-", status.problem ?? "",
            ])
        }
        print(Table.render(rows))
        if statuses.contains(where: { !$0.isHealthy }) { throw ExitCode(1) }
    }
}
