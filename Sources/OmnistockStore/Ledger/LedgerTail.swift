import Foundation
import Logging
import OmnistockCore
import PostgresNIO
import Synchronization

/// What a subscriber of the ledger tail receives, in this order: `started` once, then every
/// committed event after that position, in position order, each once, a page at a time;
/// `dropped` ends the subscription when the subscriber fell too far behind (or the tail stopped).
public enum TailItem: Sendable, Equatable {
    /// The subscription receives the events after this position (the tail's position when it
    /// joined): a subscriber that needs older events reads them from the ledger, up to here.
    case started(after: Int64)
    /// The events of one read of the tail, never empty, in position order, following the last
    /// page without a gap (for a subscription with a filter: the events it wants of it). One
    /// item per page rather than per event: each subscriber is woken once per wake of the
    /// tail, however many commits that wake found (the writers batch).
    case events([RecordedEvent])
    /// The last item: why the subscription ended.
    case dropped(reason: String)
}

/// The one source of everything real-time in an instance: after each commit notification (and
/// on a slow timer, in case one was missed, and after every reconnect) it reads the gap-free feed
/// onward from the last position it saw and hands each event, in order, to bounded subscriber
/// queues. Events written by any instance on the same database arrive the same way.
///
/// It LISTENs on a connection of its own (leased from the pool for its whole life) and reads
/// pages through the pool. A subscriber that cannot keep up is dropped with a reason
/// rather than allowed to grow memory.
public final class LedgerTail: Sendable {
    let database: Database
    let events: EventStore
    let logger: Logger
    let subscriberQueueMax: Int
    let pollInterval: Duration
    private let state = Mutex(State())

    struct State {
        /// The last position delivered; nil until the tail has read the head once.
        var position: Int64?
        var subscribers: [Int: TailSubscription] = [:]
        var nextId = 0
        var statistics = LedgerTailStatistics()
        /// Connection attempts that failed in a row; reset once the tail reads again.
        var failuresInRow = 0
    }

    public init(
        database: Database, events: EventStore, logger: Logger,
        subscriberQueueMax: Int = Limits.tailSubscriberQueueEventsMax,
        pollInterval: Duration = .milliseconds(Limits.tailPollIntervalMilliseconds)
    ) {
        precondition(subscriberQueueMax > 0, "a subscriber has room for one event")
        self.database = database
        self.events = events
        self.logger = logger
        self.subscriberQueueMax = subscriberQueueMax
        self.pollInterval = pollInterval
    }

    /// What the tail has done so far, for metrics.
    public var statistics: LedgerTailStatistics {
        state.withLock { state in
            var value = state.statistics
            value.position = state.position ?? 0
            value.subscribers = state.subscribers.count
            return value
        }
    }

    // MARK: - Subscribers

    /// Joins the tail: the first item says after which position the events start. With
    /// `wanting`, the subscription receives only the events it accepts, and is not woken for a
    /// page with none: an event stream of one store's key is woken for that store's events,
    /// not for every commit of the estate (the tail tests it under its lock, cheaply).
    public func subscribe(wanting: (@Sendable (RecordedEvent) -> Bool)? = nil) throws(LedgerTailError) -> TailSubscription {
        try state.withLock { state throws(LedgerTailError) in
            guard state.subscribers.count < Limits.tailSubscribersMax else { throw .tooManySubscribers(max: Limits.tailSubscribersMax) }
            let id = state.nextId
            state.nextId += 1
            let subscription = TailSubscription(id: id, queueMax: subscriberQueueMax, wanting: wanting) { [weak self] id in self?.leave(id) }
            state.subscribers[id] = subscription
            // Until the tail has read the head, `started` is sent with its first position.
            if let position = state.position { subscription.push(.started(after: position)) }
            return subscription
        }
    }

    private func leave(_ id: Int) {
        _ = state.withLock { $0.subscribers.removeValue(forKey: id) }
    }

