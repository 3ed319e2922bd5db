import Foundation
import Logging
import OmnistockCore
import PostgresNIO
import Synchronization

/// The answer to one store step taken by the step writer.
public enum OrderStepOutcome: Sendable {
    /// Executed now: the order after the step, and a refusal decided with events (a wrong
    /// pickup code, counted) to answer now that they are committed.
    case done(OrderRecord, refusal: Rejections?)
    /// The stored answer of an earlier request with the same Idempotency-Key.
    case replayed(StoredResponse)
}

/// Renders what a step leaves (the order, or the refusal committed with it) as the answer
/// stored for idempotent replays.
public typealias OrderStepRenderer = @Sendable (_ record: OrderRecord, _ refusal: Rejections?) -> StoredResponse

/// The writer of the store's everyday steps (picking, ready, collect, unlock) in one instance:
/// requests queue and each batch is decided and written in one transaction, as holds are.
///
/// Why: a store step is a handful of statements around one order row, and one transaction per
/// request spends its time on round trips, statement parsing and commits rather than on the
/// step (measured: 13 statements per step, 380 requests/s on two cores with PostgreSQL's parser
/// among the top costs). A batch claims its keys, locks its orders (sorted by id) and the
/// positions collections take from (in the (sku, location) order every writer uses), decides each
/// step in arrival order with the core, and writes the orders, positions, answers and events in
/// one statement each. Steps that re-source, return or cancel run alone (`OrderStore.act`): they
/// lock more than they can name before they start.
public final class OrderStepWriter: Sendable {
    struct Pending: Sendable {
        var command: OrderCommand
        var orderId: String
        var principal: Principal
        var metadata: EventMetadata
        var idempotency: IdempotencyRequest?
        var render: OrderStepRenderer
        var continuation: CheckedContinuation<OrderStepOutcome, any Error>
    }

    struct State {
        var queue: [Pending] = []
        var lanes = 0
    }

    let database: Database
    let events: EventStore
    let retentionSeconds: Int64
    let logger: Logger
    private let state = Mutex(State())
    private let counters = Mutex(HoldWriterStatistics())

    /// What the writer has done so far, for metrics.
    public var statistics: HoldWriterStatistics {
        var value = counters.withLock { $0 }
        value.queued = state.withLock { $0.queue.count }
        return value
    }

    public init(database: Database, events: EventStore, idempotencyRetentionSeconds: Int64, logger: Logger) {
        self.database = database
        self.events = events
        self.retentionSeconds = idempotencyRetentionSeconds
        self.logger = logger
    }

    /// Whether the writer takes this command (the others go through `OrderStore.act`).
    public static func takes(_ command: OrderCommand) -> Bool {
        switch command {
        case .picking, .ready, .collect, .unlock: true
        default: false
        }
    }

    /// Queues a step and waits for its batch to commit (a 2xx is durable) or fail.
    public func submit(
        _ command: OrderCommand, orderId: String, principal: Principal, metadata: EventMetadata, idempotency: IdempotencyRequest?,
        render: @escaping OrderStepRenderer
    ) async throws -> OrderStepOutcome {
        precondition(Self.takes(command), "the step writer takes store steps only")
        return try await withCheckedThrowingContinuation { continuation in
            let pending = Pending(
                command: command, orderId: orderId, principal: principal, metadata: metadata, idempotency: idempotency, render: render,
                continuation: continuation)
            let start: Bool? = state.withLock { state in
                guard state.queue.count < Limits.orderStepQueueDepthMax else { return nil }
                state.queue.append(pending)
                if state.lanes >= Limits.orderStepLanesMax { return false }
                state.lanes += 1
                return true
            }
            switch start {
            case nil: continuation.resume(throwing: HoldWriterError.overloaded(queueDepthMax: Limits.orderStepQueueDepthMax))
            case true?: Task { await self.drain() }
            case false?: break
            }
        }
    }

    private func drain() async {
        while true {
            let batch = state.withLock { state -> [Pending] in
                guard !state.queue.isEmpty else {
                    state.lanes -= 1
                    return []
                }
                return Self.take(&state.queue, max: Limits.orderStepBatchMax)
            }
            if batch.isEmpty { return }
            await process(batch)
        }
    }

