// swift-tools-version: 6.1
import PackageDescription

// Language mode 6 everywhere: strict concurrency checking is on for every target.
let package = Package(
    name: "CareFleet",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "fleet", targets: ["fleet"]),
        .executable(name: "ingress", targets: ["ingress"]),
        .executable(name: "booking-worker", targets: ["booking-worker"]),
        .executable(name: "notification-worker", targets: ["notification-worker"]),
        .executable(name: "email-worker", targets: ["email-worker"]),
        .executable(name: "analytics-worker", targets: ["analytics-worker"]),
        .executable(name: "audit-worker", targets: ["audit-worker"]),
        .executable(name: "webhook-worker", targets: ["webhook-worker"]),
        .executable(name: "waitlist-worker", targets: ["waitlist-worker"]),
        .executable(name: "console", targets: ["console"]),
        .executable(name: "http-ceiling", targets: ["http-ceiling"]),
        .library(name: "Contracts", targets: ["Contracts"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.1.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.5.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-crypto", "3.0.0"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.0.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/vapor/jwt-kit", from: "5.1.0"),
    ],
    targets: [
        // The wire contract: topics, envelope, message types, headers, retry ladder. No I/O.
        .target(name: "Contracts", dependencies: ["Identifiers"], path: "Contracts"),
        // UUIDs as text, for the wire codec (Contracts) and the PostgreSQL binding alike.
        .target(name: "Identifiers", path: "Workers/Identifiers"),
        // Where calls that block a thread run (libpq, librdkafka, libcurl, child processes): never
        // on the threads Swift's tasks run on.
        .target(name: "BlockingCalls", path: "Workers/BlockingCalls"),

        // C libraries: each is imported by the one Swift target that wraps it (libcurl: Mail for SMTP and
        // Webhooks for HTTP).
        .systemLibrary(name: "CRdKafka", path: "Workers/CRdKafka", pkgConfig: "rdkafka"),
        .systemLibrary(name: "CLibPQ", path: "Workers/CLibPQ", pkgConfig: "libpq"),
        .systemLibrary(name: "CCurl", path: "Workers/CCurl", pkgConfig: "libcurl"),

        .target(
            name: "Kafka", dependencies: ["CRdKafka", "BlockingCalls", .product(name: "Logging", package: "swift-log")],
            path: "Workers/Kafka"),
        .target(
            name: "Postgres", dependencies: ["CLibPQ", "BlockingCalls", "Identifiers", .product(name: "Logging", package: "swift-log")],
            path: "Workers/Postgres"),
        .target(name: "Mail", dependencies: ["CCurl", "BlockingCalls"], path: "Workers/Mail"),
        .target(name: "FleetConfiguration", path: "Workers/FleetConfiguration"),
        .target(
            name: "Migrations", dependencies: ["Postgres"], path: "Workers/Migrations",
            resources: [.copy("SQL")]),
        // The consume → handle → retry/dead-letter → commit loop every worker runs on.
        .target(
            name: "Runtime",
            dependencies: [
                "Contracts", "Kafka", "Postgres", "FleetConfiguration",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            path: "Workers/Runtime"),
        // Tenants, users, sessions, doctors, patients and their hours: the identity and directory
        // schemas and their stores; bcrypt.
        .target(
            name: "Clinic",
            dependencies: [
                "Contracts", "Postgres", .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "Crypto", package: "swift-crypto"), .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Workers/Clinic"),
        // Decides appointment commands (the rules live in SQL: Migrations/SQL/0004_booking_rules.sql).
        .target(name: "Booking", dependencies: ["Contracts", "Kafka", "Postgres", "Runtime", "FleetConfiguration"], path: "Workers/Booking"),
        .executableTarget(name: "booking-worker", dependencies: ["Booking", "Runtime", "Contracts"], path: "Workers/booking-worker"),
        // Who hears of what: in-app notifications, email requests, reminders.
        .target(
            name: "Notifications",
            dependencies: [
                "Contracts", "Kafka", "Postgres", "Runtime", "FleetConfiguration",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Workers/Notifications"),
        .executableTarget(
            name: "notification-worker", dependencies: ["Notifications", "Runtime", "Contracts"],
            path: "Workers/notification-worker"),
        // Emails: templates, calendar invites, SMTP delivery exactly once per idempotency key.
        .target(
            name: "Email",
            dependencies: [
                "Contracts", "Mail", "Postgres", "Runtime", "FleetConfiguration",
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            path: "Workers/Email"),
        .executableTarget(name: "email-worker", dependencies: ["Email", "Runtime", "Contracts", "Mail"], path: "Workers/email-worker"),
        // Rollups of the calendar per doctor and day, their rebuild and their reports.
        .target(
            name: "Analytics", dependencies: ["Contracts", "Kafka", "Postgres", "Runtime", "FleetConfiguration"], path: "Workers/Analytics"),
        .executableTarget(
            name: "analytics-worker", dependencies: ["Analytics", "Runtime", "Contracts"], path: "Workers/analytics-worker"),
        // The audit trail of every read of health data: its store and the worker that appends to it.
        .target(name: "Audit", dependencies: ["Contracts", "Postgres", "Runtime", "FleetConfiguration"], path: "Workers/Audit"),
        .executableTarget(name: "audit-worker", dependencies: ["Audit", "Runtime", "Contracts"], path: "Workers/audit-worker"),
        // Webhooks: endpoints clinics register, the fan-out of events to them, signed delivery over HTTP.
        .target(
            name: "Webhooks",
            dependencies: [
                "Contracts", "CCurl", "BlockingCalls", "Kafka", "Postgres", "Runtime", "FleetConfiguration",
                .product(name: "Crypto", package: "swift-crypto"), .product(name: "Logging", package: "swift-log"),
            ],
            path: "Workers/Webhooks"),
        .executableTarget(
            name: "webhook-worker", dependencies: ["Webhooks", "Runtime", "Contracts"], path: "Workers/webhook-worker"),
        // The waitlist: entries, offers of freed slots, their one-click links, and the worker.
        .target(
            name: "Waitlist",
            dependencies: [
                "Contracts", "Kafka", "Postgres", "Runtime", "FleetConfiguration", "Notifications",
                .product(name: "Crypto", package: "swift-crypto"), .product(name: "Logging", package: "swift-log"),
            ],
            path: "Workers/Waitlist"),
        .executableTarget(
            name: "waitlist-worker", dependencies: ["Waitlist", "Runtime", "Contracts"], path: "Workers/waitlist-worker"),
        // The HTTP API.
        .target(
            name: "Ingress",
            dependencies: [
                "Contracts", "Kafka", "Postgres", "Clinic", "FleetConfiguration", "Runtime", "Analytics", "Booking", "Notifications", "Audit",
                "Webhooks", "Waitlist", .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Workers/Ingress"),
        .executableTarget(name: "ingress", dependencies: ["Ingress"], path: "Workers/ingress"),
        // The HTTP ceiling `fleet bench ingress` compares the ingress with (a Hummingbird hello-world).
        .executableTarget(
            name: "http-ceiling", dependencies: [.product(name: "Hummingbird", package: "hummingbird")], path: "Workers/http-ceiling"),
        // What operators do to a running fleet: lag and members of consumer groups, dead letters
        // (list, browse, replay once), workers' health. `fleet` and the console both call it.
        .target(
            name: "Operations", dependencies: ["Contracts", "Kafka", "Postgres", "FleetConfiguration"], path: "Workers/Operations"),
        // The operations console: server-rendered pages over Operations, for platform operators.
        .target(
            name: "Console",
            dependencies: [
                "Operations", "Contracts", "Kafka", "Postgres", "Clinic", "Analytics", "FleetConfiguration", "Runtime",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Workers/Console"),
        .executableTarget(name: "console", dependencies: ["Console"], path: "Workers/console"),
        .executableTarget(
            name: "fleet",
            dependencies: [
                "Contracts", "Kafka", "Postgres", "Migrations", "FleetConfiguration", "Clinic", "Analytics", "Runtime", "Operations",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Workers/fleet",
            // Swift 6.3.1's optimizer crashes (signal 11 in IRGen, "While emitting IR SIL function
            // Lag.run", release builds only) on the commands' async run(); fleet is an operator CLI
            // whose time goes to the broker and the database, so it is built unoptimized.
            swiftSettings: [.unsafeFlags(["-Onone"], .when(configuration: .release))]),

        // Tests. TestSupport is the fixture: broker, PostgreSQL and SMTP sink for integration tests.
        .target(
            name: "TestSupport", dependencies: ["BlockingCalls", "Contracts", "Kafka", "Postgres", "Migrations", "FleetConfiguration", "Runtime"],
            path: "Tests/TestSupport"),
        // A small worker on the runtime that the runtime tests start, kill and restart as a process.
        .executableTarget(name: "runtime-probe", dependencies: ["Runtime", "TestSupport"], path: "Tests/RuntimeProbe"),
        .testTarget(name: "ContractsTests", dependencies: ["Contracts"], resources: [.copy("Fixtures")]),
        .testTarget(name: "KafkaTests", dependencies: ["BlockingCalls", "Kafka", "Runtime", "TestSupport"]),
        .testTarget(
            name: "PostgresTests",
            dependencies: ["Postgres", "TestSupport", .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "MailTests", dependencies: ["Mail", "TestSupport"]),
        .testTarget(
            name: "RuntimeTests",
            dependencies: [
                "Runtime", "Contracts", "Kafka", "Postgres", "TestSupport",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(
            name: "IngressTests",
            dependencies: [
                "Ingress", "Booking", "Notifications", "Email", "Mail", "Analytics", "Runtime", "Clinic", "Contracts", "Kafka",
                "FleetConfiguration", "Audit", "Webhooks", "Waitlist",
                "Postgres",
                "TestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]),
        // The console in a real browser (headless Chromium over WebDriver), against real processes.
        .testTarget(
            name: "ConsoleTests", dependencies: ["Console", "Operations", "Clinic", "Contracts", "Kafka", "Postgres", "TestSupport", "Waitlist"]),
        .testTarget(name: "DeploymentTests", dependencies: ["FleetConfiguration", "TestSupport"]),
        .testTarget(name: "FleetTests", dependencies: ["Contracts", "Kafka", "Postgres", "Migrations", "FleetConfiguration", "TestSupport"]),
    ]
)