    /// Hands events to every subscriber, in order, dropping those whose queue is full. Runs
    /// under the lock, so a subscriber that joins sees exactly the events after its `started`.
    private func deliver(_ page: [RecordedEvent], head: Int64) {
        guard !page.isEmpty else { return }
        let dropped = state.withLock { state in
            for event in page {
                precondition(event.position == (state.position ?? 0) + 1, "the ledger tail skipped or repeated a position")
                state.position = event.position
            }
            precondition(state.position! <= head, "the ledger tail read past the head")
            var dropped: [TailSubscription] = []
            for (id, subscriber) in state.subscribers where !subscriber.offer(page) {
                state.subscribers[id] = nil
                state.statistics.subscribersDropped += 1
                dropped.append(subscriber)
            }
            state.statistics.events += page.count
            return dropped
        }
        // Ended outside the lock: ending a subscription calls back into `leave`.
        for subscriber in dropped { subscriber.end("the subscriber fell \(subscriberQueueMax) events behind the ledger") }
    }

    /// Starts the subscribers that joined before the tail knew its first position.
    private func begin(at position: Int64) {
        state.withLock { state in
            guard state.position == nil else { return }
            state.position = position
            for subscriber in state.subscribers.values { subscriber.push(.started(after: position)) }
        }
    }

    // MARK: - Running

    /// Runs until cancelled: listens, reads onward after each wake, reconnects after a failure.
    ///
    /// While the database is away every attempt fails within the acquire bound and the next
    /// comes after `Limits.tailReconnectDelayMilliseconds`; only the first failure of a run is
    /// a warning (the rest are debug, not a line a second), and the first read after it says
    /// how long the tail was without the database.
    public func run() async {
        while !Task.isCancelled {
            do {
                try await listenAndRead()
            } catch {
                if Task.isCancelled { break }
                if error.sqlState == "42P01" {
                    // Undefined table: at a first start the schema is being migrated meanwhile.
                    logger.debug("the ledger tail waits for the schema")
                } else {
                    let failures = state.withLock { state in
                        state.statistics.reconnects += 1
                        state.failuresInRow += 1
                        return state.failuresInRow
                    }
                    let level: Logger.Level = failures == 1 ? .warning : .debug
                    logger.log(
                        level: level, "the ledger tail lost its connection; reconnecting",
                        metadata: ["error": "\(String(reflecting: error))", "attempt": "\(failures)"])
                }
                try? await Task.sleep(for: .milliseconds(Limits.tailReconnectDelayMilliseconds))
            }
        }
        let subscribers = state.withLock { state in
            defer { state.subscribers = [:] }
            return Array(state.subscribers.values)
        }
        for subscriber in subscribers { subscriber.end("the instance is shutting down") }
    }

    /// The tail reads again: after failed attempts, says so once.
    private func readsAgain() {
        let failures = state.withLock { state in
            defer { state.failuresInRow = 0 }
            return state.failuresInRow
        }
        if failures > 0 { logger.notice("the ledger tail reads the ledger again", metadata: ["failedAttempts": "\(failures)"]) }
    }

    /// One connection's life: LISTEN, then read after every wake until the connection fails.
    /// The connection is leased from the pool for as long as it lives (the pool counts one
    /// connection for the tail), so it is never shared with a query; the lease waits at most
    /// the database's acquire bound, so an outage is noticed rather than waited out.
    private func listenAndRead() async throws {
        // What wakes the reader (a notification, the poll timer, a catch-up left unfinished):
        // one pending wake is enough, as a read goes up to the head. A stream per connection: a
        // stream whose reader was cancelled is finished.
        let wake = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        try await database.withHeldConnection { connection in
            try await connection.listen(on: EventStore.channel) { notifications in
                // Listening now: whatever committed before (or while connecting) is read first.
                wake.continuation.yield()
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for try await _ in notifications { wake.continuation.yield() }
                        throw LedgerTailError.connectionClosed
                    }
                    group.addTask {
                        while true {
                            try await Task.sleep(for: self.pollInterval)
                            wake.continuation.yield()
                        }
                    }
                    group.addTask {
                        for await _ in wake.stream {
                            try Task.checkCancellation()
                            if try await !self.readOnward() { wake.continuation.yield() }
                            self.readsAgain()
                        }
                    }
                    defer { group.cancelAll() }
                    try await group.next()
                }
            }
        }
    }

    /// Reads the feed after the last delivered position, page by page, up to the head; past
    /// `Limits.tailCatchUpPagesMax` pages it wakes itself to go on, so one wake is bounded.
    /// Returns false when it stopped before the head.
    private func readOnward() async throws -> Bool {
        if state.withLock({ $0.position }) == nil { begin(at: try await events.head(on: database)) }
        // Nobody listens: the tail moves to the head without reading the events (one small
        // statement per commit instead of two with every payload). Decided under the lock, so
        // a subscriber that joins gets `started` at the head, and reads the rest itself.
        let head = try await events.head(on: database)
        let skipped = state.withLock { state in
            guard state.subscribers.isEmpty, let position = state.position else { return false }
            state.position = max(position, head)
            return true
        }
        if skipped { return true }
        for _ in 0..<Limits.tailCatchUpPagesMax {
            let after = state.withLock { $0.position! }
            let page = try await events.read(after: after, limit: Limits.tailPageEventsMax, on: database)
            // Decoded here once for every subscriber; a payload that does not decode is left
            // to the subscriber that needs it, which meets the error itself.
            var read = page.events
            for index in read.indices { read[index].decoded = try? EventCodec.decode(type: read[index].type, payload: read[index].payload) }
            deliver(read, head: page.headPosition)
            if page.events.count < Limits.tailPageEventsMax { return true }
        }
        return false
    }
}