    /// Up to `max` requests in arrival order; one whose key or order is already in the batch
    /// waits for the next (it then sees the first one's answer, or the order after it).
    static func take(_ queue: inout [Pending], max: Int) -> [Pending] {
        var batch: [Pending] = []
        var rest: [Pending] = []
        var keys = Set<String>()
        var orders = Set<String>()
        for pending in queue {
            let keyTaken = pending.idempotency.map { !keys.insert($0.apiKeyId + "\u{0}" + $0.key).inserted } ?? false
            if batch.count >= max || keyTaken || !orders.insert(pending.orderId).inserted {
                rest.append(pending)
                continue
            }
            batch.append(pending)
        }
        queue = rest
        return batch
    }

    private func process(_ batch: [Pending]) async {
        var attempt = 0
        while true {
            do {
                let started = ContinuousClock.now
                let results = try await database.transaction { connection in try await self.run(batch, on: connection) }
                let elapsed = ContinuousClock.now - started
                counters.withLock {
                    $0.batches += 1
                    $0.requests += batch.count
                    $0.batchSeconds += Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                }
                for (pending, result) in zip(batch, results) { pending.continuation.resume(with: result) }
                return
            } catch {
                if isTransientDatabaseError(error) || error is Rejection, attempt < HoldWriter.retriesMax {
                    attempt += 1
                    counters.withLock { $0.retries += 1 }
                    continue
                }
                if batch.count > 1 {
                    logger.warning("an order step batch failed; running its requests one by one", metadata: ["error": "\(String(reflecting: error))"])
                    for pending in batch { await process([pending]) }
                    return
                }
                batch[0].continuation.resume(throwing: error)
                return
            }
        }
    }

