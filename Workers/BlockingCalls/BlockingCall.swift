import Dispatch

/// Runs calls that block a thread (libpq, librdkafka, libcurl, waiting for a child process) where
/// they cannot stall Swift's tasks.
///
/// On Linux, Swift's global executor runs tasks on libdispatch's default root pool: the same
/// threads, about one per core, that run `DispatchQueue.global()` and every *concurrent* queue.
/// A blocking call there holds one of them, and when all are held libdispatch adds a thread only
/// about once a second, so every task of the process waits. Measured on this kind of machine
/// (2 cores, a probe program): three `sleep(6)` items on `DispatchQueue.global()` delayed a task's
/// next step by 1.9 s, on a concurrent queue of our own by 0.9 s, on serial queues by nothing
/// (10 ms asked, 10 ms taken). A serial queue without a target runs on the *overcommit* pool,
/// which starts a thread whenever none is free: that is where blocking calls belong.
public enum BlockingCall {
    /// A serial queue on the overcommit pool (one per connection or per call: never shared by
    /// calls that may block at the same time, or they would wait for each other).
    public static func queue(_ label: String) -> DispatchQueue {
        DispatchQueue(label: label)
    }

    /// Runs `work` on a queue of its own and returns its result.
    public static func run<T: Sendable>(_ label: String, _ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            queue(label).async { continuation.resume(returning: work()) }
        }
    }

    /// Runs `work` on a queue of its own and returns its result or its error.
    public static func run<T: Sendable>(_ label: String, _ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue(label).async { continuation.resume(with: Result { try work() }) }
        }
    }

    /// Starts `work` on a queue of its own without waiting for it.
    public static func start(_ label: String, _ work: @escaping @Sendable () -> Void) {
        queue(label).async(execute: work)
    }
}
