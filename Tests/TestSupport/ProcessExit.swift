import Foundation

#if canImport(Glibc)
import Glibc
#endif

extension Process {
    /// Waits for the process to end and returns its exit status (128 + the signal when one ended
    /// it). Foundation's `waitUntilExit` can miss a child's exit when many end at once: the child
    /// stays a zombie nobody reaps and the wait never returns (seen in CI, a `scripts/services
    /// restart-postgres` left defunct for 10 minutes). So this also reaps the child itself when
    /// Foundation has not, every 50 ms.
    public func waitForExitStatus() -> Int32 {
        let pid = processIdentifier
        while true {
            if !isRunning { return terminationStatus }
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                let signal = status & 0x7f
                return signal == 0 ? (status >> 8) & 0xff : 128 + signal
            }
            usleep(50_000)
        }
    }
}
