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
