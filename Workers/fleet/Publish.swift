import ArgumentParser
import Contracts
import Foundation
import Kafka

struct Publish: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Publish a message: a payload wrapped in an envelope, or a whole envelope as is.",
        discussion: """
            The JSON comes from --file or standard input. A JSON object with "type", "version" and \
            "payload" is sent as it is (its id kept, so publishing it twice is a redelivery); any \
            other object is the payload of a new envelope of --type. Messages for topics in Contracts \
            are checked against their decoder first. The key defaults to the payload's doctorId.
            """)

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The topic, e.g. appointments.commands.") var topic: String
    @Option(help: "Message type for a bare payload, e.g. appointment.request.") var type: String?
    @Option(help: "Message version for a bare payload.") var version: Int = 1
    @Option(help: "Partitioning key (default: the payload's doctorId, else the message id).") var key: String?
    @Option(help: "Tenant id for a bare payload (default: the default tenant).") var tenant: String?
    @Option(help: "Read the JSON from this file instead of standard input.") var file: String?

    func validate() throws {
        try OptionCheck.atLeast(1, version, "--version")
    }

    func run() async throws {
        let config = try global.load()
        let input: Data
        if let file {
            guard let data = FileManager.default.contents(atPath: file) else { throw failure("cannot read \(file)") }
            input = data
        } else {
            input = FileHandle.standardInput.readDataToEndOfFile()
        }
        guard let object = try? JSONSerialization.jsonObject(with: input) as? [String: Any] else {
            throw failure("the input is not a JSON object")
        }
        var envelope = object
        if object["type"] == nil || object["payload"] == nil || object["version"] == nil {
            guard let type else { throw failure("a bare payload needs --type (or give a whole envelope)") }
            let tenantId = try tenant.map { text -> String in
                guard let id = UUID(uuidString: text) else { throw failure("--tenant '\(text)' is not a UUID") }
                return id.uuidString
            } ?? Tenants.defaultTenant.uuidString
            let id = UUID()
            envelope = [
                "id": id.uuidString, "type": type, "version": version,
                "occurredAt": WireCoding.formatTimestamp(Date()), "correlationId": "fleet-\(id.uuidString.prefix(8).lowercased())",
                "tenantId": tenantId, "actor": ["role": "system"], "payload": object,
            ]
        }
        let data = try JSONSerialization.data(withJSONObject: envelope, options: [.sortedKeys])
        if let catalog = try config.namespace().catalog(forTopic: topic) {
            do {
                _ = try catalog.decode(data)
            } catch {
                throw failure("not a valid message for \(topic): \(error)")
            }
        }
        let payload = envelope["payload"] as? [String: Any]
        let partitionKey = key ?? (payload?["doctorId"] as? String)?.lowercased() ?? (envelope["id"] as? String)?.lowercased()
        let producer = try KafkaProducer(config: KafkaConfig(properties: config.subtree("kafka")))
        var headers: [KafkaHeader] = []
        if let correlationId = envelope["correlationId"] as? String {
            headers.append(KafkaHeader(HeaderName.correlationId, correlationId))
        }
        let report = try await producer.send(ProducerRecord(topic: topic, key: partitionKey, value: data, headers: headers))
        await producer.close()
        print("published \(envelope["id"] as? String ?? "?") to \(report.topic) partition \(report.partition) offset \(report.offset)")
    }
}
