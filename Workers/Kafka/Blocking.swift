import BlockingCalls

/// Runs blocking librdkafka calls (commits, metadata, flushes: each may wait for the broker up to
/// its timeout) where they cannot stall Swift's tasks (see `BlockingCall`). They used a shared
/// concurrent queue, which runs on the very threads tasks run on.
enum Blocking {
    static func run<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await BlockingCall.run("carefleet.kafka.blocking", work)
    }
}

extension String {
    /// Text from a NUL-terminated C buffer filled by librdkafka (e.g. `errstr`).
    init(errorBuffer buffer: [CChar]) {
        let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        self = String(decoding: bytes, as: UTF8.self)
    }
}
