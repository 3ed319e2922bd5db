import ArgumentParser
import Foundation
import Hummingbird
import Logging
import OmnistockCore
import OmnistockHTTP
import OmnistockStore
import OmnistockWorkers
import ServiceLifecycle

/// Options every command shares: where the database is.
struct DatabaseOptions: ParsableArguments {
    @Option(name: .customLong("database-url"), help: "PostgreSQL URL (env DATABASE_URL). Without it, the embedded cluster is used.")
    var databaseURL: String?

    @Option(name: .customLong("data-dir"), help: "Folder of the embedded cluster and demo key (env OMS_DATA_DIR; default .omnistock).")
    var dataDirectory: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical (env OMS_LOG_LEVEL).")
    var logLevel: String?

    @Option(name: .customLong("log-format"), help: "text or json (env OMS_LOG_FORMAT).")
    var logFormat: String?

    var flags: [String: String] {
        var flags: [String: String] = [:]
        flags["database.url"] = databaseURL
        flags["oms.data.dir"] = dataDirectory
        flags["oms.log.level"] = logLevel
        flags["oms.log.format"] = logFormat
        return flags
    }
}

@main
struct Oms: AsyncParsableCommand {
    /// What `oms --version` prints.
    static let version = "0.10.0"

    static let configuration = CommandConfiguration(
        commandName: "oms",
        abstract: "Omnistock: real-time unified stock and order management.",
        version: version,
        subcommands: [Serve.self, Migrate.self, Replay.self, Verify.self, Import.self, ApiKey.self, Demo.self]
    )

    /// Parses and runs the command as the parser's own `main` does, with one difference: errors
    /// of our code and of the database driver are shown in full (see `Failure.presentable`).
    /// Every error, the parser's own included, ends in `exit(withError:)`, which prints help and
    /// the version with exit 0, usage errors with exit 64, and anything else with exit 1.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: Failure.presentable(error))
        }
    }
}

/// Errors of the database driver hide their detail from `description`; show it to the operator.
struct Failure: Error, CustomStringConvertible {
    var description: String

    /// The error as `exit(withError:)` should get it. The parser's own errors pass unchanged:
    /// `oms help` and a bare `oms` throw them from `run()` to ask for the help text, and wrapping
    /// them printed "Error: …helpRequested…" with exit 1 instead of the help.
    static func presentable(_ error: any Error) -> any Error {
        switch error {
        case is CleanExit, is ExitCode, is ValidationError:
            return error
        case is StoreError, is ValidationFailure, is ListenFailure:
            return error
        default:
            // `CommandError`, what the built-in `help` subcommand throws, is internal to
            // ArgumentParser, so it can only be recognised by the module that declares it.
            if String(reflecting: type(of: error)).hasPrefix("ArgumentParser.") { return error }
            return Failure(description: String(reflecting: error))
        }
    }
}

/// Prints a line to standard output unbuffered, so a harness reading a pipe sees it at once.
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

