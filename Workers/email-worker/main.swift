import Contracts
import Email
import Runtime

// email-worker: consumes notifications.email and sends each email once through SMTP.
await WorkerProgram.run(group: ConsumerGroups.email, makeWorker: EmailWorker.setup)
