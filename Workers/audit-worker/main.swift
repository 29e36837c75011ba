import Audit
import Contracts
import Runtime

// audit-worker: consumes audit.events and appends every read of health data to the audit trail.
await WorkerProgram.run(group: ConsumerGroups.audit, makeWorker: AuditWorker.setup)
