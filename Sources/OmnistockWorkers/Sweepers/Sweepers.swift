import Logging
import OmnistockCore
import OmnistockStore
import ServiceLifecycle
import Synchronization

/// Deletes expired idempotency keys in bounded batches, so their table stays bounded.
public struct IdempotencySweeper: Service {
    let store: IdempotencyStore
    let database: Database
    let logger: Logger
    let failures = FailureLog(what: "idempotency sweep")

    public init(store: IdempotencyStore, database: Database, logger: Logger) {
        self.store = store
        self.database = database
        self.logger = logger
    }

    public func run() async throws {
        await runRounds(every: .milliseconds(Limits.idempotencySweepIntervalMilliseconds)) { await sweepRound() }
    }

    /// Sweeps until a batch comes back short (nothing more is due) or the round's bound is hit.
    func sweepRound() async {
        for _ in 0..<Limits.sweepBatchesPerRoundMax where !Task.isCancelled {
            do {
                let swept = try await store.sweep(limit: Limits.idempotencySweepBatchMax, on: database)
                failures.succeeded(logger)
                if swept > 0 { logger.debug("swept expired idempotency keys", metadata: ["count": "\(swept)"]) }
                if swept < Limits.idempotencySweepBatchMax { return }
            } catch {
                failures.failed(error, logger)
                return
            }
        }
    }
}

/// Records the expiry of holds that are due, in bounded batches through the instance's hold
/// writer (so expiries are decided like every other hold change: positions locked in order,
/// the database's clock). A hold stops counting at its expiry whether or not this has run; this
/// makes the ledger say so, and frees the rows that readers would otherwise subtract.
public struct HoldExpirySweeper: Service {
    let holds: HoldStore
    let writer: HoldWriter
    let database: Database
    let logger: Logger
    let failures = FailureLog(what: "hold expiry sweep")

    public init(holds: HoldStore, writer: HoldWriter, database: Database, logger: Logger) {
        self.holds = holds
        self.writer = writer
        self.database = database
        self.logger = logger
    }

    public func run() async throws {
        await runRounds(every: .milliseconds(Limits.holdSweepIntervalMilliseconds)) { await sweepRound() }
    }

    /// Expires due holds until a batch comes back short or the round's bound is hit.
    func sweepRound() async {
        for _ in 0..<Limits.sweepBatchesPerRoundMax where !Task.isCancelled {
            do {
                let due = try await holds.due(limit: Limits.holdExpiryBatchMax, on: database)
                failures.succeeded(logger)
                if due.isEmpty { return }
                _ = try await writer.submit(.expire(holdIds: due), metadata: EventMetadata(actor: "system:hold-expiry"))
                logger.debug("recorded hold expiries", metadata: ["count": "\(due.count)"])
                if due.count < Limits.holdExpiryBatchMax { return }
            } catch {
                // Schema not migrated yet at start, a busy database: the next round tries again.
                failures.failed(error, logger)
                return
            }
        }
    }
}

/// Expires pickup orders not collected within their store's pickup window, in bounded batches
/// (one transaction each): their allocations return to availability and `order.expired` says why.
/// Several instances may sweep at once; each skips the orders another has locked.
public struct NoShowSweeper: Service {
    let orders: OrderStore
    let logger: Logger
    let failures = FailureLog(what: "no-show sweep")

    public init(orders: OrderStore, logger: Logger) {
        self.orders = orders
        self.logger = logger
    }

    public func run() async throws {
        await runRounds(every: .milliseconds(Limits.noShowSweepIntervalMilliseconds)) { await sweepRound() }
    }

    func sweepRound() async {
        for _ in 0..<Limits.sweepBatchesPerRoundMax where !Task.isCancelled {
            do {
                let expired = try await orders.expireNoShows(limit: Limits.noShowBatchMax)
                failures.succeeded(logger)
                if expired > 0 { logger.info("expired uncollected pickup orders", metadata: ["count": "\(expired)"]) }
                if expired < Limits.noShowBatchMax { return }
            } catch {
                failures.failed(error, logger)
                return
            }
        }
    }
}

/// Runs `round` every `interval` until graceful shutdown. The first round waits one interval:
/// at start the schema may still be migrating.
func runRounds(every interval: Duration, _ round: @escaping @Sendable () async -> Void) async {
    await cancelWhenGracefulShutdown {
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: interval)
            } catch {
                return  // Cancelled: the service is shutting down.
            }
            await round()
        }
    }
}

/// A sweeper's failures, logged without a flood: a database outage fails every round (the hold
/// sweeper's every second), so only the first failure of a run is a warning, the rest are
/// debug, and the first round that works again says how many failed.
final class FailureLog: Sendable {
    let what: String
    private let inRow = Atomic<Int>(0)

    init(what: String) {
        self.what = what
    }

    func failed(_ error: any Error, _ logger: Logger) {
        let (_, failures) = inRow.add(1, ordering: .relaxed)
        logger.log(
            level: failures == 1 ? .warning : .debug, "\(what) failed; will retry",
            metadata: ["error": "\(String(reflecting: error))", "failuresInRow": "\(failures)"])
    }

    func succeeded(_ logger: Logger) {
        let failures = inRow.exchange(0, ordering: .relaxed)
        if failures > 0 { logger.notice("\(what) works again", metadata: ["failedRounds": "\(failures)"]) }
    }
}
