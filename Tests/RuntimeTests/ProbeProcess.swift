import Foundation
import TestSupport

/// The `runtime-probe` worker as a real process the tests can kill.
typealias ProbeProcess = ProgramProcess

extension ProgramProcess {
    convenience init(
        topic: String, group: String, databaseURL: String, name: String, delayMillis: Int = 0, httpPort: Int = 0
    ) async throws {
        try await self.init(
            "runtime-probe",
            environment: [
                "CAREFLEET_DATABASE_URL": databaseURL, "CAREFLEET_HTTP_PORT": String(httpPort), "CAREFLEET_PROBE_TOPIC": topic,
                "CAREFLEET_PROBE_GROUP": group, "CAREFLEET_PROBE_NAME": name, "CAREFLEET_PROBE_DELAY_MS": String(delayMillis),
                "CAREFLEET_WORKER_SHUTDOWN_DEADLINE": "5s",
            ])
    }
}
