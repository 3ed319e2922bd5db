import Foundation
import Logging
import NIOCore
import OmnistockCore
import OmnistockHTTP
import OmnistockStore
import Prometheus

/// The database a command works on: a server named by DATABASE_URL, or the embedded cluster.
struct DatabaseHandle {
    let database: Database
    let settings: DatabaseSettings
    /// Set when the embedded cluster is used; stopped when the command ends if it started it.
    let embedded: EmbeddedPostgres?

    static func open(_ settings: Settings, logger: Logger) throws -> DatabaseHandle {
        if let url = settings.databaseURL {
            let databaseSettings = try DatabaseSettings(url: url)
            return DatabaseHandle(
                database: Database(settings: databaseSettings, poolSize: settings.poolSize, logger: logger),
                settings: databaseSettings, embedded: nil)
        }
        let embedded = try EmbeddedPostgres.start(
            dataDirectory: settings.dataDirectory, port: settings.embeddedPostgresPort, logger: logger)
        return DatabaseHandle(
            database: Database(settings: embedded.settings, poolSize: settings.poolSize, logger: logger),
            settings: embedded.settings, embedded: embedded)
    }

    /// Runs `body` with the pool running, then shuts the pool (and an embedded server we started) down.
    func run<R: Sendable>(_ body: @Sendable (Database) async throws -> R) async throws -> R {
        defer { embedded?.stop() }
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await database.client.run() }
            defer { group.cancelAll() }
            return try await body(database)
        }
    }
}

/// The stores, built on one database.
struct Stores {
    let events: EventStore
    let locations: LocationStore
    let stock: StockStore
    let holds: HoldStore
    let apiKeys: ApiKeyStore
    let idempotency: IdempotencyStore
    let migrator: Migrator
    /// The bounds of the instance's streams.
    let streams: StreamLimits
    /// Whether webhook targets may be private addresses.
    let webhookTargets: TargetResolver
    /// How soon after its order a pickup is promised ready.
    let pickupPromiseSeconds: Int64
    let trackingValidAfterEndSeconds: Int64

    init(settings: Settings, logger: Logger) throws {
        events = EventStore(logger: logger)
        locations = LocationStore(events: events, logger: logger)
        stock = StockStore(events: events, logger: logger)
        holds = HoldStore(logger: logger)
        apiKeys = ApiKeyStore(cacheSeconds: settings.authCacheSeconds, logger: logger)
        idempotency = IdempotencyStore(retentionSeconds: settings.idempotencyRetentionSeconds, logger: logger)
        migrator = Migrator(migrations: try Migration.bundled(), logger: logger)
        streams = settings.streams
        webhookTargets = TargetResolver(allowPrivate: settings.webhooks.allowPrivateTargets)
        pickupPromiseSeconds = settings.pickupPromiseSeconds
        trackingValidAfterEndSeconds = settings.trackingValidAfterEndSeconds
        // A build without the store app's or the tracking page's files is broken: say so now,
        // not at its first visitor.
        _ = try WebPage.store.get()
        _ = try WebPage.track.get()
    }

    func edge(database: Database, logger: Logger) -> EdgeServices {
        var services = EdgeServices(
            database: database, events: events, locations: locations, stock: stock, holds: holds,
            holdWriter: HoldWriter(
                database: database, events: events, idempotencyRetentionSeconds: idempotency.retentionSeconds, logger: logger),
            orders: OrderStore(database: database, events: events, logger: logger),
            orderSteps: OrderStepWriter(
                database: database, events: events, idempotencyRetentionSeconds: idempotency.retentionSeconds, logger: logger),
            // The ledger tail leases one connection of the pool for its LISTEN.
            tail: LedgerTail(database: database, events: events, logger: logger),
            apiKeys: apiKeys, idempotency: idempotency,
            migrator: migrator, metrics: EdgeMetrics(registry: PrometheusCollectorRegistry()), logger: logger,
            streams: streams, webhookTargets: webhookTargets)
        services.pickupPromiseSeconds = pickupPromiseSeconds
        services.trackingValidAfterEndSeconds = trackingValidAfterEndSeconds
        return services
    }

