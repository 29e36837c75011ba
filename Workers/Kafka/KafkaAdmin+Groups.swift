import Foundation
import CRdKafka

/// A consumer group as the broker's group coordinator describes it.
public struct ConsumerGroupDescription: Sendable, Hashable {
    public var group: String
    /// `Stable`, `PreparingRebalance`, `CompletingRebalance`, `Empty`, `Dead` or `Unknown`.
    public var state: String
    public var members: [GroupMember]
    /// Why the group could not be described (nil when it could).
    public var error: String?
}

/// One member of a consumer group: which client it is and which partitions it holds.
public struct GroupMember: Sendable, Hashable {
    public var memberId: String
    public var clientId: String
    public var host: String
    public var assignment: [TopicPartition]
}

extension KafkaAdmin {
    /// Describes `groups` (members, their hosts and assignments) in one admin request.
    public func describeGroups(_ groups: [String], timeout: Duration = .seconds(10)) async throws(KafkaError)
        -> [ConsumerGroupDescription]
    {
        guard !groups.isEmpty else { return [] }
        let client = self.client
        return try await Blocking.run { Self.describeGroups(client, groups, timeout: timeout) }.get()
    }

    private static func describeGroups(_ client: RDKafkaClient, _ groups: [String], timeout: Duration)
        -> Result<[ConsumerGroupDescription], KafkaError>
    {
        var errorText = [CChar](repeating: 0, count: 512)
        guard let queue = rd_kafka_queue_new(client.pointer) else { return .failure(.configuration("rd_kafka_queue_new failed")) }
        defer { rd_kafka_queue_destroy(queue) }
        let options = rd_kafka_AdminOptions_new(client.pointer, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS)
        defer { rd_kafka_AdminOptions_destroy(options) }
        _ = rd_kafka_AdminOptions_set_request_timeout(options, Int32(clamping: timeout.milliseconds), &errorText, errorText.count)
        // The C strings must outlive the call: librdkafka copies them before it returns.
        let names = groups.map { strdup($0) }
        defer { for name in names { free(name) } }
        var pointers = names.map { UnsafePointer<CChar>($0) }
        pointers.withUnsafeMutableBufferPointer { buffer in
            rd_kafka_DescribeConsumerGroups(client.pointer, buffer.baseAddress, buffer.count, options, queue)
        }
        guard let event = rd_kafka_queue_poll(queue, Int32(clamping: timeout.milliseconds + 5000)) else {
            return .failure(KafkaError(RD_KAFKA_RESP_ERR__TIMED_OUT, "DescribeConsumerGroups got no answer in \(timeout)"))
        }
        defer { rd_kafka_event_destroy(event) }
        let eventError = rd_kafka_event_error(event)
        if eventError != RD_KAFKA_RESP_ERR_NO_ERROR {
            return .failure(KafkaError(eventError, rd_kafka_event_error_string(event).map { String(cString: $0) }))
        }
        guard let result = rd_kafka_event_DescribeConsumerGroups_result(event) else {
            return .failure(.configuration("unexpected admin event"))
        }
        var count = 0
        guard let descriptions = rd_kafka_DescribeConsumerGroups_result_groups(result, &count) else { return .success([]) }
        var outcome: [ConsumerGroupDescription] = []
        for index in 0..<count {
            guard let description = descriptions[index] else { continue }
            let group = String(cString: rd_kafka_ConsumerGroupDescription_group_id(description))
            if let error = rd_kafka_ConsumerGroupDescription_error(description) {
                let text = rd_kafka_error_string(error).map { String(cString: $0) } ?? "error \(rd_kafka_error_code(error).rawValue)"
                outcome.append(ConsumerGroupDescription(group: group, state: "Unknown", members: [], error: text))
                continue
            }
            let state = String(cString: rd_kafka_consumer_group_state_name(rd_kafka_ConsumerGroupDescription_state(description)))
            var members: [GroupMember] = []
            for memberIndex in 0..<rd_kafka_ConsumerGroupDescription_member_count(description) {
                guard let member = rd_kafka_ConsumerGroupDescription_member(description, memberIndex) else { continue }
                var assignment: [TopicPartition] = []
                if let assigned = rd_kafka_MemberDescription_assignment(member),
                    let list = rd_kafka_MemberAssignment_partitions(assigned)
                {
                    let elements = UnsafeBufferPointer(start: list.pointee.elems, count: Int(list.pointee.cnt))
                    assignment = elements.map { TopicPartition(String(cString: $0.topic), $0.partition) }.sorted()
                }
                members.append(
                    GroupMember(
                        memberId: rd_kafka_MemberDescription_consumer_id(member).map { String(cString: $0) } ?? "",
                        clientId: rd_kafka_MemberDescription_client_id(member).map { String(cString: $0) } ?? "",
                        host: rd_kafka_MemberDescription_host(member).map { String(cString: $0) } ?? "", assignment: assignment))
            }
            outcome.append(
                ConsumerGroupDescription(
                    group: group, state: state, members: members.sorted { $0.memberId < $1.memberId }, error: nil))
        }
        return .success(outcome)
    }
}
