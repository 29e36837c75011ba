import CRdKafka
import Foundation
import Logging

/// What librdkafka's C callbacks reach through the instance's opaque pointer.
class ClientContext: @unchecked Sendable {  // immutable; subclasses keep mutable state behind a Mutex
    let logger: Logger

    init(logger: Logger) {
        self.logger = logger
    }
}

/// Owns an `rd_kafka_t`. librdkafka handles are thread-safe; the pointer is lent only inside
/// this module.
final class RDKafkaClient: @unchecked Sendable {  // rd_kafka_t is documented thread-safe
    let pointer: OpaquePointer
    let context: ClientContext

    private init(pointer: OpaquePointer, context: ClientContext) {
        self.pointer = pointer
        self.context = context
    }

    deinit { rd_kafka_destroy(pointer) }

    /// Creates a client; `configure` may install more callbacks on the native conf first.
    static func make(
        kind: rd_kafka_type_t, properties: [String: String], context: ClientContext,
        configure: (OpaquePointer) -> Void = { _ in }
    ) throws(KafkaError) -> RDKafkaClient {
        let conf = try KafkaConfig.makeNativeConf(properties)
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(context).toOpaque())
        rd_kafka_conf_set_log_cb(conf) { client, level, facility, message in
            guard let client, let opaque = rd_kafka_opaque(client) else { return }
            let context = Unmanaged<ClientContext>.fromOpaque(opaque).takeUnretainedValue()
            let text = "\(facility.map { String(cString: $0) } ?? "?"): \(message.map { String(cString: $0) } ?? "")"
            switch level {
            case 0...3: context.logger.error("librdkafka \(text)")
            case 4: context.logger.warning("librdkafka \(text)")
            case 5, 6: context.logger.info("librdkafka \(text)")
            default: context.logger.debug("librdkafka \(text)")
            }
        }
        rd_kafka_conf_set_error_cb(conf) { client, code, reason, opaque in
            guard let opaque else { return }
            let context = Unmanaged<ClientContext>.fromOpaque(opaque).takeUnretainedValue()
            let error = KafkaError(rd_kafka_resp_err_t(code), reason.map { String(cString: $0) })
            context.logger.warning("kafka client error", metadata: ["error": "\(error)"])
        }
        configure(conf)
        var errorText = [CChar](repeating: 0, count: 512)
        guard let pointer = rd_kafka_new(kind, conf, &errorText, errorText.count) else {
            rd_kafka_conf_destroy(conf)
            throw KafkaError.configuration("rd_kafka_new: \(String(errorBuffer: errorText))")
        }
        return RDKafkaClient(pointer: pointer, context: context)
    }

    /// The fatal error raised on this instance, if any.
    var fatalError: KafkaError? {
        var text = [CChar](repeating: 0, count: 512)
        let code = rd_kafka_fatal_error(pointer, &text, text.count)
        guard code != RD_KAFKA_RESP_ERR_NO_ERROR else { return nil }
        return KafkaError(code, String(errorBuffer: text), fatal: true)
    }
}
