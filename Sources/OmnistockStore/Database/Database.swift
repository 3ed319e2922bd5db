import Foundation
import Logging
import NIOCore
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
///
/// A lease waits at most `acquireTimeout` while the pool's connection attempts fail:
/// PostgresNIO's pool queues a lease for as long as it cannot connect (60 s before its own
/// breaker trips), so without a bound every request of a database outage waited about 66 s and
/// then failed. A pool that connects but is slow or saturated (a loaded machine, every
/// connection busy) is given `Limits.databaseAcquireBusyTimeoutMilliseconds`: that is not an
/// outage, and 1.5 s failed tests on a loaded two-core machine. After a lease that failed
/// because the pool cannot connect,
/// one caller at a time waits for the pool again (it probes) and the others are answered at
/// once, so that a writer running a failed batch one request at a time, or a burst of requests,
/// does not wait the bound once per request. A probe starts only
/// `Limits.databaseProbePauseMilliseconds` after the last failure, so that callers one after
/// another do not each become one; the pool goes on connecting in the background, and the first
/// lease that succeeds ends this.
public final class Database: Sendable {
    public let client: PostgresClient
    public let settings: DatabaseSettings
    public let logger: Logger
    public let poolSize: Int
    public let acquireTimeout: Duration
    public let busyAcquireTimeout: Duration
    private let leased = Atomic<Int>(0)
    private let waiting = Atomic<Int>(0)
    /// Set by a lease that failed or timed out, cleared by the next that succeeds.
    private let away = Atomic<Bool>(false)
    /// Whether a caller is waiting for the pool while `away` is set.
    private let probing = Atomic<Bool>(false)
    /// When the last lease failed or probe ended, in nanoseconds of `epoch`: a probe waits a
    /// pause after it.
    private let probeEndedNanoseconds = Atomic<Int64>(0)
    private let epoch = ContinuousClock.now
    /// Whether the pool's last connection attempts failed (none of our leases succeeded since).
    private let connecting: ConnectAttempts
    /// The primary last seen and its changes (`probe()`, ServerWatch.swift).
    public let watch = DatabaseWatch()
    /// The newest connection id the pool has lent (PostgresNIO numbers its connections in order).
    private let newestConnection = Atomic<Int>(-1)
    /// Set when connections were lost or refused: the newest connection id then, so that the
    /// first lease of a newer one counts a reconnect; -1 when nothing was lost.
    private let lostUpTo = Atomic<Int>(-1)
    private let reconnectCount = Atomic<Int>(0)

    /// `acquireTimeout` bounds a lease while the pool cannot connect, `busyAcquireTimeout` while
    /// it connects but lags (tests on a loaded machine may want both longer).
    public init(
        settings: DatabaseSettings, poolSize: Int, logger: Logger,
        acquireTimeout: Duration = .milliseconds(Limits.databaseAcquireTimeoutMilliseconds),
        busyAcquireTimeout: Duration = .milliseconds(Limits.databaseAcquireBusyTimeoutMilliseconds)
    ) {
        // The pool's own chatter (including a harmless warning when a query is queued a moment
        // before `run()` starts) stays below errors; its failed connection attempts are heard.
        let connecting = ConnectAttempts()
        let forward = logger
        let background = Logger(label: logger.label) { _ in
            PoolLogHandler(forward: forward, level: max(forward.logLevel, .error)) { connecting.failing.store(true, ordering: .relaxed) }
        }
        self.connecting = connecting
        self.client = PostgresClient(
            configuration: settings.clientConfiguration(poolSize: poolSize), backgroundLogger: background)
        self.settings = settings
        self.logger = logger
        self.poolSize = poolSize
        self.acquireTimeout = acquireTimeout
        self.busyAcquireTimeout = max(busyAcquireTimeout, acquireTimeout)
    }

    /// Connections currently lent out, and requests waiting for one.
    public var poolStatistics: (leased: Int, waiting: Int) {
        (leased.load(ordering: .relaxed), waiting.load(ordering: .relaxed))
    }

    /// Whether the last lease failed and none has succeeded since: the database is away.
    public var isAway: Bool { away.load(ordering: .relaxed) }

