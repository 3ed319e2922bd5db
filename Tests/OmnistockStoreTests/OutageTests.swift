import Foundation
import OmnistockCore
import OmnistockStore
import OmnistockTestSupport
import PostgresNIO
import Synchronization
import Testing

/// A database that is away: where nothing listens, and a server killed with `kill -9` under
/// the pool's feet and started again. Callers get the unavailable error within the acquire
/// bound (never a wait of a minute), and the pool and the ledger tail come back on their own.
@Suite struct OutageTests {
    /// What a caller may wait for an answer while the database is away: the bound is 1.5 s,
    /// the rest is slack for a loaded two-core machine running the whole suite (2.65 s seen,
    /// and 3 s for `/health`, which never waits for the database). Before: 66 s.
    static let answerSecondsMax = 4.0

    @Test func aDatabaseWhereNothingListensAnswersUnavailableWithinTheBound() async throws {
        let settings = DatabaseSettings(host: "127.0.0.1", port: try deadPort(), username: "nobody", password: "x", database: "none")
        try await withProductionBounds(settings) { database in
            // Eight callers at once, twice: the second round meets a pool already failing.
            for round in 1...2 {
                try await withThrowingTaskGroup(of: (Bool, Double).self) { group in
                    for _ in 0..<8 {
                        group.addTask {
                            try await timed(capSeconds: 10) {
                                do {
                                    try await database.withConnection { _ = try await $0.query("SELECT 1", logger: testLogger) }
                                    return false
                                } catch {
                                    return isDatabaseUnavailable(error)
                                }
                            }
                        }
                    }
                    for try await (unavailable, seconds) in group {
                        #expect(unavailable, "round \(round): the error is not the unavailable one")
                        #expect(seconds < Self.answerSecondsMax, "round \(round): answered after \(seconds) s")
                    }
                }
            }
            let (ready, seconds) = try await timed(capSeconds: 10) { await database.ping() }
            #expect(!ready && seconds < Self.answerSecondsMax, "ping answered \(ready) after \(seconds) s")
        }
    }

    @Test(.enabled(if: ProcessInfo.processInfo.environment["DATABASE_URL"] == nil, "needs an embedded cluster of its own"))
    func aKilledServerIsAnsweredUnavailableAndThePoolAndTheTailRecoverOnTheirOwn() async throws {
        let cluster = try KillableCluster()
        defer { cluster.remove() }
        try await withProductionBounds(cluster.settings) { database in
            try await Migrator(migrations: try Migration.bundled(), logger: testLogger).migrate(database)
            let events = EventStore(logger: testLogger)
            let tail = LedgerTail(database: database, events: events, logger: testLogger, pollInterval: .milliseconds(200))
            let running = Task { await tail.run() }
            defer { running.cancel() }
            let subscription = try tail.subscribe()
            // The tail has read the head before anything is written (else BEFORE could be
            // before its start).
            for await item in subscription {
                #expect(item == .started(after: 0))
                break
            }
            let locations = LocationStore(events: events, logger: testLogger)
            _ = try await locations.define(location("BEFORE"), metadata: EventMetadata(actor: "test"), on: database)

            try cluster.killPostmaster()
            // The killed postmaster's backends notice within moments and exit (one busy at the
            // kill may still answer its statement, and commit it: that write is real).
            try await Task.sleep(for: .seconds(1))
            // While it is away every call is answered within the bound, with the unavailable error.
            var refused = 0
            for _ in 0..<6 {
                let (outcome, seconds) = try await timed(capSeconds: 10) { () -> String in
                    do {
                        _ = try await locations.define(location("DOWN"), metadata: EventMetadata(actor: "test"), on: database)
                        return "written"
                    } catch {
                        return isDatabaseUnavailable(error) ? "unavailable" : String(reflecting: error)
                    }
                }
                #expect(outcome == "unavailable" && seconds < Self.answerSecondsMax, "\(outcome) after \(seconds) s")
                if outcome == "unavailable" { refused += 1 }
            }
            #expect(refused == 6)

            try await cluster.restart()
            // Back by itself: the same pool writes again within a bounded wait, and the tail
            // (which lost its LISTEN connection) delivers what is written after the restart.
            let recovered = try await timed(capSeconds: 60) { () -> Bool in
                for _ in 0..<100 {
                    if (try? await locations.define(location("AFTER"), metadata: EventMetadata(actor: "test"), on: database)) != nil {
                        return true
                    }
                    try await Task.sleep(for: .milliseconds(200))
                }
                return false
            }
            #expect(recovered.0, "no write succeeded within \(recovered.1) s of the restart")
            let delivered = try await timed(capSeconds: 60) { () -> [String] in
                var streams: [String] = []
                events: for await item in subscription {
                    guard case .events(let page) = item else { continue }
                    for event in page {
                        streams.append(event.stream)
                        if event.stream.hasSuffix("AFTER") { break events }
                    }
                }
                return streams
            }
            #expect(delivered.0.first?.hasSuffix("BEFORE") == true && delivered.0.last?.hasSuffix("AFTER") == true, "\(delivered.0)")
            #expect(tail.statistics.reconnects >= 1)
        }
    }
}

