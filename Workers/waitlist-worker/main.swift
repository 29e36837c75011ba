import Contracts
import Runtime
import Waitlist

// waitlist-worker: offers slots freed by cancellations, rejections and reschedules to the
// patients waiting for them, and closes the offers of slots that were booked.
await WorkerProgram.run(group: ConsumerGroups.waitlist, makeWorker: WaitlistWorker.setup)