/// Resolves settings and installs logging; every command starts here.
func prepare(_ options: DatabaseOptions, extra: [String: String] = [:], quiet: Bool = true) throws -> (Settings, Logger) {
    // One-shot commands print their result; their logs say only what went wrong unless asked.
    var flags = options.flags.merging(extra) { $1 }
    if quiet, flags["oms.log.level"] == nil, ProcessInfo.processInfo.environment["OMS_LOG_LEVEL"] == nil {
        flags["oms.log.level"] = "warning"
    }
    let settings = try Settings.resolve(flags: flags)
    LoggingSetup.bootstrap(format: settings.logFormat, level: settings.logLevel)
    return (settings, Logger(label: "oms"))
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the HTTP service.")

    @OptionGroup var options: DatabaseOptions

    @Option(help: "Address to listen on (env OMS_HTTP_HOST; default 127.0.0.1).")
    var host: String?

    @Option(help: "Port to listen on, 0 for any free port (env OMS_HTTP_PORT; default 8080).")
    var port: Int?

    @Flag(name: .customLong("no-migrate"), help: "Do not apply pending migrations at start (env OMS_MIGRATE=false).")
    var noMigrate = false

    @Flag(help: "Load the demo data set and print a demo admin key (env OMS_DEMO=true).")
    var demo = false

    func run() async throws {
        var extra: [String: String] = [:]
        extra["oms.http.host"] = host
        extra["oms.http.port"] = port.map(String.init)
        if noMigrate { extra["oms.migrate"] = "false" }
        if demo { extra["oms.demo"] = "true" }
        let (settings, logger) = try prepare(options, extra: extra, quiet: false)
        let budget = try servingBudget(settings, logger: logger)
        let stores = try Stores(settings: settings, logger: logger)
        let handle = try DatabaseHandle.open(settings, logger: logger)
        defer { handle.embedded?.stop() }
        let database = handle.database
        let edge = stores.edge(database: database, logger: logger)

        var app = Application(
            router: buildRouter(edge),
            server: .omnistock(timeouts: settings.connectionTimeouts),
            configuration: .init(
                address: .hostname(settings.host, port: settings.port), serverName: "omnistock",
                availableConnectionsDelegate: budget.acceptGate(logger: logger)),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? settings.port
                logger.notice("serving", metadata: ["url": "http://\(settings.host):\(port)", "database": "\(handle.settings.redactedURL)"])
                say("Omnistock is serving on http://\(settings.host):\(port)")
            },
            logger: logger
        )
        app.beforeServerStarts {
            try await stores.prepareSchema(database, migrate: settings.migrateOnStart)
            if settings.demo {
                let key = try await DemoData.load(stores: stores, database: database, dataDirectory: settings.dataDirectory, logger: logger)
                say("Demo admin key: \(key)")
            }
        }
        let services: [any Service] = [
            database.client, LedgerTailService(tail: edge.tail), LiveStockService(live: edge.live),
            BusinessMetricsService(tail: edge.tail, observer: edge.metrics.business, logger: logger),
            DatabaseWatchService(database: database),
            IdempotencySweeper(store: stores.idempotency, database: database, logger: logger),
            HoldExpirySweeper(holds: stores.holds, writer: edge.holdWriter, database: database, logger: logger),
            NoShowSweeper(orders: edge.orders, logger: logger),
        ] + (settings.webhookDelivery ? [
            WebhookDispatcher(
                store: edge.webhooks, events: edge.events, database: database, tail: edge.tail, render: WebhookPayload.renderer(edge),
                observer: edge.metrics.webhooks, settings: settings.webhooks, logger: logger)
        ] : [])
        do {
            try await servingGroup(services, app: app, logger: logger).run()
        } catch {
            // A second `make run` meets the first one's port: say which address and how to pick
            // another, rather than the socket's "Address already in use (errno: 98)".
            if let failure = ListenFailure(error, host: settings.host, port: settings.port) { throw failure }
            throw error
        }
    }
}

/// The group `oms serve` runs: the pool first and the HTTP application last, so that a
/// shutdown stops them in the other order (the listener first, the pool after everything that
/// queries it). The application's end, a failure to listen included, shuts the group down
/// gracefully in that order too. Hummingbird's own `runService` would put the services beside
/// its server in one group that a failure cancels at once: the pool then closed connections
/// under queries in flight, PostgresNIO lost those writes, and the services waiting on them
/// never ended, so a start on a port in use hung for ever about one time in ten (seen in CI).
/// Both phases of a shutdown are bounded, so the process ends whatever a service does.
func servingGroup(_ services: [any Service], app: some Service, logger: Logger) -> ServiceGroup {
    var configuration = ServiceGroupConfiguration(
        services: services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) } + [
            .init(service: app, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup)
        ],
        gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
    configuration.maximumGracefulShutdownDuration = .seconds(Limits.shutdownGracefulSecondsMax)
    // Past this the lifecycle library stops the process with a fatal error: an exit, however
    // abrupt, rather than a process that never ends (the next start attaches to the cluster).
    configuration.maximumCancellationDuration = .seconds(Limits.shutdownCancellationSecondsMax)
    return ServiceGroup(configuration: configuration)
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply pending schema migrations and exit.")

    @OptionGroup var options: DatabaseOptions

    func run() async throws {
        let (applied, known) = try await withDatabase(options, checkSchema: false) { context in
            (try await context.stores.migrator.migrate(context.database), context.stores.migrator.migrations.count)
        }
        say("applied \(applied) migration(s); the schema is at \(known)")
    }
}

