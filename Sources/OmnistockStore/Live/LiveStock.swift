import Foundation
import Logging
import OmnistockCore
import PostgresNIO
import Synchronization

/// The instance's availability in memory: the core's `LiveAvailability`, loaded once from the
/// projections and moved forward by the ledger tail, event by event in position order, so every
/// instance sees every instance's writes. Availability reads and the availability stream are
/// answered from it; while it loads (or after it stood down) reads go to PostgreSQL.
///
/// Expired holds are swept before every read and on a timer of at most
/// `Limits.liveStockSweepIntervalMillisecondsMax`, so a hold stops counting at its `expiresAt`
/// whether or not its expiry is recorded yet, as PostgreSQL reads count it.
public final class LiveStock: Sendable {
    /// What the model is doing; each state carries what it has.
    enum Phase: Sendable {
        /// Not loaded yet, or reloading after the tail dropped it.
        case loading
        case ready(LiveAvailability)
        /// Gave up (too many positions): reads go to PostgreSQL for the life of the process.
        case stoodDown(reason: String)
    }

    struct State: Sendable {
        var phase: Phase = .loading
        var watches: [Int: AvailabilityWatch] = [:]
        var watchesBySku: [String: Set<Int>] = [:]
        var nextWatchId = 0
        /// Times the model was loaded (1 after the first start), for metrics.
        var loads = 0
    }

    let database: Database
    let events: EventStore
    let tail: LedgerTail
    let logger: Logger
    let positionsMax: Int
    let nowMs: @Sendable () -> Int64
    private let state = Mutex(State())
    /// Wakes readers that wait for a position (`minPosition`).
    private let advanced = AsyncBroadcast()

