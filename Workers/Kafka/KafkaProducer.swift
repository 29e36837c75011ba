import CRdKafka
import Foundation
import Logging
import Synchronization

/// Produces messages and lets the caller await each delivery report.
///
/// Idempotent with `acks=all` unless configured otherwise. A dedicated thread serves delivery
/// reports (`rd_kafka_poll`), so awaiting a send never blocks the cooperative pool.
public final class KafkaProducer: Sendable {
    private let client: RDKafkaClient
    private let stopPolling = StopFlag()
    private let logger: Logger

    public static let defaults = [
        "enable.idempotence": "true", "acks": "all", "linger.ms": "5", "message.timeout.ms": "30000",
    ]

    public init(config: KafkaConfig, logger: Logger = Logger(label: "carefleet.kafka.producer")) throws(KafkaError) {
        self.logger = logger
        let context = ClientContext(logger: logger)
        client = try RDKafkaClient.make(
            kind: RD_KAFKA_PRODUCER, properties: config.resolved(for: .producer, defaults: Self.defaults),
            context: context
        ) { conf in
            rd_kafka_conf_set_dr_msg_cb(conf) { _, message, _ in
                guard let message, let opaque = message.pointee._private else { return }
                let box = Unmanaged<DeliveryBox>.fromOpaque(opaque).takeRetainedValue()
                let native = message.pointee
                if native.err == RD_KAFKA_RESP_ERR_NO_ERROR {
                    let topic = native.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? ""
                    box.continuation.resume(
                        returning: .success(DeliveryReport(topic: topic, partition: native.partition, offset: native.offset)))
                } else {
                    box.continuation.resume(returning: .failure(KafkaError(native.err)))
                }
            }
        }
        let stop = stopPolling
        let client = self.client
        // The poll thread holds the client until it stops, so late delivery reports still land.
        let thread = Thread {
            while !stop.isSet { rd_kafka_poll(client.pointer, 100) }
            rd_kafka_poll(client.pointer, 0)
        }
        thread.name = "carefleet.kafka.producer.poll"
        thread.start()
    }

    deinit { stopPolling.set() }

    /// Sends one message and returns where the broker stored it.
    @discardableResult
    public func send(_ record: ProducerRecord) async throws(KafkaError) -> DeliveryReport {
        while true {
            let result = await withCheckedContinuation { continuation in
                let box = DeliveryBox(continuation)
                let opaque = Unmanaged.passRetained(box).toOpaque()
                if let error = enqueue(record, opaque: opaque) {
                    Unmanaged<DeliveryBox>.fromOpaque(opaque).release()
                    continuation.resume(returning: .failure(error))
                }
            }
            switch result {
            case .success(let report):
                return report
            case .failure(let error) where error.code == RD_KAFKA_RESP_ERR__QUEUE_FULL.rawValue:
                // The local queue is full: wait for deliveries to drain it.
                try? await Task.sleep(for: .milliseconds(2))
            case .failure(let error):
                throw client.fatalError ?? error
            }
        }
    }

    /// Waits until every message sent so far is delivered (or failed).
    public func flush(timeout: Duration = .seconds(10)) async throws(KafkaError) {
        let client = self.client
        let millis = Int32(clamping: timeout.milliseconds)
        let code = await Blocking.run { rd_kafka_flush(client.pointer, millis) }
        if code != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(code, "flush did not finish in \(timeout)") }
    }

    /// Flushes, then stops serving delivery reports.
    public func close(timeout: Duration = .seconds(10)) async {
        do {
            try await flush(timeout: timeout)
        } catch {
            logger.warning("closing producer with undelivered messages", metadata: ["error": "\(error)"])
        }
        stopPolling.set()
    }

    /// Hands one message to librdkafka (copying key, value and headers). Non-blocking.
    private func enqueue(_ record: ProducerRecord, opaque: UnsafeMutableRawPointer) -> KafkaError? {
        let headers = rd_kafka_headers_new(record.headers.count)
        for header in record.headers {
            if let value = header.value {
                value.withUnsafeBytes { bytes in
                    _ = rd_kafka_header_add(headers, header.name, -1, bytes.baseAddress, bytes.count)
                }
            } else {
                _ = rd_kafka_header_add(headers, header.name, -1, nil, 0)
            }
        }
        let error: OpaquePointer? = record.topic.withCString { topic in
            withOptionalBytes(record.key) { key in
                withOptionalBytes(record.value) { value in
                    var fields = [rd_kafka_vu_t](repeating: rd_kafka_vu_t(), count: 7)
                    fields[0].vtype = RD_KAFKA_VTYPE_TOPIC
                    fields[0].u.cstr = topic
                    fields[1].vtype = RD_KAFKA_VTYPE_KEY
                    fields[1].u.mem.ptr = UnsafeMutableRawPointer(mutating: key.baseAddress)
                    fields[1].u.mem.size = key.baseAddress == nil ? 0 : key.count
                    fields[2].vtype = RD_KAFKA_VTYPE_VALUE
                    fields[2].u.mem.ptr = UnsafeMutableRawPointer(mutating: value.baseAddress)
                    fields[2].u.mem.size = value.baseAddress == nil ? 0 : value.count
                    fields[3].vtype = RD_KAFKA_VTYPE_MSGFLAGS
                    fields[3].u.i = RD_KAFKA_MSG_F_COPY
                    fields[4].vtype = RD_KAFKA_VTYPE_HEADERS
                    fields[4].u.headers = headers
                    fields[5].vtype = RD_KAFKA_VTYPE_OPAQUE
                    fields[5].u.ptr = opaque
                    fields[6].vtype = RD_KAFKA_VTYPE_PARTITION
                    fields[6].u.i32 = record.partition ?? -1  // RD_KAFKA_PARTITION_UA: let the partitioner choose
                    return rd_kafka_produceva(client.pointer, fields, fields.count)
                }
            }
        }
        guard let error else { return nil }
        rd_kafka_headers_destroy(headers)  // ownership passes to librdkafka only on success
        return KafkaError(consuming: error)
    }
}

/// Carries the awaiting continuation through librdkafka's per-message opaque pointer.
private final class DeliveryBox: Sendable {
    let continuation: CheckedContinuation<Result<DeliveryReport, KafkaError>, Never>
    init(_ continuation: CheckedContinuation<Result<DeliveryReport, KafkaError>, Never>) {
        self.continuation = continuation
    }
}

/// Lends the bytes of `data`, or an empty buffer with a nil base address for `nil` (a null key or value).
private func withOptionalBytes<R>(_ data: Data?, _ body: (UnsafeRawBufferPointer) -> R) -> R {
    guard let data else { return body(UnsafeRawBufferPointer(start: nil, count: 0)) }
    return data.withUnsafeBytes { bytes in
        // An empty Data may lend a nil base address; an empty (non-null) value needs a real pointer.
        bytes.baseAddress == nil ? withUnsafeBytes(of: UInt8(0)) { body(UnsafeRawBufferPointer(start: $0.baseAddress, count: 0)) } : body(bytes)
    }
}

/// A flag one thread sets and another polls.
final class StopFlag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .acquiring) }
    func set() { value.store(true, ordering: .releasing) }
}