    /// Times connections were lost or refused (an outage, a failover, a restart of the server)
    /// and a new one then reached the database, since start.
    public var reconnects: Int { reconnectCount.load(ordering: .relaxed) }

    /// Connections were lost or refused: the next one the pool opens is a reconnect.
    private func connectionsLost() {
        lostUpTo.store(max(newestConnection.load(ordering: .relaxed), 0), ordering: .relaxed)
    }

    /// The pool lends `connection`: counts a reconnect when it is the first opened after a loss.
    private func lent(_ connection: PostgresConnection) {
        var newest = newestConnection.load(ordering: .relaxed)
        while connection.id > newest {
            let (exchanged, original) = newestConnection.compareExchange(expected: newest, desired: connection.id, ordering: .relaxed)
            if exchanged { break }
            newest = original
        }
        let lost = lostUpTo.load(ordering: .relaxed)
        if lost >= 0, connection.id > lost, lostUpTo.compareExchange(expected: lost, desired: -1, ordering: .relaxed).exchanged {
            reconnectCount.add(1, ordering: .relaxed)
        }
    }

    /// Runs `body` on one leased connection, outside any transaction. Throws
    /// `DatabaseUnavailable` when no connection can be had within `acquireTimeout`.
    public func withConnection<R: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> R) async throws -> R {
        waiting.add(1, ordering: .relaxed)
        var counted = false
        defer {
            if !counted { waiting.subtract(1, ordering: .relaxed) }
        }
        return try await withBoundedLease(
            leased: {
                self.waiting.subtract(1, ordering: .relaxed)
                counted = true
                self.leased.add(1, ordering: .relaxed)
            },
            returned: { self.leased.subtract(1, ordering: .relaxed) },
            body)
    }

    /// Leases lent out now, watched for a connection that closed under a body that never returns.
    private let held = Mutex(HeldLeases())
    private let watching = Atomic<Bool>(false)

    /// Runs `body` on a connection leased within `acquireTimeout` and held as long as `body`
    /// runs, outside the pool figures: the ledger tail's LISTEN connection, leased for its life.
    func withHeldConnection<R: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> R) async throws -> R {
        try await withBoundedLease(leased: {}, returned: {}, body)
    }

    /// Runs `body` in one transaction: committed when it returns, rolled back when it throws.
    ///
    /// A connection that fails at BEGIN (one the server dropped while it sat idle in the pool,
    /// as after a restart) did nothing yet, so the transaction starts once more on another. A
    /// connection lost during COMMIT leaves the outcome unknown: that is `DatabaseUnavailable`
    /// (503), never a success, and a retry with the same Idempotency-Key finds out (the key is
    /// stored in the same transaction as the events).
    public func transaction<R: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> R) async throws -> R {
        var attempt = 0
        while true {
            attempt += 1
            let first = attempt == 1
            // Set once COMMIT is written: a body given up after that (its connection lost, see
            // `withBoundedLease`) may have committed.
            let committing = CommitFlag()
            let outcome: R?
            do {
                outcome = try await withConnection { connection in
                    try await self.transactionBody(on: connection, first: first, committing: committing, body)
                }
            } catch let error as DatabaseUnavailable where error.reason == .connectionLost && committing.isSet {
                throw DatabaseUnavailable(.commitOutcomeUnknown, underlying: error)
            }
            if let outcome { return outcome }
        }
    }

    /// BEGIN, the body, COMMIT (or ROLLBACK) on one connection; nil when BEGIN failed on the
    /// first attempt because the connection was dead, so that another is tried.
    ///
    /// BEGIN is written without waiting for its answer (see `Answered`): the body's first
    /// statement goes out behind it on the same connection, which runs them in order, and
    /// BEGIN's answer has come by the time that statement's has.
    private func transactionBody<R: Sendable>(
        on connection: PostgresConnection, first: Bool, committing: CommitFlag,
        _ body: @Sendable (PostgresConnection) async throws -> R
    ) async throws -> R? {
        guard !connection.isClosed else {
            if first { return nil }
            throw DatabaseUnavailable(.connectionLost)
        }
        let begun = connection.send("BEGIN", logger: logger)
        let result: R
        do {
            result = try await body(connection)
            try await begun.outcome()
        } catch {
            let beginFailure = begun.failure
            // A dead connection fails BEGIN and everything queued behind it: nothing ran.
            if let beginFailure, first, isDatabaseUnavailable(beginFailure) { return nil }
            if connection.isClosed {
                // The server rolled the transaction back when the connection went; a
                // ROLLBACK written to it now could wait for ever (see `withBoundedLease`).
                throw error
            }
            if let failure = beginFailure {
                // BEGIN fails on a live connection only if the session is broken; what ran
                // behind it ran outside a transaction, so the connection is not used again.
                logger.error("BEGIN failed on a live connection; closing it", metadata: ["error": "\(String(reflecting: failure))"])
                try? await connection.close()
                throw failure
            }
            // A failed rollback means the connection is broken; the pool discards it.
            _ = try? await connection.query("ROLLBACK", logger: logger)
            throw error
        }
        // Lost before COMMIT was sent: the server rolled back, nothing was written.
        guard !connection.isClosed else { throw DatabaseUnavailable(.connectionLost) }
        committing.set()
        do {
            try await connection.query("COMMIT", logger: logger)
        } catch where isDatabaseUnavailable(error) {
            logger.warning("the connection was lost during COMMIT; the outcome is unknown", metadata: ["error": "\(String(reflecting: error))"])
            throw DatabaseUnavailable(.commitOutcomeUnknown, underlying: error)
        }
        return result
    }

    /// Whether the server answers a trivial query (within the acquire bound when it is away).
    public func ping() async -> Bool {
        do {
            try await withConnection { connection in
                _ = try await connection.query("SELECT 1", logger: self.logger)
            }
            return true
        } catch {
            return false
        }
    }

    // MARK: - Bounded leases

    /// Leases a connection in a child task that holds the lease while `body` runs here, so the
    /// wait for it can be bounded: PostgresNIO cancels a waiting lease when its task is
    /// cancelled, but runs the body inside its own lease call, which a deadline cannot
    /// interrupt from outside.
    ///
    /// PostgresNIO 1.33.2 writes each query to the channel without a write promise, so a query
    /// written after a closed channel dropped its handlers is lost and waits for ever (seen
    /// after `kill -9` of the postmaster: a backend that answered BEGIN died before the next
    /// statement). The pool lends such connections until it has noticed the close, so a closed
    /// one goes back and another is asked for; and a lease whose connection closed is given
    /// back to the pool `Limits.databaseLostConnectionGraceMilliseconds` later even if its body
    /// never returns, so that the pool does not lose a slot per lost write.
    ///
    /// And the caller does not wait for such a body: it runs in a task of its own, and when its
    /// connection is found lost the caller gets `DatabaseUnavailable(.connectionLost)` (a 503)
    /// while the lost task is left behind. A chaos run saw two requests wait for ever on lost
    /// writes after `kill -9` of the postmaster, and a failed start hang on one. `leased` and
    /// `returned` run in the caller's task around the body, for the pool figures.
    private func withBoundedLease<R: Sendable>(
        leased: () -> Void = {}, returned: () -> Void = {}, _ body: @escaping @Sendable (PostgresConnection) async throws -> R
    ) async throws -> R {
        let probe = try admit()
        let handoff = LeaseHandoff()
        let bound = acquireTimeout
        let busyBound = busyAcquireTimeout
        let connecting = connecting
        let timer = Task {
            // The short bound while the pool cannot connect, the long one while it only lags.
            let started = ContinuousClock.now
            try await Task.sleep(for: bound)
            while !connecting.failing.load(ordering: .relaxed), ContinuousClock.now - started < busyBound {
                try await Task.sleep(for: .milliseconds(100))
            }
            handoff.expire(after: ContinuousClock.now - started)
        }
        defer { timer.cancel() }
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await self.hold(handoff) }
            let connection: PostgresConnection
            do {
                connection = try await handoff.connection()
            } catch {
                leaseFailed(error, probe: probe)
                throw error
            }
            timer.cancel()
            leaseSucceeded(probe: probe)
            defer { handoff.release() }
            leased()
            defer { returned() }
            do {
                return try await handoff.run { try await body(connection) }
            } catch {
                throw await bodyFailed(error, on: connection)
            }
        }
    }

    /// What a body's failure means for the connection: a lost one is noted (the next new one is
    /// a reconnect); a server that refuses writes as a standby (SQLSTATE 25006: a demoted
    /// primary, or an address that leads to a replica during a failover) is left, so that the
    /// pool opens a new connection, which the address (HAProxy) leads to the primary.
    private func bodyFailed(_ error: any Error, on connection: PostgresConnection) async -> any Error {
        if error.sqlState == "25006" {
            logger.warning("the database server is a standby (read-only); leaving the connection for a new one")
            connectionsLost()
            try? await connection.close()
            return DatabaseUnavailable(.standby, underlying: error)
        }
        if isDatabaseUnavailable(error) { connectionsLost() }
        return error
    }

    /// The holder's side of a bounded lease: leases (passing over connections already closed),
    /// hands the connection over and keeps the lease until it is released or lost.
    private func hold(_ handoff: LeaseHandoff) async {
        do {
            while try await !client.withConnection({ connection in
                guard !connection.isClosed else {
                    self.connectionsLost()
                    return handoff.isEnded
                }
                self.lent(connection)
                guard handoff.deliver(connection) else { return true }
                let id = held.withLock { $0.add(handoff, connection) }
                watchLostLeases()
                await handoff.untilReleased()
                held.withLock { $0.remove(id) }
                return true
            }) {
                try await Task.sleep(for: .milliseconds(1))
            }
        } catch {
            handoff.fail(error)
        }
    }

    /// Starts, once, the watch that gives back leases whose connection closed and whose body
    /// has not returned within the grace: one look a second while this database lives.
    private func watchLostLeases() {
        guard !watching.exchange(true, ordering: .relaxed) else { return }
        Task { [weak self] in
            while true {
                try? await Task.sleep(for: .milliseconds(Limits.databaseLostConnectionGraceMilliseconds))
                guard let self else { return }
                let lost = self.held.withLock { $0.lost(grace: .milliseconds(Limits.databaseLostConnectionGraceMilliseconds)) }
                for handoff in lost where handoff.abandon() {
                    self.logger.error(
                        "a query on a lost database connection never completed (PostgresNIO lost a write to the closed channel); its pool slot is given back and its caller answered")
                }
            }
        }
    }

    /// Lets a lease wait for the pool, or answers it at once while the database is away and
    /// another caller is already probing. Returns whether this caller probes.
    private func admit() throws(DatabaseUnavailable) -> Bool {
        guard away.load(ordering: .relaxed) else { return false }
        let pause = Int64(Limits.databaseProbePauseMilliseconds) * 1_000_000
        guard nanosecondsSinceEpoch() - probeEndedNanoseconds.load(ordering: .relaxed) >= pause,
            probing.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged
        else {
            throw DatabaseUnavailable(.away)
        }
        return true
    }

    private func leaseFailed(_ error: any Error, probe: Bool) {
        // A lease given up because its caller went away says nothing about the database, nor
        // does one that timed out on a pool that connects (it is busy, not away).
        if isDatabaseUnavailable(error), connecting.failing.load(ordering: .relaxed) {
            connectionsLost()
            if !away.exchange(true, ordering: .relaxed) {
                logger.warning("the database is away: no connection within the acquire bound", metadata: ["error": "\(String(reflecting: error))"])
            }
        }
        // Every failure counts as a probe that ended: the callers that failed together (and
        // then run one at a time, as a writer does) must not each start a probe right after.
        probeEndedNanoseconds.store(nanosecondsSinceEpoch(), ordering: .relaxed)
        if probe { probing.store(false, ordering: .releasing) }
    }

    private func leaseSucceeded(probe: Bool) {
        connecting.failing.store(false, ordering: .relaxed)
        if away.exchange(false, ordering: .relaxed) { logger.notice("the database answers again") }
        if probe { endProbe() }
    }

    private func endProbe() {
        probeEndedNanoseconds.store(nanosecondsSinceEpoch(), ordering: .relaxed)
        probing.store(false, ordering: .releasing)
    }

    private func nanosecondsSinceEpoch() -> Int64 {
        let elapsed = ContinuousClock.now - epoch
        return elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000
    }
}

