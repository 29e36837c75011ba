import Hummingbird

/// Per-request state of the console: the signed-in operator and, for a POST, its form fields
/// (read once by `ConsoleGuard`, which checked the CSRF token among them).
public struct ConsoleContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var session: ConsoleSession?
    public var form: HTMLForm
    public var remoteAddress: String

    /// Forms of the console are a few short fields.
    public var maxUploadSize: Int { 64 * 1024 }

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        session = nil
        form = HTMLForm()
        remoteAddress = source.channel.remoteAddress?.ipAddress ?? "unknown"
    }
}
