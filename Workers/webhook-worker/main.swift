import Contracts
import Runtime
import Webhooks

// webhook-worker: fans appointment events out to the endpoints clinics registered and delivers
// each, signed, in order per endpoint.
await WorkerProgram.run(group: ConsumerGroups.webhook, makeWorker: WebhookWorker.setup)