    /// Migrates when allowed, else refuses a database whose schema is not this binary's.
    func prepareSchema(_ database: Database, migrate: Bool) async throws {
        if migrate {
            try await migrator.migrate(database)
        } else {
            let status = try await migrator.status(database)
            guard status.isCurrent else {
                throw StoreError.schemaMismatch(
                    "the database is at migration \(status.applied) of \(status.known) and migration at start is off; run `oms migrate`")
            }
        }
    }
}

/// What a one-shot command works with.
struct CommandContext: Sendable {
    let settings: Settings
    let stores: Stores
    let database: Database
    let logger: Logger
}

/// Runs a one-shot command's body on the database (DATABASE_URL or the embedded cluster),
/// after checking the schema (or migrating it, when allowed), then shuts everything down.
func withDatabase<R: Sendable>(
    _ options: DatabaseOptions, checkSchema: Bool = true, _ body: @Sendable (CommandContext) async throws -> R
) async throws -> R {
    let (settings, logger) = try prepare(options)
    let stores = try Stores(settings: settings, logger: logger)
    let handle = try DatabaseHandle.open(settings, logger: logger)
    return try await handle.run { database in
        if checkSchema { try await stores.prepareSchema(database, migrate: settings.migrateOnStart) }
        return try await body(CommandContext(settings: settings, stores: stores, database: database, logger: logger))
    }
}

/// The HTTP listener could not take its address. The socket's own words ("bind(descriptor:ptr:bytes:):
/// Address already in use (errno: 98)") name neither the address nor what to do; this says both.
struct ListenFailure: Error, CustomStringConvertible {
    let description: String

    /// The failure when `error` is the listening socket's refusal, told by its errno; nil for
    /// any other error, which is shown as it is.
    init?(_ error: any Error, host: String, port: Int) {
        guard let error = error as? IOError else { return nil }
        // An IPv6 address is bracketed, as in a URL, so that the port stands apart from it.
        let address = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        let otherPort = "choose another port with `make run PORT=9090`, or `oms serve --port 9090` (env OMS_HTTP_PORT)"
        switch error.errnoCode {
        case EADDRINUSE:
            description = "cannot listen on \(address): the address is already in use, by another `oms serve` "
                + "(a second `make run`?) or another program. Stop it, or \(otherPort)."
        case EACCES:
            description = "cannot listen on \(address): permission denied (ports below 1024 need privileges); \(otherPort)."
        case EADDRNOTAVAIL:
            description = "cannot listen on \(address): \(host) is not an address of this machine; "
                + "choose another with `make run HOST=127.0.0.1`, or `oms serve --host 0.0.0.0` for every interface (env OMS_HTTP_HOST)."
        default:
            return nil
        }
    }
}

/// The connection limit `oms serve` runs with, after raising the soft descriptor limit to the
/// hard one; a chosen limit that does not fit stops it (see `ConnectionBudget`).
func servingBudget(_ settings: Settings, logger: Logger) throws -> ConnectionBudget {
    let descriptors = ConnectionBudget.raiseDescriptorLimit() ?? Int.max
    switch ConnectionBudget.resolve(
        requested: settings.connectionLimit, chosen: settings.connectionLimitChosen,
        descriptorLimit: descriptors, poolSize: settings.poolSize)
    {
    case .success(let budget):
        if budget.lowered {
            logger.notice(
                "the connection limit is lowered to fit the descriptor limit",
                metadata: ["limit": "\(budget.limit)", "default": "\(settings.connectionLimit)", "ulimit": "\(descriptors)"])
        }
        return budget
    case .failure(let refusal):
        throw ValidationFailure(refusal.description)
    }
}