/// What the pool's log says of its connection attempts.
final class ConnectAttempts: Sendable {
    /// Set when an attempt failed, cleared by a lease that succeeds.
    let failing = Atomic<Bool>(false)
}

/// The pool's log: errors go on to the instance's log, and a failed connection attempt
/// (PostgresNIO's pool logs "Connection creation failed" at info, and says it nowhere else)
/// is reported, so that a lease waits the short bound only while the pool cannot connect.
struct PoolLogHandler: LogHandler {
    let forward: Logger
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    let forwardLevel: Logger.Level
    let connectFailed: @Sendable () -> Void

    init(forward: Logger, level: Logger.Level, connectFailed: @escaping @Sendable () -> Void) {
        self.forward = forward
        self.forwardLevel = level
        self.connectFailed = connectFailed
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        if event.message.description == "Connection creation failed" { connectFailed() }
        guard event.level >= forwardLevel else { return }
        forward.log(
            level: event.level, event.message, metadata: metadata.merging(event.metadata ?? [:]) { $1 }, source: event.source,
            file: event.file, function: event.function, line: event.line)
    }
}

/// The leases lent out, and when each one's connection was first seen closed.
struct HeldLeases {
    private var leases: [Int: (handoff: LeaseHandoff, connection: PostgresConnection, closedAt: ContinuousClock.Instant?)] = [:]
    private var nextId = 0

