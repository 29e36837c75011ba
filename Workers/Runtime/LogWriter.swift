import Foundation
import Synchronization

/// Writes log lines to standard error from a thread of its own, so a request or a message never
/// waits for a `write` system call: lines are appended to a buffer under a lock, and the writer
/// thread flushes it every few milliseconds (or at once when it grows large). `flush()` writes
/// what is buffered now; it runs at exit, and a fatal error path calls it before exiting.
public final class LogWriter: Sendable {
    public static let standardError = LogWriter(descriptor: 2)

    private let descriptor: Int32
    private let buffer = Mutex(Buffer())
    private let wake = DispatchSemaphore(value: 0)

    struct Buffer {
        var bytes: [UInt8] = []
        var started = false
        /// Lines dropped because the buffer was full (a stuck standard error must not eat memory).
        var dropped = 0
    }

    static let flushInterval: DispatchTimeInterval = .milliseconds(20)
    static let eagerFlushBytes = 64 * 1024
    static let capacityBytes = 16 * 1024 * 1024

    init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    public func write(_ line: [UInt8]) {
        let (startThread, eager) = buffer.withLock { buffer -> (Bool, Bool) in
            if buffer.bytes.count + line.count > Self.capacityBytes {
                buffer.dropped += 1
                return (false, false)
            }
            buffer.bytes.append(contentsOf: line)
            let start = !buffer.started
            buffer.started = true
            return (start, buffer.bytes.count >= Self.eagerFlushBytes)
        }
        if startThread { start() }
        if eager { wake.signal() }
    }

    public func write(_ line: String) { write(Array(line.utf8)) }

    private func start() {
        atexit { LogWriter.standardError.flush() }
        let thread = Thread { [self] in
            while true {
                _ = wake.wait(timeout: .now() + Self.flushInterval)
                flush()
            }
        }
        thread.name = "carefleet.log.writer"
        thread.start()
    }

    /// Writes everything buffered so far (on the calling thread).
    public func flush() {
        let (bytes, dropped) = buffer.withLock { buffer -> ([UInt8], Int) in
            defer {
                buffer.bytes.removeAll(keepingCapacity: true)
                buffer.dropped = 0
            }
            return (buffer.bytes, buffer.dropped)
        }
        var pending = bytes
        if dropped > 0 {
            pending += Array("{\"level\":\"warning\",\"message\":\"\(dropped) log lines dropped: standard error is not keeping up\"}\n".utf8)
        }
        var offset = 0
        while offset < pending.count {
            let written = pending[offset...].withUnsafeBytes { Foundation.write(descriptor, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                return  // standard error is gone: nothing better to do with the lines
            }
            offset += written
        }
    }
}