/// One subscriber's queue of the ledger tail. Iterate it; stop iterating (or drop it) to leave.
public final class TailSubscription: AsyncSequence, Sendable {
    public typealias Element = TailItem
    let id: Int
    let queueMax: Int
    private let stream: AsyncStream<TailItem>
    private let continuation: AsyncStream<TailItem>.Continuation
    /// Items pushed and not yet taken by the subscriber.
    private let pending = Atomic<Int>(0)

    /// The events it wants; nil: all.
    let wanting: (@Sendable (RecordedEvent) -> Bool)?

    init(id: Int, queueMax: Int, wanting: (@Sendable (RecordedEvent) -> Bool)? = nil, onLeave: @escaping @Sendable (Int) -> Void) {
        self.id = id
        self.queueMax = queueMax
        self.wanting = wanting
        // The queue is bounded by `pending`; the stream itself never drops.
        (stream, continuation) = AsyncStream.makeStream(of: TailItem.self, bufferingPolicy: .unbounded)
        continuation.onTermination = { _ in onLeave(id) }
    }

    /// Queues the events of a page it wants (nothing when it wants none); false when they do
    /// not fit in the queue.
    func offer(_ page: [RecordedEvent]) -> Bool {
        guard let wanting else { return push(.events(page)) }
        let wanted = page.filter(wanting)
        return wanted.isEmpty || push(.events(wanted))
    }

    /// Queues an item; false when it does not fit in the queue (it is not queued).
    @discardableResult
    func push(_ item: TailItem) -> Bool {
        let count = item.eventCount
        let (before, _) = pending.add(count, ordering: .relaxed)
        if before + count > queueMax {
            pending.subtract(count, ordering: .relaxed)
            return false
        }
        continuation.yield(item)
        return true
    }

    /// Ends the subscription with a reason (past the queue's bound: it is the last item).
    func end(_ reason: String) {
        continuation.yield(.dropped(reason: reason))
        continuation.finish()
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: AsyncStream<TailItem>.Iterator
        let subscription: TailSubscription

        public mutating func next() async -> TailItem? {
            let item = await base.next()
            if let item { subscription.pending.subtract(item.eventCount, ordering: .relaxed) }
            return item
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: stream.makeAsyncIterator(), subscription: self) }

    /// Leaves the tail now.
    public func cancel() { continuation.finish() }
}

extension TailItem {
    /// What the item counts for in a subscriber's queue: its events, or 1.
    var eventCount: Int {
        switch self {
        case .events(let page): page.count
        case .started, .dropped: 1
        }
    }
}

/// Counters of the ledger tail since start.
public struct LedgerTailStatistics: Sendable, Equatable {
    /// The last position delivered.
    public var position: Int64 = 0
    public var events = 0
    public var subscribers = 0
    public var subscribersDropped = 0
    public var reconnects = 0
}

public enum LedgerTailError: Error, Sendable, Equatable {
    case tooManySubscribers(max: Int)
    /// The listening connection ended.
    case connectionClosed
}