    public init(
        database: Database, events: EventStore, tail: LedgerTail, logger: Logger, positionsMax: Int = Limits.liveStockPositionsMax,
        nowMs: @escaping @Sendable () -> Int64 = { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) }
    ) {
        precondition(positionsMax > 0, "the model holds at least one position")
        self.database = database
        self.events = events
        self.tail = tail
        self.logger = logger
        self.positionsMax = positionsMax
        self.nowMs = nowMs
    }

    /// The position the model reflects, or nil while it is not ready.
    public var position: Int64? {
        state.withLock { state in
            switch state.phase {
            case .ready(let model): model.position
            case .loading, .stoodDown: nil
            }
        }
    }

    /// Figures for metrics: positions held, loads, open watches.
    public var statistics: (positions: Int, loads: Int, watches: Int, ready: Bool) {
        state.withLock { state in
            switch state.phase {
            case .ready(let model): (model.positionCount, state.loads, state.watches.count, true)
            case .loading, .stoodDown: (0, state.loads, state.watches.count, false)
            }
        }
    }

    // MARK: - Reading

    /// Runs `body` on the model, swept to now, under the lock; nil while it is not ready.
    func withModel<R>(_ body: (inout LiveAvailability) -> R) -> R? {
        let now = nowMs()
        let (result, watches): (R?, [(AvailabilityWatch, Set<StockKey>)]) = state.withLock { state in
            guard case .ready(var model) = state.phase else { return (nil, []) }
            state.phase = .loading  // the model is uniquely referenced while it is mutated
            let swept = model.sweep(nowMs: now)
            let result = body(&model)
            state.phase = .ready(model)
            return (result, Self.affected(swept, in: state))
        }
        for (watch, keys) in watches { watch.mark(keys) }
        return result
    }

    /// The availability rows of these SKUs and the position they reflect, at least `minPosition`:
    /// waits up to `Limits.liveStockCatchUpWaitMilliseconds` for the model to reach it. Nil when
    /// the model is not ready or did not reach it in time (the caller reads PostgreSQL).
    public func availability(skus: [String], locationId: String?, minPosition: Int64 = 0) async -> (read: StockRead, position: Int64)? {
        let deadline = ContinuousClock.now + .milliseconds(Limits.liveStockCatchUpWaitMilliseconds)
        while true {
            let waiter = advanced.waiter()
            let answer: (read: StockRead, position: Int64)?? = withModel { model in
                guard model.position >= minPosition else { return nil }
                return (model.read(skus: skus, locationId: locationId), model.position)
            }
            switch answer {
            case .none: return nil
            case .some(.some(let found)): return found
            case .some(.none):
                guard ContinuousClock.now < deadline else { return nil }
                await waiter.wait(until: deadline)
            }
        }
    }

    // MARK: - Watching

    /// Watches positions of these SKUs (optionally at one location): returns the watch and the
    /// snapshot it starts from, taken under the same lock as the registration, so no change is
    /// missed and none is reported twice. Nil while the model is not ready.
    public func watch(skus: Set<String>, locationId: String?) -> (watch: AvailabilityWatch, snapshot: AvailabilitySnapshot)? {
        precondition(!skus.isEmpty, "a watch watches at least one SKU")
        let now = nowMs()
        let (registered, others): ((AvailabilityWatch, AvailabilitySnapshot)?, [(AvailabilityWatch, Set<StockKey>)]) = state.withLock { state in
            guard case .ready(var model) = state.phase else { return (nil, []) }
            state.phase = .loading
            let swept = model.sweep(nowMs: now)
            let others = Self.affected(swept, in: state)
            let id = state.nextWatchId
            state.nextWatchId += 1
            let watch = AvailabilityWatch(id: id, skus: skus, locationId: locationId) { [weak self] id in self?.unwatch(id) }
            state.watches[id] = watch
            for sku in skus { state.watchesBySku[sku, default: []].insert(id) }
            let keys = skus.sorted().flatMap { sku in
                model.rows(skus: [sku], locationId: locationId).map { StockKey(sku: sku, locationId: $0.location.id) }
            }
            let snapshot = Self.snapshot(of: keys, in: model)
            state.phase = .ready(model)
            return ((watch, snapshot), others)
        }
        for (watch, keys) in others { watch.mark(keys) }
        return registered
    }

    /// The figures of these positions now, for a watch that was told they changed.
    public func figures(of keys: [StockKey]) -> AvailabilitySnapshot? {
        withModel { model in Self.snapshot(of: keys, in: model) }
    }

    private static func snapshot(of keys: [StockKey], in model: LiveAvailability) -> AvailabilitySnapshot {
        AvailabilitySnapshot(
            position: model.position,
            entries: keys.map { key in
                let location = model.location(key.locationId)
                let stocked = model.entry(key)?.stocked ?? false
                return AvailabilitySnapshot.Entry(key: key, location: location, position: stocked ? model.counted(key) : nil)
            })
    }

    private func unwatch(_ id: Int) {
        state.withLock { state in
            guard let watch = state.watches.removeValue(forKey: id) else { return }
            for sku in watch.skus {
                state.watchesBySku[sku]?.remove(id)
                if state.watchesBySku[sku]?.isEmpty == true { state.watchesBySku[sku] = nil }
            }
        }
    }

    /// The watches concerned by changed positions, with the positions each one watches.
    private static func affected(_ changed: Set<StockKey>, in state: State) -> [(AvailabilityWatch, Set<StockKey>)] {
        guard !changed.isEmpty, !state.watches.isEmpty else { return [] }
        var byWatch: [Int: Set<StockKey>] = [:]
        for key in changed {
            for id in state.watchesBySku[key.sku] ?? [] { byWatch[id, default: []].insert(key) }
        }
        return byWatch.compactMap { id, keys in state.watches[id].map { ($0, keys) } }
    }

    /// Gives up for the life of the process: reads go to PostgreSQL, streams answer 503.
    func standDown(_ reason: String) {
        state.withLock { $0.phase = .stoodDown(reason: reason) }
        logger.warning("the availability model stands down; availability is read from PostgreSQL", metadata: ["reason": "\(reason)"])
    }

    /// Why the model stood down, if it did.
    public var stoodDownReason: String? {
        state.withLock { state in
            switch state.phase {
            case .stoodDown(let reason): reason
            case .loading, .ready: nil
            }
        }
    }

    /// Ends every watch (the model is reloading or stopping): streams end and clients reconnect.
    private func endWatches(_ reason: String) {
        let watches = state.withLock { state in
            defer {
                state.watches = [:]
                state.watchesBySku = [:]
            }
            return Array(state.watches.values)
        }
        for watch in watches { watch.end(reason) }
    }
}

// MARK: - Running

extension LiveStock {
    /// Runs until cancelled: loads the model, follows the tail, sweeps expired holds; loads again
    /// when the tail dropped it (it fell too far behind) or the database went away.
    public func run() async {
        while !Task.isCancelled {
            do {
                try await follow()
            } catch {
                if Task.isCancelled { break }
                logger.warning("the availability model stopped following the ledger; loading it again", metadata: ["error": "\(error)"])
            }
            if stoodDownReason != nil { break }
            state.withLock { $0.phase = .loading }
            endWatches("the availability model is loading again; reconnect")
            try? await Task.sleep(for: .milliseconds(Limits.tailReconnectDelayMilliseconds))
        }
        endWatches("the instance is shutting down")
    }

