import Contracts
import Notifications
import Runtime

// notification-worker: consumes appointments.events; stores in-app notifications, writes email
// requests to notifications.email, and sends reminders before confirmed appointments.
await WorkerProgram.run(group: ConsumerGroups.notification, makeWorker: NotificationWorker.setup)
