// swift-tools-version:6.2
import PackageDescription

// Omnistock: one executable (`oms`) and four library targets, each a room with one job.
// Imports flow one way: OmnistockCore <- OmnistockStore <- OmnistockHTTP <- oms, with the
// background work (OmnistockWorkers: the ledger tail's service, sweepers) beside the edge.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "omnistock",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "oms", targets: ["oms"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-configuration.git", from: "1.4.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        // Webhook delivery (OmnistockWorkers/Webhooks): TLS verified, redirects off, timeouts.
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
    ],
    targets: [
        // The domain core: pure Swift, standard library only. No Foundation, no I/O, no clock.
        .target(
            name: "OmnistockCore",
            swiftSettings: swiftSettings
        ),
        // The PostgreSQL event store, projections, migrations runner and embedded cluster.
        .target(
            name: "OmnistockStore",
            dependencies: [
                "OmnistockCore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            // `Migrations` is the top-level `schema/` folder (a link to it): the SQL files ship inside the
            // binary's resource bundle, so a deployed `oms` carries the schema it expects.
            resources: [.copy("Migrations")],
            swiftSettings: swiftSettings
        ),
        // The HTTP edge: routes, auth, validation, problem+json, metrics.
        .target(
            name: "OmnistockHTTP",
            dependencies: [
                "OmnistockCore",
                "OmnistockStore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                // Streams end on graceful shutdown (StreamResponse.swift).
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            // The OpenAPI document, and the store app's files (WebPages/WebPage.swift).
            resources: [.copy("Resources/openapi.yaml"), .copy("Resources/store"), .copy("Resources/track")],
            swiftSettings: swiftSettings
        ),
        // Background work of an instance: the ledger tail's service, the sweepers and webhook delivery.
        .target(
            name: "OmnistockWorkers",
            dependencies: [
                "OmnistockCore",
                "OmnistockStore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The only place where configuration, services and the pieces above are wired together.
        .executableTarget(
            name: "oms",
            dependencies: [
                "OmnistockCore",
                "OmnistockStore",
                "OmnistockHTTP",
                "OmnistockWorkers",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        // Throwaway PostgreSQL databases for the store and edge tests.
        .target(
            name: "OmnistockTestSupport",
            dependencies: [
                "OmnistockStore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/OmnistockTestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "OmnistockCoreTests",
            dependencies: ["OmnistockCore"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "OmnistockStoreTests",
            dependencies: [
                "OmnistockCore", "OmnistockStore", "OmnistockTestSupport",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "OmnistockHTTPTests",
            dependencies: [
                "OmnistockCore",
                "OmnistockStore",
                "OmnistockHTTP",
                // Webhook delivery is tested with the edge that renders it (WebhookDeliveryTests).
                "OmnistockWorkers",
                .product(name: "Crypto", package: "swift-crypto"),
                "OmnistockTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
