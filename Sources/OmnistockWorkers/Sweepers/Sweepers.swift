import Logging
import OmnistockCore
import OmnistockStore
import ServiceLifecycle

/// Deletes expired idempotency keys in bounded batches, so their table stays bounded.
public struct IdempotencySweeper: Service {
    let store: IdempotencyStore
    let database: Database
    let logger: Logger

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
                if swept > 0 { logger.debug("swept expired idempotency keys", metadata: ["count": "\(swept)"]) }
                if swept < Limits.idempotencySweepBatchMax { return }
            } catch {
                logger.warning("idempotency sweep failed; will retry", metadata: ["error": "\(String(reflecting: error))"])
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
                if due.isEmpty { return }
                _ = try await writer.submit(.expire(holdIds: due), metadata: EventMetadata(actor: "system:hold-expiry"))
                logger.debug("recorded hold expiries", metadata: ["count": "\(due.count)"])
                if due.count < Limits.holdExpiryBatchMax { return }
            } catch {
                // Schema not migrated yet at start, a busy database: the next round tries again.
                logger.warning("hold expiry sweep failed; will retry", metadata: ["error": "\(String(reflecting: error))"])
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
                if expired > 0 { logger.info("expired uncollected pickup orders", metadata: ["count": "\(expired)"]) }
                if expired < Limits.noShowBatchMax { return }
            } catch {
                logger.warning("no-show sweep failed; will retry", metadata: ["error": "\(String(reflecting: error))"])
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