    mutating func add(_ handoff: LeaseHandoff, _ connection: PostgresConnection) -> Int {
        nextId += 1
        leases[nextId] = (handoff, connection, nil)
        return nextId
    }

    mutating func remove(_ id: Int) {
        leases[id] = nil
    }

    /// The leases whose connection has been closed for at least `grace`.
    mutating func lost(grace: Duration) -> [LeaseHandoff] {
        let now = ContinuousClock.now
        var lost: [LeaseHandoff] = []
        for (id, lease) in leases where lease.connection.isClosed {
            guard let closedAt = lease.closedAt else {
                leases[id]?.closedAt = now
                continue
            }
            if now - closedAt >= grace { lost.append(lease.handoff) }
        }
        return lost
    }
}

/// Hands a leased connection from the child task holding the lease to the caller using it,
/// unless the acquire bound passed first; then waits for the caller to give it back.
final class LeaseHandoff: Sendable {
    private enum Stage {
        case waiting(CheckedContinuation<PostgresConnection, any Error>?)
        case delivered(PostgresConnection)
        case taken
        case ended(any Error)
    }

    private struct State {
        var stage = Stage.waiting(nil)
        var released = false
        var holder: CheckedContinuation<Void, Never>?
        /// Answers the caller of `run` when its connection is found lost.
        var abandoned: (@Sendable () -> Void)?
    }

