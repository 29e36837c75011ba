import BlockingCalls
import Foundation
import Testing

/// Calls that block (librdkafka's commits and metadata, libpq, libcurl, a child process) must not
/// hold the threads Swift's tasks run on: on Linux those are libdispatch's default pool, about one
/// thread per core, which grows by about one thread a second when every thread is held.
@Suite("Blocking calls")
struct BlockingCallTests {
    @Test func blockingCallsLeaveTheThreadsOfTasksFree() async throws {
        // More blocked calls than cores, twice over: on the tasks' own pool the next step of any
        // task would wait for the pool to grow past them (about a second per thread).
        let blockers = ProcessInfo.processInfo.activeProcessorCount * 2 + 2
        let holdingSeconds = 4.0
        let started = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<blockers {
                group.addTask { await BlockingCall.run("carefleet.tests.blocker") { Thread.sleep(forTimeInterval: holdingSeconds) } }
            }
            // The calls start as the group's tasks run; this task's next steps must not wait for them.
            for _ in 0..<5 { try await Task.sleep(for: .milliseconds(50)) }
            let taken = ContinuousClock.now - started
            #expect(taken < .seconds(2), "starting the calls and five 50 ms sleeps took \(taken) while \(blockers) blocking calls ran")
            try await group.waitForAll()
        }
    }
}
