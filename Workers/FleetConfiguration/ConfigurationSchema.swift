/// Every configuration key the programs read: the contract between `config/*.conf`,
/// environment variables, docker-compose.yml and the code. A test keeps it honest both ways
/// (every key the code reads is listed here; every variable the deployment sets is a key here).
public struct ConfigKey: Sendable, Hashable {
    public var name: String
    public var summary: String
    /// Production cannot start without it (from `config/production.conf` or the environment).
    public var requiredInProduction: Bool
    /// Holds a secret: never in a committed file, only in the environment.
    public var isSecret: Bool

    public init(_ name: String, _ summary: String, required: Bool = false, secret: Bool = false) {
        self.name = name
        self.summary = summary
        self.requiredInProduction = required
        self.isSecret = secret
    }
}

public enum ConfigurationSchema {
    public static let keys: [ConfigKey] = [
        ConfigKey("fleet.namespace", "prefix of every topic and consumer group name (empty in production)"),
        ConfigKey("kafka.bootstrap.servers", "Kafka brokers, host:port,…", required: true),
        ConfigKey("database.url", "PostgreSQL URL, postgres://user:password@host:port/database", required: true, secret: true),
        ConfigKey("database.pool.size", "connections per program"),
        ConfigKey("database.statement.timeout", "longest a statement may run before PostgreSQL cancels it (unset: no limit)"),
        ConfigKey("http.host", "address the HTTP endpoint binds to"),
        ConfigKey("http.port", "port of the API (ingress) or of /health and /metrics (workers)"),
        ConfigKey("log.level", "trace, debug, info, notice, warning, error or critical"),
        ConfigKey("auth.jwt.secret", "HMAC-SHA256 key of access tokens, at least 32 bytes", required: true, secret: true),
        ConfigKey("auth.jwt.kid", "key id of auth.jwt.secret in the tokens it signs (default k1)"),
        ConfigKey("auth.jwt.previous", "earlier keys still accepted while tokens signed with them live: kid:secret,…", secret: true),
        ConfigKey("auth.jwt.issuer", "iss of access tokens (default carefleet)"),
        ConfigKey("auth.jwt.audience", "aud of access tokens (default carefleet-api)"),
        ConfigKey("auth.access.ttl", "access token lifetime, e.g. 15m"),
        ConfigKey("auth.revocation.refresh", "how often each ingress copy learns of sessions ended on other copies"),
        ConfigKey("auth.email.link.ttl", "how long an emailed verification link works, e.g. 24h"),
        ConfigKey("http.access.log", "an access log line per request (true/false)"),
        ConfigKey("ingress.public.url", "where links in emails point, e.g. https://clinic.example"),
        ConfigKey("ingress.directory.cache", "how long the command path caches doctors and profiles, e.g. 10s"),
        ConfigKey("ingress.streams.heartbeat", "how often event streams get a heartbeat (and have their sessions checked), e.g. 15s"),
        ConfigKey("ingress.slots.cache", "how long free slots are kept when no event says they changed (another copy's changes), e.g. 30s"),
        ConfigKey("auth.refresh.ttl", "refresh token lifetime, e.g. 30d"),
        ConfigKey("auth.bcrypt.cost", "bcrypt cost (4–31)"),
        ConfigKey("auth.login.max.failures.account", "failed logins per account within the window before 429"),
        ConfigKey("auth.login.max.failures.address", "failed logins per address within the window before 429"),
        ConfigKey("auth.login.window", "the failed-login window, e.g. 15m"),
        ConfigKey("worker.concurrency", "partitions a worker handles at the same time"),
        ConfigKey("worker.poll.batch", "messages fetched per poll"),
        ConfigKey("worker.partition.queue.limit", "messages waiting per partition before it is paused"),
        ConfigKey("worker.commit.interval", "how often handled offsets are committed"),
        ConfigKey("worker.shutdown.deadline", "time in-flight messages get on SIGTERM"),
        ConfigKey("worker.revoke.deadline", "time in-flight messages get when partitions are revoked"),
        ConfigKey("worker.retry.attempts", "tries per retry stage"),
        ConfigKey("worker.retry.backoff.initial", "first in-place backoff"),
        ConfigKey("worker.retry.backoff.max", "longest in-place backoff"),
        ConfigKey("worker.retry.stages", "delay of each retry topic, e.g. 5s,30s,5m"),
        ConfigKey("booking.batch.size", "commands the booking worker decides per transaction"),
        ConfigKey("topics.replication.factor", "replication factor of created topics"),
        ConfigKey("notify.reminder.offsets", "how long before an appointment reminders go out, e.g. 24h,1h"),
        ConfigKey("notify.reminder.interval", "how often due reminders are looked for"),
        ConfigKey("email.batch.size", "how many emails the email worker claims, sends and records together"),
        ConfigKey(
            "email.connections.per.batch",
            "SMTP connections a batch is sent over at once, each recipient's emails over one of them (default 4)"),
        ConfigKey(
            "smtp.idle.connections",
            "SMTP connections kept open between batches (default: the partitions of notifications.email times email.connections.per.batch, 24)"),
        ConfigKey("notify.batch.size", "how many events the notification worker handles in one transaction (default 200)"),
        ConfigKey("analytics.batch.size", "how many events the analytics worker counts in one transaction (default 500)"),
        ConfigKey("smtp.url", "smtp://host:port (STARTTLS with smtp.require.tls) or smtps://host:port", required: true),
        ConfigKey("smtp.require.tls", "upgrade smtp:// with STARTTLS and refuse servers that cannot"),
        ConfigKey("smtp.username", "SMTP AUTH user", secret: true),
        ConfigKey("smtp.password", "SMTP AUTH password", secret: true),
        ConfigKey("smtp.timeout", "limit of one SMTP conversation"),
        ConfigKey("email.from.address", "sender address of every email"),
        ConfigKey("email.from.name", "sender display name"),
        ConfigKey("email.rate.per.second", "most emails sent per second by one email worker"),
        ConfigKey("webhook.timeout", "longest one webhook POST may take, e.g. 10s"),
        ConfigKey("webhook.disable.after", "how long an endpoint may fail every delivery before it is disabled and its admins told, e.g. 24h"),
        ConfigKey("webhook.user.agent", "User-Agent of webhook deliveries"),
        ConfigKey(
            "webhooks.allow.private.addresses",
            "let webhook endpoints name loopback and private addresses over plain http (development and tests only)"),
        ConfigKey("waitlist.link.secret", "HMAC key of the waitlist's one-click booking links, at least 32 bytes (waitlist worker)", secret: true),
        ConfigKey("waitlist.tick", "how often the waitlist worker lapses holds and expires past entries, e.g. 15s"),
        ConfigKey("operations.workers", "workers' /health and /metrics for fleet workers and the console: name=http://host:port,…"),
        ConfigKey("console.session.ttl", "how long a console sign-in lasts, e.g. 8h"),
        ConfigKey("console.refresh.interval", "how often the console's live pages update, e.g. 1s"),
        ConfigKey("console.stream.lifetime", "how long one live-page event stream stays open before the browser reconnects"),
        ConfigKey("console.cookie.secure", "mark the console's cookies Secure (when it is served over HTTPS)"),
        ConfigKey("console.chartjs.path", "Chart.js file the console serves (default: Debian's libjs-chart.js)"),
    ]

    /// Key families: any librdkafka property under `kafka.`, per-topic partition counts.
    public static let patterns: [(prefix: String, suffix: String, summary: String)] = [
        ("kafka.", "", "any librdkafka property (kafka.producer.* / kafka.consumer.* for one kind of client)"),
        ("topics.", ".partitions", "partition count of a source topic (may only be raised)"),
    ]

    public static func isKnown(_ key: String) -> Bool {
        // program.<program>.<key>: a known key, for one program only.
        if key.hasPrefix(FleetConfig.programPrefix) {
            let rest = key.dropFirst(FleetConfig.programPrefix.count)
            guard let dot = rest.firstIndex(of: "."), dot > rest.startIndex else { return false }
            return isKnown(String(rest[rest.index(after: dot)...]))
        }
        return keys.contains { $0.name == key }
            || patterns.contains { key.hasPrefix($0.prefix) && key.hasSuffix($0.suffix) && key.count > $0.prefix.count + $0.suffix.count }
    }

    public static var required: [ConfigKey] { keys.filter(\.requiredInProduction) }
}