    private let state = Mutex(State())

    /// Whether the caller stopped waiting (the bound passed, or the lease failed).
    var isEnded: Bool {
        state.withLock { state in
            switch state.stage {
            case .ended: true
            case .waiting, .delivered, .taken: false
            }
        }
    }

    /// Called by the holder with its lease; false when the caller no longer wants it.
    func deliver(_ connection: PostgresConnection) -> Bool {
        state.withLock { state in
            switch state.stage {
            case .waiting(let caller?):
                state.stage = .taken
                caller.resume(returning: connection)
                return true
            case .waiting(nil):
                state.stage = .delivered(connection)
                return true
            case .delivered, .taken, .ended:
                return false
            }
        }
    }

    /// The lease failed (the pool refused, or the caller's task was cancelled).
    func fail(_ error: any Error) {
        end(error)
    }

    /// The acquire bound passed before a connection came.
    func expire(after bound: Duration) {
        end(DatabaseUnavailable(.acquireTimedOut(bound)))
    }

    private func end(_ error: any Error) {
        state.withLock { state in
            switch state.stage {
            case .waiting(let caller):
                state.stage = .ended(error)
                caller?.resume(throwing: error)
            case .delivered, .taken, .ended:
                break
            }
        }
    }

    /// The caller's wait for the connection.
    func connection() async throws -> PostgresConnection {
        try await withCheckedThrowingContinuation { continuation in
            state.withLock { state in
                switch state.stage {
                case .waiting:
                    state.stage = .waiting(continuation)
                case .delivered(let connection):
                    state.stage = .taken
                    continuation.resume(returning: connection)
                case .ended(let error):
                    continuation.resume(throwing: error)
                case .taken:
                    preconditionFailure("a handoff hands its connection once")
                }
            }
        }
    }

