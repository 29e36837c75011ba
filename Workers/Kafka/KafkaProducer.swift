import CRdKafka
import Foundation
import Logging
import Synchronization

/// Produces messages and lets the caller await each delivery report.
///
/// Idempotent with `acks=all` unless configured otherwise. A dedicated thread serves delivery
/// reports (`rd_kafka_poll`), so awaiting a send never blocks the cooperative pool. Each record
/// gets an id that comes back with its report; `close()` fails any send whose report never came.
public final class KafkaProducer: Sendable {
    private let client: RDKafkaClient
    private let deliveries: DeliveryTable
    private let stopPolling = StopFlag()
    /// Left by the poll thread when it has served its last report.
    private let pollingFinished = DispatchGroup()
    private let logger: Logger

    public static let defaults = [
        "enable.idempotence": "true", "acks": "all", "linger.ms": "5", "message.timeout.ms": "30000",
    ]

    public init(config: KafkaConfig, logger: Logger = Logger(label: "carefleet.kafka.producer")) throws(KafkaError) {
        self.logger = logger
        let context = ProducerContext(logger: logger)
        deliveries = context.deliveries
        client = try RDKafkaClient.make(
            kind: RD_KAFKA_PRODUCER, properties: config.resolved(for: .producer, defaults: Self.defaults),
            context: context
        ) { conf in
            rd_kafka_conf_set_dr_msg_cb(conf) { _, message, opaque in
                guard let message, let opaque else { return }
                let context = Unmanaged<ClientContext>.fromOpaque(opaque).takeUnretainedValue()
                guard let deliveries = (context as? ProducerContext)?.deliveries else { return }
                let native = message.pointee
                // Every record is produced with its id as the opaque; none is ever 0 (null).
                guard let id = native._private.map({ UInt64(UInt(bitPattern: $0)) }) else {
                    context.logger.error(
                        "delivery report without a record id", metadata: ["partition": "\(native.partition)"])
                    return
                }
                if native.err == RD_KAFKA_RESP_ERR_NO_ERROR {
                    let topic = native.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? ""
                    deliveries.complete(
                        id, .success(DeliveryReport(topic: topic, partition: native.partition, offset: native.offset)))
                } else {
                    deliveries.complete(id, .failure(KafkaError(native.err)))
                }
            }
        }
        let stop = stopPolling
        let client = self.client
        let finished = pollingFinished
        finished.enter()
        // The poll thread holds the client until it stops, so late delivery reports still land.
        let thread = Thread {
            while !stop.isSet { rd_kafka_poll(client.pointer, 100) }
            rd_kafka_poll(client.pointer, 0)
            finished.leave()
        }
        thread.name = "carefleet.kafka.producer.poll"
        thread.start()
    }

    deinit { stopPolling.set() }

    /// Sends one message and returns where the broker stored it.
    ///
    /// While librdkafka's local queue is full it waits for deliveries to drain it; cancelling the
    /// task then ends the wait with a `KafkaError` whose `isCancellation` is true, and the record
    /// was not sent. Once enqueued, a record's report is awaited (it comes within
    /// `message.timeout.ms`): cancelling cannot take back what is already on its way.
    @discardableResult
    public func send(_ record: ProducerRecord) async throws(KafkaError) -> DeliveryReport {
        try await send([record])[0]  // one report per record, in record order
    }

    /// Sends several messages: all are handed to librdkafka first, then their delivery reports
    /// are awaited together, so a batch costs one suspension instead of one per record.
    ///
    /// Returns the reports in record order. When any record failed, throws the first failure (in
    /// record order) after every report has come. Cancellation while the local queue is full
    /// stops enqueueing: the records not yet enqueued fail with a cancellation error.
    @discardableResult
    public func send(_ records: [ProducerRecord]) async throws(KafkaError) -> [DeliveryReport] {
        guard !records.isEmpty else { return [] }
        let batch = DeliveryBatch(count: records.count)
        var stopped: KafkaError?
        for (index, record) in records.enumerated() {
            if let stopped {
                batch.complete(index, .failure(stopped))
                continue
            }
            guard let refused = await enqueueWaitingForRoom(record, batch: batch, index: index) else { continue }
            batch.complete(index, .failure(refused))
            // A closed producer, a fatal error or a cancelled task refuses the rest the same way.
            if refused.isCancellation || refused.isFatal || refused.code == RD_KAFKA_RESP_ERR__STATE.rawValue {
                stopped = refused
            }
        }
        var reports: [DeliveryReport] = []
        reports.reserveCapacity(records.count)
        for outcome in await batch.outcomes() {
            switch outcome {
            case .success(let report): reports.append(report)
            case .failure(let error): throw client.fatalError ?? error
            }
        }
        return reports
    }

