import Analytics
import Contracts
import Runtime

// analytics-worker: consumes appointments.events into per-doctor, per-day rollups.
await WorkerProgram.run(group: ConsumerGroups.analytics) { environment in
    guard let pool = environment.database else { throw HandlerError.permanent("database.url is required") }
    return OneAtATime(AnalyticsHandler(pool: pool))
}
