import Analytics
import Contracts
import Runtime

// analytics-worker: consumes appointments.events into per-doctor, per-day rollups.
await WorkerProgram.run(group: ConsumerGroups.analytics, makeWorker: AnalyticsWorker.setup)