    /// One life of the model: subscribe, load at or after the tail's start, apply what follows,
    /// and sweep on time beside it.
    private func follow() async throws {
        let subscription = try tail.subscribe()
        defer { subscription.cancel() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.consume(subscription) }
            group.addTask { try await self.sweepOnTime() }
            defer { group.cancelAll() }
            try await group.next()
        }
    }

    private func consume(_ subscription: TailSubscription) async throws {
        var items = subscription.makeAsyncIterator()
        guard case .started(let after)? = await items.next() else { throw LiveStockError.tailEnded("before it started") }
        guard let model = try await load() else { throw LiveStockError.stoodDown(stoodDownReason ?? "") }
        precondition(model.position >= after, "the model was loaded before the tail's start")
        state.withLock { state in
            state.phase = .ready(model)
            state.loads += 1
        }
        logger.info("the availability model is loaded", metadata: ["positions": "\(model.positionCount)", "position": "\(model.position)"])
        advanced.wakeAll()
        while let item = await items.next() {
            switch item {
            case .started: preconditionFailure("a tail subscription starts once")
            case .events(let page): try apply(page)
            case .dropped(let reason): throw LiveStockError.tailEnded(reason)
            }
        }
        throw LiveStockError.tailEnded("the subscription ended")
    }

    /// Applies a page of the tail under one lock (events the snapshot already has are skipped),
    /// then tells the watches concerned and wakes readers waiting for a position, once.
    private func apply(_ page: [RecordedEvent]) throws {
        let decoded = try page.map { ($0.position, try $0.decoded ?? EventCodec.decode(type: $0.type, payload: $0.payload)) }
        let now = nowMs()
        let watches: [(AvailabilityWatch, Set<StockKey>)]? = state.withLock { state in
            guard case .ready(var model) = state.phase else { return nil }
            state.phase = .loading
            var changed = Set<StockKey>()
            for (position, event) in decoded where position > model.position {
                changed.formUnion(model.apply(event, at: position))
            }
            changed.formUnion(model.sweep(nowMs: now))
            if model.positionCount > positionsMax {
                state.phase = .stoodDown(reason: "the estate passed \(positionsMax) positions (Limits.liveStockPositionsMax)")
                return nil
            }
            state.phase = .ready(model)
            return Self.affected(changed, in: state)
        }
        guard let watches else {
            if let reason = stoodDownReason {
                logger.warning("the availability model stands down; availability is read from PostgreSQL", metadata: ["reason": "\(reason)"])
                throw LiveStockError.stoodDown(reason)
            }
            return
        }
        for (watch, keys) in watches { watch.mark(keys) }
        advanced.wakeAll()
    }

    /// Sweeps at each hold's expiry instant (at most `liveStockSweepIntervalMillisecondsMax`
    /// apart), so a watch hears of an expiry on time even when nothing is written.
    private func sweepOnTime() async throws {
        while true {
            let next = state.withLock { state -> Int64? in
                guard case .ready(var model) = state.phase else { return nil }
                state.phase = .loading
                defer { state.phase = .ready(model) }
                return model.nextExpiryMs()
            }
            let wait = min(Limits.liveStockSweepIntervalMillisecondsMax, max(0, (next ?? Int64.max) - nowMs()))
            try await Task.sleep(for: .milliseconds(wait))
            _ = withModel { _ in () }
        }
    }
}

/// The figures of some positions at one ledger position, as a watch reports them.
public struct AvailabilitySnapshot: Sendable {
    public struct Entry: Sendable {
        public var key: StockKey
        /// Nil when the location is unknown (never for a position the ledger stocked).
        public var location: Location?
        /// As availability counts it; nil when the position is not stocked.
        public var position: StockPosition?
    }
    public var position: Int64
    public var entries: [Entry]
}

public enum LiveStockError: Error, CustomStringConvertible {
    case tailEnded(String)
    case stoodDown(String)
    case corrupt(String)

    public var description: String {
        switch self {
        case .tailEnded(let reason): "the ledger tail ended the subscription: \(reason)"
        case .stoodDown(let reason): "the availability model stood down: \(reason)"
        case .corrupt(let reason): "the availability model could not be loaded: \(reason)"
        }
    }
}
