import Contracts
import Foundation
import Kafka
import Logging
import ServiceLifecycle

/// A consumer group member that runs *poll → decode → handle → commit* with the group's retry
/// ladder and dead-letter topic. Partitions are handled concurrently, each in order.
///
/// Run it in a `ServiceGroup`: on graceful shutdown it stops fetching, finishes the messages in
/// hand (up to `shutdownDeadline`), commits, leaves the group and returns.
public final class ConsumerWorker: Service, Sendable {
    public let settings: WorkerSettings
    public let health: WorkerHealth
    private let context: WorkerContext
    private let registry: LaneRegistry

    public convenience init(
        settings: WorkerSettings, kafka: KafkaConfig, handler: any MessageHandler,
        logger: Logger = Logger(label: "carefleet.worker")
    ) throws {
        try self.init(settings: settings, kafka: kafka, batchHandler: OneAtATime(handler), logger: logger)
    }

    public init(
        settings: WorkerSettings, kafka: KafkaConfig, batchHandler: any BatchMessageHandler,
        logger: Logger = Logger(label: "carefleet.worker")
    ) throws {
        var logger = logger
        logger[metadataKey: "group"] = "\(settings.group.name)"
        self.settings = settings
        registry = LaneRegistry(revokeDeadline: settings.revokeDeadline, logger: logger)
        let consumer = try KafkaConsumer(
            config: kafka, groupId: settings.group.name, rebalanceListener: registry, logger: logger)
        registry.attach(consumer)
        context = WorkerContext(
            settings: settings, handler: batchHandler, consumer: consumer, producer: try KafkaProducer(config: kafka, logger: logger),
            limiter: ConcurrencyLimiter(limit: settings.concurrency), metrics: WorkerMetrics(group: settings.group.name),
            logger: logger)
        health = WorkerHealth(group: settings.group.name)
    }

    public func run() async throws {
        try context.consumer.subscribe(settings.group.subscribedTopics)
        health.started()
        context.logger.info("worker started", metadata: ["topics": "\(settings.group.subscribedTopics)"])
        let stopping = Locked(false)
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { tasks in
                tasks.addTask { await self.commitLoop(until: stopping) }
                await pollLoop(until: stopping, lanes: &tasks)
                // Shutdown: no new messages; let the lanes finish what they hold, up to the deadline.
                registry.closeAll()
                let deadline = ContinuousClock.now + settings.shutdownDeadline
                while registry.all.contains(where: \.isBusy), ContinuousClock.now < deadline {
                    try? await Task.sleep(for: .milliseconds(20))
                }
                stopping.set(true)
                tasks.cancelAll()
            }
        } onGracefulShutdown: {
            stopping.set(true)
        }
        do {
            try await context.consumer.commitStored()
        } catch {
            context.logger.warning("final commit failed", metadata: ["error": "\(error)"])
        }
        await context.consumer.close()
        await context.producer.close()
        registry.clear()
        health.stopped()
        context.logger.info("worker stopped")
    }

    private func pollLoop(until stopping: Locked<Bool>, lanes tasks: inout DiscardingTaskGroup) async {
        while !stopping.value, !Task.isCancelled {
            let records: [KafkaMessage]
            do {
                records = try await context.consumer.poll(maxMessages: settings.pollBatchSize, timeout: .milliseconds(200))
                health.polled(assigned: context.consumer.assignment.count)
            } catch {
                context.logger.error("poll failed", metadata: ["error": "\(error)"])
                if error.isFatal {
                    health.failed("\(error)")
                    stopping.set(true)
                    return
                }
                try? await Task.sleep(for: .milliseconds(200))
                continue
            }
            var byPartition: [TopicPartition: [KafkaMessage]] = [:]
            var order: [TopicPartition] = []
            for record in records {
                if byPartition[record.topicPartition] == nil { order.append(record.topicPartition) }
                byPartition[record.topicPartition, default: []].append(record)
            }
            for partition in order {
                var created: PartitionLane?
                let lane = registry.lane(for: partition) {
                    let lane = PartitionLane(
                        partition: partition, role: TopicRole(topic: partition.topic, group: settings.group.name),
                        context: context)
                    created = lane
                    return lane
                }
                if let created { tasks.addTask { await created.run() } }
                lane.enqueue(byPartition[partition] ?? [])
            }
        }
    }

    /// Commits stored offsets every `commitInterval`, and publishes lag per partition.
    private func commitLoop(until stopping: Locked<Bool>) async {
        while !stopping.value {
            try? await Task.sleep(for: settings.commitInterval)
            do {
                try await context.consumer.commitStored()
            } catch {
                context.logger.warning("commit failed", metadata: ["error": "\(error)"])
            }
            for lane in registry.all {
                if let high = context.consumer.cachedHighWatermark(lane.partition), let position = lane.finishedThrough {
                    context.metrics.lag(lane.partition, max(0, high - position))
                }
            }
        }
    }
}
