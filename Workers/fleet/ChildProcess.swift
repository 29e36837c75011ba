import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A program the benches run (wrk, pgbench, http-ceiling, the SMTP probe), started with
/// posix_spawn so that its signal mask is empty and its handlers default.
///
/// Why not Foundation's `Process`: it spawns from whatever thread runs the task, and Swift's
/// executor threads (Dispatch workers) block nearly every signal; the child inherits that mask.
/// pgbench then never sees the SIGALRM that ends `-T` (seen: a 2-second run still going after
/// 13 minutes) and a server never sees the SIGTERM that should stop it.
final class ChildProcess: Sendable {
    let pid: pid_t
    /// The read end of the child's stdout and stderr, when captured.
    private let output: Int32

    private init(pid: pid_t, output: Int32) {
        self.pid = pid
        self.output = output
    }

    /// Starts `executable` with `arguments`; stdout and stderr go to a pipe when `capture`, else to /dev/null.
    static func start(_ executable: String, _ arguments: [String], environment: [String: String] = [:], capture: Bool) throws
        -> ChildProcess
    {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        var pipeEnds: [Int32] = [-1, -1]
        if capture {
            guard pipe(&pipeEnds) == 0 else { throw failure("pipe failed: errno \(errno)") }
            posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 1)
            posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 2)
            posix_spawn_file_actions_addclose(&actions, pipeEnds[0])
            posix_spawn_file_actions_addclose(&actions, pipeEnds[1])
        } else {
            posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
            posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        }

        let variables = ProcessInfo.processInfo.environment.merging(environment) { $1 }.map { "\($0.key)=\($0.value)" }
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = variables.map { strdup($0) } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid = pid_t()
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        if capture { close(pipeEnds[1]) }
        guard result == 0 else {
            if capture { close(pipeEnds[0]) }
            throw failure("cannot start \(executable): \(String(cString: strerror(result)))")
        }
        return ChildProcess(pid: pid, output: capture ? pipeEnds[0] : -1)
    }

    /// Reads what it prints until it exits; its exit status and output.
    func waitForOutput() -> (status: Int32, text: String) {
        var data = Data()
        if output >= 0 {
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(output, $0.baseAddress, $0.count) }
                if count > 0 {
                    data.append(contentsOf: buffer[0..<count])
                } else if count < 0, errno == EINTR {
                    continue
                } else {
                    break
                }
            }
            close(output)
        }
        return (waitForExit(), String(decoding: data, as: UTF8.self))
    }

    /// The exit status (128 + the signal when a signal ended it).
    @discardableResult
    func waitForExit() -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0, errno == EINTR {}
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }

    /// SIGTERM, then waits for it.
    func terminate() {
        kill(pid, SIGTERM)
        waitForExit()
    }
}
