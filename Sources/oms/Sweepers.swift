import Logging
import OmnistockStore
import ServiceLifecycle

/// Deletes expired idempotency keys in bounded batches, so their table stays bounded.
struct IdempotencySweeper: Service {
    static let batchSize = 1_000
    static let batchesPerRoundMax = 100
    static let interval: Duration = .seconds(60)
    let store: IdempotencyStore
    let database: Database
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            // The first round waits one interval: at start the schema may still be migrating.
            while !Task.isCancelled {
                do {
                    try await Task.sleep(for: Self.interval)
                } catch {
                    return  // Cancelled: the service is shutting down.
                }
                await sweepRound()
            }
        }
    }

    /// Sweeps until a batch comes back short (nothing more is due) or the round's bound is hit.
    func sweepRound() async {
        for _ in 0..<Self.batchesPerRoundMax where !Task.isCancelled {
            do {
                let swept = try await store.sweep(limit: Self.batchSize, on: database)
                if swept > 0 { logger.debug("swept expired idempotency keys", metadata: ["count": "\(swept)"]) }
                if swept < Self.batchSize { return }
            } catch {
                logger.warning("idempotency sweep failed; will retry", metadata: ["error": "\(String(reflecting: error))"])
                return
            }
        }
    }
}
