import Logging
import ServiceLifecycle

/// Runs `work` every `interval` until the service group shuts down, then once more (so what was
/// buffered is written). A failing run is logged and tried again next time: the work is a flush
/// or a refresh that must keep going while a dependency is away.
public struct PeriodicTask: Service {
    public let name: String
    public let interval: Duration
    let work: @Sendable () async throws -> Void
    let logger: Logger

    public init(_ name: String, every interval: Duration, logger: Logger, work: @escaping @Sendable () async throws -> Void) {
        self.name = name
        self.interval = interval
        self.work = work
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            await runOnce()
            do {
                // A shutdown ends the wait at once, not after up to one interval.
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            } catch {
                break
            }
        }
        await runOnce()
    }

    private func runOnce() async {
        do {
            try await work()
        } catch {
            logger.warning("\(name) failed; trying again in \(interval)", metadata: ["error": "\(error)"])
        }
    }
}
