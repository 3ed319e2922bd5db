import Foundation
import Logging
import OmnistockCore
import PostgresNIO
import Synchronization

/// Where the PostgreSQL server is and how to log in, parsed from a `postgres://` URL.
public struct DatabaseSettings: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String
    /// TLS is used when the URL asks for it (`sslmode=require`); loopback servers run without.
    public var requireTLS: Bool

    public init(host: String, port: Int, username: String, password: String?, database: String, requireTLS: Bool = false) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.requireTLS = requireTLS
    }

    /// Parses `postgres://user[:password]@host[:port]/database[?sslmode=disable|prefer|require]`.
    public init(url: String) throws(StoreError) {
        guard let components = URLComponents(string: url),
            let scheme = components.scheme, ["postgres", "postgresql"].contains(scheme),
            let host = components.host, !host.isEmpty
        else {
            throw .configuration("DATABASE_URL must look like postgres://user:password@host:5432/database")
        }
        let database = String(components.path.drop(while: { $0 == "/" }))
        let sslmode = components.queryItems?.first(where: { $0.name == "sslmode" })?.value ?? "disable"
        guard ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"].contains(sslmode) else {
            throw .configuration("DATABASE_URL has an unknown sslmode '\(sslmode)'")
        }
        self.init(
            host: host,
            port: components.port ?? 5432,
            username: components.user?.removingPercentEncoding ?? "postgres",
            password: components.password?.removingPercentEncoding,
            database: database.isEmpty ? "postgres" : database,
            requireTLS: ["require", "verify-ca", "verify-full"].contains(sslmode)
        )
    }

    /// The same server, another database (used by tests and the embedded cluster).
    public func with(database: String) -> DatabaseSettings {
        var copy = self
        copy.database = database
        return copy
    }

    /// A URL for humans and tools like psql; the password is left out.
    public var redactedURL: String { "postgres://\(username)@\(host):\(port)/\(database)" }

    func clientConfiguration(poolSize: Int) -> PostgresClient.Configuration {
        var configuration = PostgresClient.Configuration(
            host: host, port: port, username: username, password: password, database: database,
            tls: requireTLS ? .require(.makeClientConfiguration()) : .disable
        )
        configuration.options.maximumConnections = poolSize
        configuration.options.connectTimeout = .milliseconds(Limits.databaseConnectTimeoutMilliseconds)
        // No JIT compilation: our statements are short, and a row estimate gone stale (the
        // ledger head after 400,000 updates) once made PostgreSQL compile the append with LLVM
        // at every call (measured: 250 holds/s instead of 2,500, the time in LLVM's passes).
        configuration.options.additionalStartupParameters = [("jit", "off")]
        return configuration
    }
}

/// Failures of the store that are not business refusals: the caller cannot fix them by
/// changing the request. The edge answers them with 503 or 500.
public enum StoreError: Error, CustomStringConvertible, Sendable {
    /// The settings are wrong (bad URL, missing binaries, unusable data folder).
    case configuration(String)
    /// The schema in the database does not match this binary's migrations.
    case schemaMismatch(String)
    /// The embedded PostgreSQL server could not be set up or started.
    case embeddedServer(String)
    /// A stored value could not be read back (a bug or a hand-edited row).
    case corrupt(String)

    public var description: String {
        switch self {
        case .configuration(let message), .schemaMismatch(let message), .embeddedServer(let message),
            .corrupt(let message):
            message
        }
    }
}

/// An open transaction, handed to code outside the store so it can group several store calls
/// into one atomic write without touching SQL or connections itself.
public struct Transaction: Sendable {
    package let connection: PostgresConnection
    package init(_ connection: PostgresConnection) { self.connection = connection }
}

/// The connection pool and the few ways the rest of the store uses it.
///
/// All writes go through `transaction`, which commits when its body returns and rolls back when
/// it throws, rethrowing the body's own error (PostgresNIO's helper wraps it, which would hide
/// business refusals). Lease counters feed the pool metrics.
public final class Database: Sendable {
    public let client: PostgresClient
    public let settings: DatabaseSettings
    public let logger: Logger
    public let poolSize: Int
    private let leased = Atomic<Int>(0)
    private let waiting = Atomic<Int>(0)

    public init(settings: DatabaseSettings, poolSize: Int, logger: Logger) {
        // The pool's own chatter (including a harmless warning when a query is queued a moment
        // before `run()` starts) stays below errors.
        var background = logger
        background.logLevel = max(logger.logLevel, .error)
        self.client = PostgresClient(
            configuration: settings.clientConfiguration(poolSize: poolSize), backgroundLogger: background)
        self.settings = settings
        self.logger = logger
        self.poolSize = poolSize
    }

    /// Connections currently lent out, and requests waiting for one.
    public var poolStatistics: (leased: Int, waiting: Int) {
        (leased.load(ordering: .relaxed), waiting.load(ordering: .relaxed))
    }

    /// Runs `body` on one leased connection, outside any transaction.
    public func withConnection<R: Sendable>(_ body: (PostgresConnection) async throws -> R) async throws -> R {
        waiting.add(1, ordering: .relaxed)
        var counted = false
        defer {
            if !counted { waiting.subtract(1, ordering: .relaxed) }
        }
        return try await client.withConnection { connection in
            waiting.subtract(1, ordering: .relaxed)
            counted = true
            leased.add(1, ordering: .relaxed)
            defer { leased.subtract(1, ordering: .relaxed) }
            return try await body(connection)
        }
    }

    /// Runs `body` in one transaction: committed when it returns, rolled back when it throws.
    public func transaction<R: Sendable>(_ body: (PostgresConnection) async throws -> R) async throws -> R {
        try await withConnection { connection in
            try await connection.query("BEGIN", logger: logger)
            let result: R
            do {
                result = try await body(connection)
            } catch {
                // A failed rollback means the connection is broken; the pool discards it.
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw error
            }
            try await connection.query("COMMIT", logger: logger)
            return result
        }
    }

    /// Whether the server answers a trivial query.
    public func ping() async -> Bool {
        do {
            try await withConnection { connection in
                _ = try await connection.query("SELECT 1", logger: logger)
            }
            return true
        } catch {
            return false
        }
    }
}

/// Whether PostgreSQL aborted the work for a reason that a retry can cure: a deadlock, a
/// serialization failure, a lock timeout. The edge answers these with 503 and Retry-After.
public func isTransientDatabaseError(_ error: any Error) -> Bool {
    guard let state = error.sqlState else { return false }
    return ["40P01", "40001", "55P03", "57014"].contains(state)
}

extension Error {
    /// The SQLSTATE of a PostgreSQL server error, when this is one.
    var sqlState: String? {
        (self as? PSQLError)?.serverInfo?[.sqlState]
    }
}