struct Replay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rebuild every projection (locations, stock positions) from the ledger alone.")
    @OptionGroup var options: DatabaseOptions

    func run() async throws {
        let started = ContinuousClock.now
        let count = try await withDatabase(options) { context in
            try await Rebuilder(logger: context.logger).replay(
                on: context.database, progress: Progress.reporter("replayed", unit: "events"))
        }
        Progress.finish()
        say("replayed \(count) events in \(ContinuousClock.now - started)")
    }
}

struct Verify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rebuild the projections into scratch tables and compare them with the live ones; exit 1 on any difference.")
    @OptionGroup var options: DatabaseOptions

    func run() async throws {
        let differences = try await withDatabase(options) { context in
            try await Rebuilder(logger: context.logger).verify(on: context.database)
        }
        for difference in differences { say(difference.description) }
        if differences.isEmpty {
            say("verify: the projections equal a replay of the ledger")
        } else {
            say("verify: \(differences.count) difference(s)")
            throw ExitCode.failure
        }
    }
}

struct ApiKey: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "api-key", abstract: "Create, list and revoke API keys.",
        subcommands: [Create.self, List.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a key and print it (it is shown only once).")

        @OptionGroup var options: DatabaseOptions

        @Option(help: "admin, checkout, store or integration.")
        var role: Role

        @Option(name: .customLong("location"), help: "A location the key is bound to (repeat for several).")
        var locations: [String] = []

        // Required, as `name` is in `POST /v1/api-keys`: a key nobody can tell apart from the
        // others is one nobody dares revoke. The parser refuses a missing one with exit 64.
        @Option(help: "A label for humans, 1 to \(Limits.nameLengthMax) characters (required, as in POST /v1/api-keys).")
        var name: String

        @Flag(help: "Print the key as JSON (id, role, locations, key).")
        var json = false

        func run() async throws {
            let spec: ApiKeySpec
            switch ApiKeySpec.validate(name: name, role: role, locations: locations) {
            case .success(let valid): spec = valid
            case .failure(let rejections): throw ValidationFailure(rejections.all.map(\.detail).joined(separator: " "))
            }
            let (record, token) = try await withDatabase(options) { context in
                try await context.stores.apiKeys.create(spec, createdBy: "cli", on: context.database)
            }
            if json {
                let object: [String: Any] = [
                    "id": record.id, "role": record.role.rawValue, "key": token,
                    "locations": record.scope.sortedIds.map { $0 as Any } ?? NSNull(),
                ]
                let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
                say(String(decoding: data, as: UTF8.self))
            } else {
                say(token)
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List keys (never their secrets).")
        @OptionGroup var options: DatabaseOptions

        func run() async throws {
            let records = try await withDatabase(options) { context in
                try await context.stores.apiKeys.list(on: context.database)
            }
            for record in records {
                let scope = record.scope.sortedIds?.joined(separator: ",") ?? "all locations"
                let state = record.revokedAt == nil ? "active" : "revoked"
                say("\(record.id)\t\(record.role.rawValue)\t\(scope)\t\(state)\t\(record.name)")
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a key by id.")
        @OptionGroup var options: DatabaseOptions
        @Argument(help: "The key id (key_…).") var id: String

        func run() async throws {
            let record = try await withDatabase(options) { context in
                try await context.stores.apiKeys.revoke(id: id, on: context.database)
            }
            guard record != nil else { throw ValidationFailure("no API key has the id \(id)") }
            say("revoked \(id)")
        }
    }
}

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load the demo data set (a few stores and a warehouse in Paris) and print a demo admin key.")
    @OptionGroup var options: DatabaseOptions

    func run() async throws {
        let key = try await withDatabase(options) { context in
            try await DemoData.load(
                stores: context.stores, database: context.database, dataDirectory: context.settings.dataDirectory,
                logger: context.logger)
        }
        say(key)
    }
}

extension Role: ExpressibleByArgument {}
