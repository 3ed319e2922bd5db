import OmnistockCore
import Synchronization

/// One availability stream's interest in the model: the SKUs (and optionally the one location)
/// it watches, and the positions that changed since it last looked.
///
/// Changes are coalesced: a position that changes ten times before the stream looks is one
/// pending key, and the stream reads its figures as they are then. So what a watch holds is
/// bounded by what it watches, however fast the ledger moves or however slowly its client reads.
public final class AvailabilityWatch: Sendable {
    let id: Int
    public let skus: Set<String>
    public let locationId: String?
    private let pending = Mutex<Set<StockKey>>([])
    private let ended = Mutex<String?>(nil)
    private let signal: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation

    init(id: Int, skus: Set<String>, locationId: String?, onEnd: @escaping @Sendable (Int) -> Void) {
        self.id = id
        self.skus = skus
        self.locationId = locationId
        (signal, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        continuation.onTermination = { _ in onEnd(id) }
    }

    /// Notes changed positions (those outside the watch are ignored) and wakes the stream.
    func mark(_ keys: Set<StockKey>) {
        let relevant = keys.filter { skus.contains($0.sku) && (locationId == nil || $0.locationId == locationId) }
        guard !relevant.isEmpty else { return }
        pending.withLock { $0.formUnion(relevant) }
        continuation.yield()
    }

    /// Ends the watch: the stream stops after the changes it has, with this reason.
    func end(_ reason: String) {
        ended.withLock { $0 = $0 ?? reason }
        continuation.finish()
    }

    /// Why the watch ended, once it has.
    public var endReason: String? { ended.withLock { $0 } }

    /// Wakes once for one or more changes; finishes when the watch ends.
    public var changes: AsyncStream<Void> { signal }

    /// The positions changed since the last call, in key order.
    public func take() -> [StockKey] {
        pending.withLock { keys in
            defer { keys = [] }
            return keys.sorted()
        }
    }

    /// Stops watching (the stream's client went away).
    public func cancel() { continuation.finish() }
}

/// Wakes every task waiting for the model to move, or lets each wait until its deadline.
final class AsyncBroadcast: Sendable {
    private struct State {
        var generation = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var nextId = 0
    }
    private let state = Mutex(State())

    struct Waiter {
        let broadcast: AsyncBroadcast
        let generation: Int

        /// Returns at the next wake after this waiter was made (at once if one came since), or
        /// at the deadline.
        func wait(until deadline: ContinuousClock.Instant) async {
            await broadcast.wait(since: generation, until: deadline)
        }
    }

    func waiter() -> Waiter { Waiter(broadcast: self, generation: state.withLock { $0.generation }) }

    func wakeAll() {
        let waiters = state.withLock { state in
            state.generation += 1
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    private func wait(since generation: Int, until deadline: ContinuousClock.Instant) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let id: Int? = state.withLock { state in
                guard state.generation == generation else { return nil }
                let id = state.nextId
                state.nextId += 1
                state.waiters[id] = continuation
                return id
            }
            guard let id else { return continuation.resume() }
            Task {
                try? await Task.sleep(until: deadline)
                self.state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
            }
        }
    }
}