    /// Decides and writes one batch inside its transaction; one answer per request.
    private func run(_ batch: [Pending], on connection: PostgresConnection) async throws -> [Result<OrderStepOutcome, any Error>] {
        let keys = BatchIdempotency(retentionSeconds: retentionSeconds, logger: logger)
        var answers = [Result<OrderStepOutcome, any Error>?](repeating: nil, count: batch.count)
        for (index, claim) in try await keys.claim(batch.map(\.idempotency), on: connection).enumerated() {
            switch claim {
            case .replayed(let response)?: answers[index] = .success(.replayed(response))
            case .refused(let rejections)?: answers[index] = .failure(rejections)
            case nil: break
            }
        }

        // The orders (locked in id order), their codes' hashes, and the clock.
        let ids = Array(Set(batch.indices.filter { answers[$0] == nil }.map { batch[$0].orderId })).sorted()
        var orders: [String: OrderRecord] = [:]
        var hashes: [String: [UInt8]] = [:]
        var nowMs: Int64 = 0
        if !ids.isEmpty {
            for try await (document, version, now, hash) in try await connection.query(
                """
                SELECT o.document, o.version, \(unescaped: HoldStore.nowMs), c.code_hash
                  FROM orders o LEFT JOIN pickup_codes c ON c.order_id = o.id
                 WHERE o.id = ANY(\(ids)::text[]) ORDER BY o.id FOR UPDATE OF o
                """,
                logger: logger
            ).decode((String, Int64, Int64, ByteBuffer?).self) {
                let record = try OrderStore.order((document, version))
                orders[record.order.id] = record
                if let hash { hashes[record.order.id] = Array(buffer: hash) }
                nowMs = max(nowMs, now)
            }
        }

        // What each step is, once its order is known; and what collections and readiness need.
        var actions: [Int: OrderAction] = [:]
        var stockKeys = Set<StockKey>()
        var stores = Set<String>()
        for (index, pending) in batch.enumerated() where answers[index] == nil {
            guard let order = orders[pending.orderId]?.order else {
                answers[index] = .failure(Rejections(.unknownOrder(orderId: pending.orderId)))
                continue
            }
            let action: OrderAction
            switch pending.command {
            case .picking: action = .picking
            case .ready:
                action = .ready
                if let store = order.pickupLocationId { stores.insert(store) }
            case .unlock: action = .unlock
            case .collect(let code):
                let matches = hashes[order.id].map { PickupCodes.equal($0, PickupCodes.hash(code, orderId: order.id)) } ?? false
                action = .collect(codeMatches: matches)
                if matches { stockKeys.formUnion(order.lines.filter { $0.status == .allocated }.map(\.key)) }
            default: preconditionFailure("the step writer takes store steps only")
            }
            do {
                try OrderStore.authorize(pending.principal, pending.command, action, order)
                actions[index] = action
            } catch {
                answers[index] = .failure(error)
            }
        }
        let locked = try await OrderStore.lockExisting(Array(stockKeys), on: connection, logger: logger)
        let locations = stores.isEmpty ? [:] : try await OrderStore.locations(Array(stores), on: connection, logger: logger)

        // Decide in arrival order (one step per order per batch), then write everything once.
        var positions = locked
        var touchedPositions = Set<StockKey>()
        var expected: [String: ExpectedVersion] = [:]
        var written: [String: OrderRecord] = [:]
        var newEvents: [LedgerEvent] = []
        var newMetadata: [EventMetadata] = []
        for (index, pending) in batch.enumerated() where answers[index] == nil {
            guard let action = actions[index], let current = orders[pending.orderId] else { continue }
            let decision: OrderDecision
            switch Orders.decide(action, order: current.order, nowMs: nowMs, positions: positions.mapValues(\.position), locations: locations) {
            case .failure(let rejections):
                answers[index] = .failure(rejections)
                continue
            case .success(let value): decision = value
            }
            if decision.events.isEmpty {
                if let refusal = decision.refusal {
                    answers[index] = .failure(refusal)
                } else {
                    answers[index] = .success(.done(current, refusal: nil))
                }
                continue
            }
            var record = current
            for event in decision.events {
                let stream = event.stream
                if expected[stream] == nil {
                    if let key = event.stockKey {
                        guard let position = positions[key] else { preconditionFailure("a step moved a position it did not lock") }
                        expected[stream] = .exact(position.version)
                    } else {
                        expected[stream] = .exact(current.version)
                    }
                }
                if case .order = event {
                    record = OrderRecord(order: Orders.evolve(record.order, event), version: record.version + 1)
                }
                if let key = event.stockKey {
                    positions[key]!.position = StockLedger.evolve(positions[key]!.position, event)
                    positions[key]!.version += 1
                    touchedPositions.insert(key)
                }
                for change in event.positionChanges {
                    guard positions[change.key] != nil else { preconditionFailure("a step changed a position it did not lock") }
                    positions[change.key]!.position = positions[change.key]!.position.applying(change)
                    touchedPositions.insert(change.key)
                }
                newEvents.append(event)
                newMetadata.append(pending.metadata)
            }
            written[record.order.id] = record
            answers[index] = .success(.done(record, refusal: decision.refusal))
        }

        // Projections, answers, then the events: the ledger head is held for the append and
        // the commit only.
        try await ProjectionWriter.upsertPositions(touchedPositions.sorted().map { positions[$0]! }, on: connection, logger: logger)
        try await ProjectionWriter.upsertOrders(written.values.sorted { $0.order.id < $1.order.id }, on: connection, logger: logger)
        var keep: [(IdempotencyRequest, StoredResponse)] = []
        var free: [IdempotencyRequest] = []
        for (pending, answer) in zip(batch, answers) {
            guard let request = pending.idempotency else { continue }
            switch answer {
            case .success(.done(let record, let refusal))?: keep.append((request, pending.render(record, refusal)))
            case .failure(let error)?: if BatchIdempotency.givesKeyBack(error) { free.append(request) }
            default: continue
            }
        }
        try await keys.finish(keep: keep, free: free, on: connection)
        if !newEvents.isEmpty {
            try await events.append(newEvents, metadata: newMetadata, expected: expected, on: connection)
        }
        return answers.map { $0! }
    }
}
