import Foundation
import Logging
import OmnistockStore
import PostgresNIO

/// Gives each test a database of its own, migrated, on one throwaway PostgreSQL server.
///
/// The server is the one in `DATABASE_URL` when set (its user must be allowed to create
/// databases), else an embedded cluster started once per test process in `OMS_TEST_DATA_DIR`
/// (or a new temporary folder) and stopped when the process exits. Each test's database is a
/// copy of a template migrated once, so a test starts from the real schema in milliseconds.
public actor TestCluster {
    public static let shared = TestCluster()

    // Tasks, not values: the actor is re-entered at every await, and concurrent first callers
    // must share one server start and one template migration.
    private var server: Task<DatabaseSettings, any Error>?
    private var template: Task<String, any Error>?
    private var counter = 0
    private let logger = testLogger

    /// The settings of a new, migrated, empty database.
    public func freshDatabase() async throws -> DatabaseSettings {
        let server = try await ensureServer()
        let template = try await ensureTemplate(server)
        counter += 1
        let name = "oms_test_\(getpid())_\(counter)"
        try await TestCluster.execute(on: server.with(database: "postgres"), "CREATE DATABASE \(name) TEMPLATE \(template)")
        return server.with(database: name)
    }

    /// The server's settings (its maintenance database), for tests that need the cluster itself.
    public func serverSettings() async throws -> DatabaseSettings {
        try await ensureServer()
    }

    private func ensureServer() async throws -> DatabaseSettings {
        if let server { return try await server.value }
        let task = Task { try await Self.startServer() }
        server = task
        return try await task.value
    }

    /// The test cluster's max_connections. Swift Testing starts every test at once, each with
    /// pools of its own: at the server's 200 a whole run was refused 334 connections ("too many
    /// clients"), and a pool refused long enough backs off for tens of seconds, so that tests
    /// waited for connections they were never given (a write that never landed, a hang).
    static let connectionsMax = 1_000

    private static func startServer() async throws -> DatabaseSettings {
        let logger = testLogger
        let settings: DatabaseSettings
        if let url = ProcessInfo.processInfo.environment["DATABASE_URL"], !url.isEmpty {
            settings = try DatabaseSettings(url: url)
        } else {
            let folder =
                ProcessInfo.processInfo.environment["OMS_TEST_DATA_DIR"]
                ?? FileManager.default.temporaryDirectory.appendingPathComponent("oms-test-\(getpid())").path
            let embedded = try EmbeddedPostgres.start(dataDirectory: folder, connectionsMax: connectionsMax, logger: logger)
            TestCluster.embeddedAtExit = embedded
            atexit {
                TestCluster.embeddedAtExit?.stop()
            }
            settings = embedded.settings
        }
        return settings
    }

    private func ensureTemplate(_ server: DatabaseSettings) async throws -> String {
        if let template { return try await template.value }
        let task = Task { try await Self.makeTemplate(server) }
        template = task
        return try await task.value
    }

    private static func makeTemplate(_ server: DatabaseSettings) async throws -> String {
        let logger = testLogger
        let name = "oms_template_\(getpid())"
        try await TestCluster.execute(on: server.with(database: "postgres"), "DROP DATABASE IF EXISTS \(name)")
        try await TestCluster.execute(on: server.with(database: "postgres"), "CREATE DATABASE \(name)")
        _ = try await withDatabase(server.with(database: name)) { database in
            try await Migrator(migrations: try Migration.bundled(), logger: logger).migrate(database)
        }
        return name
    }

    nonisolated(unsafe) static var embeddedAtExit: EmbeddedPostgres?

    /// Runs one statement on a short-lived connection pool.
    static func execute(on settings: DatabaseSettings, _ sql: String) async throws {
        try await withDatabase(settings) { database in
            try await database.withConnection { connection in
                _ = try await connection.query(PostgresQuery(unsafeSQL: sql), logger: database.logger)
            }
        }
    }
}

/// The tests' logger: warnings and errors only, so the test output stays readable.
public let testLogger: Logger = {
    var logger = Logger(label: "oms.test")
    logger.logLevel = .warning
    return logger
}()

/// Runs `body` with a running connection pool on `settings`, then shuts the pool down.
public func withDatabase<R: Sendable>(
    _ settings: DatabaseSettings, poolSize: Int = 8, _ body: @Sendable (Database) async throws -> R
) async throws -> R {
    // Tests run many suites in parallel on a loaded machine: a lease may wait longer than a served
    // instance allows, without the database being away. The outage tests build pools with the real bounds.
    let database = Database(
        settings: settings, poolSize: poolSize, logger: testLogger, acquireTimeout: .seconds(30), busyAcquireTimeout: .seconds(60))
    let running = Task { await database.client.run() }
    let outcome = await Result(catching: { try await body(database) })
    // The pool ends once every lease it lent is back: a lease that never comes back (a body
    // that waits for ever) fails the test here, named, instead of holding the whole run.
    running.cancel()
    let stopped = await Result(catching: {
        try await within(60, "the shutdown of the test's connection pool (a lease never came back)") { await running.value }
    })
    let value = try outcome.get()
    try stopped.get()
    return value
}

/// Runs `body` with a fresh migrated database of its own.
public func withFreshDatabase<R: Sendable>(
    poolSize: Int = 8, _ body: @Sendable (Database) async throws -> R
) async throws -> R {
    let settings = try await TestCluster.shared.freshDatabase()
    return try await withDatabase(settings, poolSize: poolSize, body)
}

/// Every row of `tables` as JSON, table after table, each table's rows in order: a picture of
/// projections to compare before and after a replay.
public func tableRows(_ tables: [String], on database: Database) async throws -> [String] {
    try await database.withConnection { connection in
        var rows: [String] = []
        for table in tables {
            for try await row in try await connection.query(
                PostgresQuery(unsafeSQL: "SELECT row_to_json(t)::text FROM \(table) t ORDER BY 1"), logger: testLogger
            ).decode(String.self) { rows.append(row) }
        }
        return rows
    }
}