/// Runs `body` with a running pool on `settings` that has the service's own acquire bounds
/// (whatever the test support gives the other tests).
func withProductionBounds<R: Sendable>(_ settings: DatabaseSettings, _ body: @Sendable (Database) async throws -> R) async throws -> R {
    let database = Database(settings: settings, poolSize: 8, logger: testLogger)
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await database.client.run() }
        defer { group.cancelAll() }
        return try await body(database)
    }
}

/// Runs `operation`, returning its result and how long it took; fails past `capSeconds`, so
/// that a hang of the code under test fails the test instead of stalling the suite. The
/// operation runs in a task of its own that is abandoned (cancelled, not awaited) past the cap:
/// a PostgresNIO query waiting for ever does not heed cancellation.
func timed<R: Sendable>(capSeconds: Double, _ operation: @escaping @Sendable () async throws -> R) async throws -> (R, Double) {
    let started = ContinuousClock.now
    let result = try await within(capSeconds, "the operation", operation)
    let elapsed = ContinuousClock.now - started
    return (result, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
}

struct CapExceeded: Error, CustomStringConvertible {
    let seconds: Double
    var description: String { "no answer within \(seconds) s" }
}

/// An embedded cluster of the test's own (the shared one serves every other test), which the
/// test kills with SIGKILL and starts again on the same port.
struct KillableCluster {
    let folder: String
    let settings: DatabaseSettings

    init() throws {
        let base = ProcessInfo.processInfo.environment["OMS_TEST_DATA_DIR"].map { URL(fileURLWithPath: $0).deletingLastPathComponent().path }
            ?? FileManager.default.temporaryDirectory.path
        folder = "\(base)/oms-outage-\(getpid())-\(UInt32.random(in: 0 ... .max))"
        settings = try EmbeddedPostgres.start(dataDirectory: folder, logger: testLogger).settings
    }

    /// SIGKILL to the postmaster, whose pid is the first line of postmaster.pid.
    func killPostmaster() throws {
        let text = try String(contentsOfFile: "\(folder)/pgdata/postmaster.pid", encoding: .utf8)
        guard let pid = text.split(separator: "\n").first.flatMap({ Int32($0) }), kill(pid, SIGKILL) == 0 else {
            throw CapExceeded(seconds: 0)
        }
    }

    /// Starts the server again on its port. Its orphaned backends hold the shared memory for a
    /// moment after the kill, so the start is tried again for a few seconds.
    func restart() async throws {
        var lastError: (any Error)?
        for _ in 0..<50 {
            do {
                _ = try EmbeddedPostgres.start(dataDirectory: folder, port: settings.port, logger: testLogger)
                return
            } catch {
                lastError = error
                try await Task.sleep(for: .milliseconds(200))
            }
        }
        throw lastError!
    }

    /// Stops the server (immediately) and removes its folder.
    func remove() {
        let pgCtl = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql"))?
            .compactMap { Int($0) }.max().map { "/usr/lib/postgresql/\($0)/bin/pg_ctl" } ?? "pg_ctl"
        let stop = Process()
        stop.executableURL = URL(fileURLWithPath: "/bin/sh")
        let asUser = getuid() == 0 ? "runuser -u postgres -- " : ""
        stop.arguments = ["-c", "\(asUser)\(pgCtl) -D '\(folder)/pgdata' -m immediate -w stop >/dev/null 2>&1; rm -rf '\(folder)'"]
        try? stop.run()
        stop.waitUntilExit()
    }
}
