import Dispatch

/// Runs blocking librdkafka calls on Dispatch threads, never on Swift's cooperative pool.
enum Blocking {
    static let sharedQueue = DispatchQueue(label: "carefleet.kafka.blocking", attributes: .concurrent)

    static func run<T: Sendable>(on queue: DispatchQueue = sharedQueue, _ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: work()) }
        }
    }
}

extension String {
    /// Text from a NUL-terminated C buffer filled by librdkafka (e.g. `errstr`).
    init(errorBuffer buffer: [CChar]) {
        let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        self = String(decoding: bytes, as: UTF8.self)
    }
}
