import Logging
import OmnistockCore
import PostgresNIO
import Synchronization

/// The requests waiting for a batching writer (the hold writer, the order step writer), taken
/// in batches by at most `lanesMax` lanes at once.
///
/// Requests that share a subject (an Idempotency-Key, an order) never share a batch, nor run
/// in two lanes at once: the later one waits for a later batch, where it finds what the earlier
/// one did, and two lanes never queue on each other's rows.
final class WriterQueue<Item: Sendable>: Sendable {
    struct State {
        var items: [Item] = []
        var lanes = 0
        var busy = Set<String>()
    }

    enum Enqueued {
        /// The queue is at its depth limit: the request is refused.
        case full
        /// Queued; a running lane will take it.
        case queued
        /// Queued, and a lane was free: the caller starts one (`next(after: [])` in a loop).
        case startLane
    }

    private let state = Mutex(State())
    private let counters = Mutex(HoldWriterStatistics())
    let depthMax: Int
    let batchMax: Int
    let lanesMax: Int
    let subjects: @Sendable (Item) -> [String]

    init(depthMax: Int, batchMax: Int, lanesMax: Int, subjects: @escaping @Sendable (Item) -> [String]) {
        precondition(depthMax > 0 && batchMax > 0 && lanesMax > 0, "a writer needs room for one request")
        self.depthMax = depthMax
        self.batchMax = batchMax
        self.lanesMax = lanesMax
        self.subjects = subjects
    }

    var count: Int { state.withLock { $0.items.count } }

    /// What the writer has done so far, for metrics.
    var statistics: HoldWriterStatistics {
        var value = counters.withLock { $0 }
        value.queued = count
        return value
    }

    func enqueue(_ item: Item) -> Enqueued {
        state.withLock { state in
            guard state.items.count < depthMax else { return .full }
            state.items.append(item)
            guard state.lanes < lanesMax else { return .queued }
            state.lanes += 1
            return .startLane
        }
    }

    /// A lane's next batch, in arrival order, once the subjects of the batch it `finished` are
    /// free again. Empty when the lane should stop: nothing is queued, or everything queued
    /// waits for a batch another lane is running (that lane takes it next).
    func next(after finished: [Item]) -> [Item] {
        state.withLock { state in
            state.busy.subtract(finished.flatMap(subjects))
            var batch: [Item] = []
            var rest: [Item] = []
            var taken = state.busy
            for item in state.items {
                let named = subjects(item)
                if batch.count >= batchMax || named.contains(where: taken.contains) {
                    rest.append(item)
                    continue
                }
                taken.formUnion(named)
                batch.append(item)
            }
            state.items = rest
            if batch.isEmpty {
                state.lanes -= 1
            } else {
                state.busy.formUnion(batch.flatMap(subjects))
            }
            return batch
        }
    }
}

/// A request of a batching writer: answered through its continuation.
protocol BatchedRequest: Sendable {
    associatedtype Outcome: Sendable
    var continuation: CheckedContinuation<Outcome, any Error> { get }
    /// The requesting task's reach (`LedgerReach.current` when it was queued).
    var reach: LedgerReach? { get }
}

extension WriterQueue where Item: BatchedRequest {
    /// Runs one lane: takes batches until none is left, each decided and written by `run` in
    /// one transaction. A batch that fails is retried (nothing committed: it is decided again on
    /// fresh state) when `retryable` says so, at most `Limits.writerRetriesMax` times; otherwise it is run
    /// one request at a time, so that one poisonous request cannot fail its neighbours, unless
    /// its COMMIT was cut off (it may have committed).
    func drain(
        _ what: String, database: Database, logger: Logger, retryable: @Sendable (any Error) -> Bool,
        run: @escaping @Sendable ([Item], PostgresConnection) async throws -> [Result<Item.Outcome, any Error>]
    ) async {
        var finished: [Item] = []
        while true {
            let batch = next(after: finished)
            if batch.isEmpty { return }
            await process(batch, what, database: database, logger: logger, retryable: retryable, run: run)
            finished = batch
        }
    }

    /// Whether a failed batch is worth running again as it is: a transient database failure,
    /// or a stream another writer changed first (the batch decides again on fresh state).
    /// Anything else would fail again the same way.
    static func isRetryable(_ error: any Error) -> Bool {
        if isTransientDatabaseError(error) { return true }
        switch error {
        case Rejection.concurrentModification: return true
        case let rejections as Rejections:
            if case .concurrentModification? = rejections.all.first { return true }
            return false
        default: return false
        }
    }

    /// Whether `error` leaves a batch's outcome unknown (the connection was lost during COMMIT).
    static func mayHaveCommitted(_ error: any Error) -> Bool {
        guard let error = error as? DatabaseUnavailable else { return false }
        switch error.reason {
        case .commitOutcomeUnknown: return true
        case .acquireTimedOut, .away, .connectionLost, .standby: return false
        }
    }

    private func process(
        _ batch: [Item], _ what: String, database: Database, logger: Logger, retryable: @Sendable (any Error) -> Bool,
        run: @escaping @Sendable ([Item], PostgresConnection) async throws -> [Result<Item.Outcome, any Error>]
    ) async {
        var attempt = 0
        while true {
            do {
                let started = ContinuousClock.now
                // The batch's transaction appends in this task; what it reached is every request's.
                let reach = LedgerReach()
                let results = try await LedgerReach.$current.withValue(reach) {
                    try await database.transaction { connection in try await run(batch, connection) }
                }
                if let position = reach.position { for item in batch { item.reach?.reached(position) } }
                let elapsed = ContinuousClock.now - started
                counters.withLock {
                    $0.batches += 1
                    $0.requests += batch.count
                    $0.batchSeconds += Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                }
                for (item, result) in zip(batch, results) { item.continuation.resume(with: result) }
                return
            } catch {
                if retryable(error), attempt < Limits.writerRetriesMax {
                    attempt += 1
                    counters.withLock { $0.retries += 1 }
                    // A short backoff with jitter, so two lanes (or instances) that collided do
                    // not collide again at once.
                    let pauseMs = Int64.random(in: 1...Limits.writerRetryBackoffMillisecondsMax * Int64(attempt))
                    try? await Task.sleep(for: .milliseconds(pauseMs))
                    continue
                }
                // A batch whose COMMIT was cut off may have committed: running its requests
                // again one by one would write twice what has no Idempotency-Key, and answer
                // 2xx for it. Every request of it is told the outcome is unknown (a 503).
                if batch.count > 1, !Self.mayHaveCommitted(error) {
                    logger.warning("a \(what) batch failed; running its requests one by one", metadata: ["error": "\(String(reflecting: error))"])
                    for item in batch { await process([item], what, database: database, logger: logger, retryable: retryable, run: run) }
                    return
                }
                for item in batch { item.continuation.resume(throwing: error) }
                return
            }
        }
    }
}
