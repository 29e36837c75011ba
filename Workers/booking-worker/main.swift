import Booking
import Contracts
import Runtime

// booking-worker: consumes appointments.commands, decides each batch of commands under the
// doctors' row locks and publishes the outcomes to appointments.events.
await WorkerProgram.run(group: ConsumerGroups.booking, makeWorker: BookingWorker.setup)