    /// The holder's wait: it ignores cancellation, as the caller is still using the connection.
    func untilReleased() async {
        await withCheckedContinuation { continuation in
            state.withLock { state in
                if state.released {
                    continuation.resume()
                } else {
                    state.holder = continuation
                }
            }
        }
    }

    /// Runs the caller's body in a task of its own and waits for it, or until `abandon()`
    /// (its connection was lost), whichever comes first; the caller's cancellation reaches it.
    func run<R: Sendable>(_ body: @escaping @Sendable () async throws -> R) async throws -> R {
        let answer = Answer<R>()
        let lost: @Sendable () -> Void = { answer.resume(.failure(DatabaseUnavailable(.connectionLost))) }
        let abandonedAlready = state.withLock { state in
            state.abandoned = lost
            return state.released
        }
        if abandonedAlready { lost() }
        defer { state.withLock { $0.abandoned = nil } }
        let task = Task {
            do { answer.resume(.success(try await body())) } catch { answer.resume(.failure(error)) }
        }
        return try await withTaskCancellationHandler {
            try await answer.value()
        } onCancel: {
            task.cancel()
        }
    }

    /// The connection was lost under a body that did not return within the grace: releases
    /// the lease and answers the caller. True when this released it.
    func abandon() -> Bool {
        let (released, abandoned) = state.withLock { state -> (Bool, (@Sendable () -> Void)?) in
            guard !state.released else { return (false, nil) }
            state.released = true
            state.holder?.resume()
            state.holder = nil
            defer { state.abandoned = nil }
            return (true, state.abandoned)
        }
        abandoned?()
        return released
    }

    /// The caller is done with the connection (or it was lost); true when this released it.
    @discardableResult
    func release() -> Bool {
        state.withLock { state in
            guard !state.released else { return false }
            state.released = true
            state.holder?.resume()
            state.holder = nil
            return true
        }
    }
}

/// One answer, given once, to one waiter: the first of a body's result and its abandonment.
final class Answer<R: Sendable>: Sendable {
    private enum Stage {
        case pending(CheckedContinuation<R, any Error>?)
        case given(Result<R, any Error>)
        case taken
    }

    private let stage = Mutex(Stage.pending(nil))

    /// Gives the answer; only the first counts.
    func resume(_ result: Result<R, any Error>) {
        let waiter = stage.withLock { stage -> CheckedContinuation<R, any Error>? in
            switch stage {
            case .pending(let waiter?):
                stage = .taken
                return waiter
            case .pending(nil):
                stage = .given(result)
                return nil
            case .given, .taken:
                return nil
            }
        }
        waiter?.resume(with: result)
    }

    /// Waits for the answer (once).
    func value() async throws -> R {
        try await withCheckedThrowingContinuation { continuation in
            let given = stage.withLock { stage -> Result<R, any Error>? in
                switch stage {
                case .pending(nil):
                    stage = .pending(continuation)
                    return nil
                case .given(let result):
                    stage = .taken
                    return result
                case .pending(.some), .taken:
                    preconditionFailure("an answer is awaited once")
                }
            }
            if let given { continuation.resume(with: given) }
        }
    }
}