    /// Enqueues one record, waiting while the local queue is full. Returns why it was not
    /// enqueued, or nil when it was (its report then completes `batch` at `index`).
    private func enqueueWaitingForRoom(_ record: ProducerRecord, batch: DeliveryBatch, index: Int) async -> KafkaError?
    {
        while true {
            // Registered before enqueueing: the report may come before `enqueue` returns.
            guard let id = deliveries.register(batch, index: index) else {
                return KafkaError(RD_KAFKA_RESP_ERR__STATE, "producer is closed")
            }
            guard let error = enqueue(record, id: id) else { return nil }
            deliveries.withdraw(id)
            guard error.code == RD_KAFKA_RESP_ERR__QUEUE_FULL.rawValue else { return error }
            // The local queue is full: wait for deliveries to drain it, unless the task is cancelled.
            do {
                try await Task.sleep(for: .milliseconds(2))
            } catch {
                return .cancelled("send cancelled while the local queue was full; the record was not sent")
            }
        }
    }

    /// Records handed to librdkafka whose delivery report has not come yet.
    public var pendingDeliveries: Int { deliveries.pendingCount }

    /// Waits until every message sent so far is delivered (or failed).
    public func flush(timeout: Duration = .seconds(10)) async throws(KafkaError) {
        let client = self.client
        let millis = Int32(clamping: timeout.milliseconds)
        let code = await Blocking.run { rd_kafka_flush(client.pointer, millis) }
        if code != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(code, "flush did not finish in \(timeout)") }
    }

    /// Flushes, then stops serving delivery reports. Sends still waiting after `timeout` are
    /// purged and fail (`_PURGE_QUEUE` / `_PURGE_INFLIGHT`); later sends fail with `_STATE`.
    public func close(timeout: Duration = .seconds(10)) async {
        do {
            try await flush(timeout: timeout)
        } catch {
            let waiting = deliveries.pendingCount
            logger.warning(
                "closing producer with undelivered messages", metadata: ["error": "\(error)", "waiting": "\(waiting)"])
            // Purged messages get a delivery report with a purge error, served by the poll thread.
            let client = self.client
            let purge = rd_kafka_purge(client.pointer, Int32(RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT))
            if purge != RD_KAFKA_RESP_ERR_NO_ERROR {
                logger.error("purging the producer queue failed", metadata: ["error": "\(KafkaError(purge))"])
            }
            _ = await Blocking.run { rd_kafka_flush(client.pointer, 1000) }
        }
        stopPolling.set()
        let finished = pollingFinished
        await Blocking.run { finished.wait() }
        // Anything still waiting will never get a report: fail it rather than leave it hanging.
        deliveries.close(
            failingPendingWith: KafkaError(
                RD_KAFKA_RESP_ERR__DESTROY, "producer closed before the delivery report came"))
    }

    /// Hands one message to librdkafka (copying key, value and headers). Non-blocking.
    private func enqueue(_ record: ProducerRecord, id: UInt64) -> KafkaError? {
        // The id rides as the message's opaque pointer; it is never dereferenced.
        guard let opaque = UnsafeMutableRawPointer(bitPattern: UInt(id)) else {
            return .configuration("record id 0 cannot travel as an opaque pointer")
        }
        let headers = rd_kafka_headers_new(record.headers.count)
        for header in record.headers {
            let code =
                if let value = header.value {
                    value.withUnsafeBytes { bytes in
                        rd_kafka_header_add(headers, header.name, -1, bytes.baseAddress, bytes.count)
                    }
                } else {
                    rd_kafka_header_add(headers, header.name, -1, nil, 0)
                }
            if code != RD_KAFKA_RESP_ERR_NO_ERROR {
                rd_kafka_headers_destroy(headers)
                return KafkaError(code, "header '\(header.name)' could not be added")
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

/// What the delivery-report callback reaches: the table of sends awaiting their reports.
final class ProducerContext: ClientContext, @unchecked Sendable {  // immutable; the table locks itself
    let deliveries = DeliveryTable()
}

/// Lends the bytes of `data`, or an empty buffer with a nil base address for `nil` (a null key or value).
private func withOptionalBytes<R>(_ data: Data?, _ body: (UnsafeRawBufferPointer) -> R) -> R {
    guard let data else { return body(UnsafeRawBufferPointer(start: nil, count: 0)) }
    return data.withUnsafeBytes { bytes in
        // An empty Data may lend a nil base address; an empty (non-null) value needs a real pointer.
        bytes.baseAddress == nil
            ? withUnsafeBytes(of: UInt8(0)) { body(UnsafeRawBufferPointer(start: $0.baseAddress, count: 0)) }
            : body(bytes)
    }
}

/// A flag one thread sets and another polls.
final class StopFlag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .acquiring) }
    func set() { value.store(true, ordering: .releasing) }
}
