import OmnistockCore
import OmnistockStore
import Synchronization

/// The recent events of the ledger tail, every one, contiguous by position, kept so that the
/// delivery loops that keep up read them from memory: fifty subscriptions cost one tail read per
/// commit, not fifty ledger reads. A loop further behind than the window reads the ledger.
///
/// It also wakes the loops waiting for events, each through a stream that holds at most one
/// pending wake (a loop that was busy reads everything new at once anyway).
final class EventWindow: Sendable {
    enum Read: Equatable {
        /// The events after the cursor, up to the limit (empty: the loop is caught up).
        case events([RecordedEvent])
        /// The cursor is before the window, or the tail has not started: read the ledger.
        case behind
    }

    private struct State {
        /// The position before the first kept event; nil until the tail has started.
        var start: Int64?
        var events: [RecordedEvent] = []
        var waiters: [Int: AsyncStream<Void>.Continuation] = [:]
        var nextWaiter = 0
    }

    let capacity: Int
    private let state = Mutex(State())

    init(capacity: Int = Limits.webhookWindowEventsMax) {
        precondition(capacity > 0, "the window holds an event")
        self.capacity = capacity
    }

    /// The tail (re)started after `position`: what was kept may have a gap before it, so it goes.
    func restart(after position: Int64) {
        state.withLock { state in
            state.start = position
            state.events = []
        }
        wakeAll()
    }

    /// Appends a page of the tail, which follows the last without a gap.
    func append(_ page: [RecordedEvent]) {
        guard !page.isEmpty else { return }
        state.withLock { state in
            guard let start = state.start else { return }
            precondition(page.first!.position == start + Int64(state.events.count) + 1, "the window skipped a position")
            state.events += page
            // Trimmed by half a capacity at a time, so a trim's copy is paid once per that many events.
            if state.events.count > capacity + capacity / 2 {
                let drop = state.events.count - capacity
                state.events.removeFirst(drop)
                state.start = start + Int64(drop)
            }
        }
        wakeAll()
    }

    /// The last position the window knows, nil before the tail started.
    var head: Int64? {
        state.withLock { state in state.start.map { $0 + Int64(state.events.count) } }
    }

    func read(after cursor: Int64, limit: Int) -> Read {
        precondition(limit > 0, "a read asks for an event")
        return state.withLock { state in
            guard let start = state.start, cursor >= start else { return .behind }
            let from = Int(cursor - start)
            guard from < state.events.count else { return .events([]) }
            return .events(Array(state.events[from..<min(state.events.count, from + limit)]))
        }
    }

    /// A stream that yields when new events arrive (or the tail restarts); `leave` ends it.
    func waiter() -> (id: Int, wakes: AsyncStream<Void>) {
        let (stream, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let id = state.withLock { state in
            let id = state.nextWaiter
            state.nextWaiter += 1
            state.waiters[id] = continuation
            return id
        }
        return (id, stream)
    }

    func leave(_ id: Int) {
        let continuation = state.withLock { $0.waiters.removeValue(forKey: id) }
        continuation?.finish()
    }

    /// Wakes every loop, without events (a lease round's safety net, and shutdown).
    func wakeAll() {
        let waiters = state.withLock { Array($0.waiters.values) }
        for waiter in waiters { waiter.yield() }
    }
}