/// Whether a transaction wrote its COMMIT, seen by the caller after the body was given up.
final class CommitFlag: Sendable {
    private let committing = Atomic<Bool>(false)
    var isSet: Bool { committing.load(ordering: .relaxed) }
    func set() { committing.store(true, ordering: .relaxed) }
}

/// The database cannot be used now: nothing answers, the pool could not lend a connection
/// within the bound, or the connection was lost. The edge answers 503 with Retry-After.
public struct DatabaseUnavailable: Error, CustomStringConvertible, Sendable {
    public enum Reason: Sendable, Equatable {
        /// No connection within the acquire bound.
        case acquireTimedOut(Duration)
        /// The last lease failed and another caller is already waiting for the pool.
        case away
        /// The connection was lost during COMMIT: the transaction may or may not have committed.
        case commitOutcomeUnknown
        /// The connection was lost before COMMIT: the transaction was rolled back.
        case connectionLost
        /// The server is a standby (read-only): nothing was written; the connection was left.
        case standby
    }

    public let reason: Reason
    public let underlying: String?

    public init(_ reason: Reason, underlying: (any Error)? = nil) {
        self.reason = reason
        self.underlying = underlying.map { String(reflecting: $0) }
    }

    public var description: String {
        let text: String
        switch reason {
        case .acquireTimedOut(let bound): text = "no database connection within \(bound)"
        case .away: text = "the database is away (the last connection attempt failed)"
        case .commitOutcomeUnknown: text = "the connection was lost during COMMIT; the outcome is unknown"
        case .connectionLost: text = "the connection was lost before COMMIT; nothing was written"
        case .standby: text = "the database server is a standby (read-only), as during a failover; nothing was written"
        }
        return underlying.map { "\(text): \($0)" } ?? text
    }
}

/// Whether `error` says the database cannot be reached or used now (an outage, a restart, a
/// connection lost), rather than that the request or our code is wrong. The edge answers these
/// with 503 and Retry-After; a retry with the same Idempotency-Key is safe.
public func isDatabaseUnavailable(_ error: any Error) -> Bool {
    if error is DatabaseUnavailable || error is IOError || error is ChannelError { return true }
    if let error = error as? PSQLError {
        if connectionLevelCodes.contains(error.code) { return true }
        // A LISTEN or UNLISTEN that failed says why in its underlying error (a connection the
        // server dropped hands its failed UNLISTEN to the next query on it).
        if error.code == .listenFailed || error.code == .unlistenFailed, let underlying = error.underlying {
            return isDatabaseUnavailable(underlying)
        }
        // Connection exceptions (08), the server shutting down or crashing (57P01, 57P02),
        // starting up or recovering (57P03: after a crash it replays its WAL first), too many
        // connections (53300), and a write refused by a standby (25006: a demoted primary, or a
        // replica reached during a failover).
        guard error.code == .server, let state = error.sqlState else { return false }
        return state.hasPrefix("08") || ["57P01", "57P02", "57P03", "53300", "25006"].contains(state)
    }
    // The pool's own refusals: its breaker tripped (60 s of failed connects) or it shut down.
    // Their type lives in a module of PostgresNIO we do not depend on, so it is told by name;
    // a lease cancelled because its caller went away says nothing about the database.
    let description = String(describing: error)
    return String(reflecting: type(of: error)).hasSuffix("ConnectionPoolError") && !description.contains("requestCancelled")
}

/// PostgresNIO's codes for a connection that failed to open, broke, or was closed under a query.
private let connectionLevelCodes: Set<PSQLError.Code> = [
    .connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown, .poolClosed,
]

/// Whether PostgreSQL aborted the work for a reason that a retry can cure: a deadlock, a
/// serialization failure, a lock timeout. The edge answers these with 503 and Retry-After.
public func isTransientDatabaseError(_ error: any Error) -> Bool {
    guard let state = error.sqlState else { return false }
    return ["40P01", "40001", "55P03", "57014"].contains(state)
}

extension Error {
    /// The SQLSTATE of a PostgreSQL server error, when this is one.
    public var sqlState: String? {
        (self as? PSQLError)?.serverInfo?[.sqlState]
    }
}

