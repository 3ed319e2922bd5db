import Foundation
import Logging
import OmnistockCore
import PostgresNIO

/// The answer to one store step taken by the step writer.
public enum OrderStepOutcome: Sendable {
    /// Executed now: the order after the step, and a refusal decided with events (a wrong
    /// pickup code, counted) to answer now that they are committed.
    case done(OrderRecord, refusal: Rejections?)
    /// A hold converted into an order now, or the order its number or hold had already made.
    case created(OrderCreation)
    /// The stored answer of an earlier request with the same Idempotency-Key.
    case replayed(StoredResponse)
}

/// Renders what a request did (`done` or `created`) as the answer stored for idempotent replays
/// (without the pickup code: it is shown once).
public typealias OrderStepRenderer = @Sendable (_ outcome: OrderStepOutcome) -> StoredResponse

/// What the step writer is asked to do.
public enum OrderStepWork: Sendable {
    case step(OrderCommand, orderId: String)
    /// Turn a hold into an order (`request.holdId` is set).
    case convert(OrderRequest)
}

/// The writer of the everyday order steps (a hold turned into an order at payment; picking,
/// ready, collect, unlock in the store) in one instance: requests queue and each batch is
/// decided and written in one transaction, as holds are.
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
    struct Pending: BatchedRequest {
        var work: OrderStepWork
        var principal: Principal
        var metadata: EventMetadata
        var idempotency: IdempotencyRequest?
        var render: OrderStepRenderer
        var continuation: CheckedContinuation<OrderStepOutcome, any Error>
    }

    let database: Database
    let events: EventStore
    let retentionSeconds: Int64
    let logger: Logger
    /// A request on an order, order number, hold or key that a queued or running batch holds
    /// waits for a later batch: one order's steps run in arrival order, in one lane at a time.
    private let queue = WriterQueue<Pending>(
        depthMax: Limits.orderStepQueueDepthMax, batchMax: Limits.orderStepBatchMax, lanesMax: Limits.orderStepLanesMax,
        subjects: OrderStepWriter.subjects)

    /// What the writer has done so far, for metrics.
    public var statistics: HoldWriterStatistics { queue.statistics }

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

    /// Queues a request and waits for its batch to commit (a 2xx is durable) or fail.
    public func submit(
        _ work: OrderStepWork, principal: Principal, metadata: EventMetadata, idempotency: IdempotencyRequest?,
        render: @escaping OrderStepRenderer
    ) async throws -> OrderStepOutcome {
        switch work {
        case .step(let command, _): precondition(Self.takes(command), "the step writer takes store steps only")
        case .convert(let request): precondition(request.holdId != nil, "the step writer converts holds only")
        }
        return try await withCheckedThrowingContinuation { continuation in
            let pending = Pending(
                work: work, principal: principal, metadata: metadata, idempotency: idempotency, render: render, continuation: continuation)
            switch queue.enqueue(pending) {
            case .full: continuation.resume(throwing: HoldWriterError.overloaded(queueDepthMax: Limits.orderStepQueueDepthMax))
            case .startLane: Task { await self.drain() }
            case .queued: break
            }
        }
    }

    private func drain() async {
        // 23505: a conversion met an order number another transaction committed meanwhile;
        // run again, it answers with that order.
        await queue.drain(
            "order step", database: database, logger: logger,
            retryable: { isTransientDatabaseError($0) || $0 is Rejection || $0.sqlState == "23505" }
        ) { batch, connection in try await self.run(batch, on: connection) }
    }

    /// What a request works on: its order (or order number and hold) and its key.
    @Sendable static func subjects(_ pending: Pending) -> [String] {
        var subjects: [String] =
            switch pending.work {
            case .step(_, let orderId): ["order:" + orderId]
            case .convert(let request): ["number:" + request.orderNumber, "hold:" + (request.holdId ?? "")]
            }
        if let key = pending.idempotency { subjects.append("key:" + key.apiKeyId + "\u{0}" + key.key) }
        return subjects
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

        // Conversions: the holds' lines say which positions to lock (lines never change; the
        // holds are read again once the positions are locked).
        var conversions: [Int: OrderRequest] = [:]
        for (index, pending) in batch.enumerated() where answers[index] == nil {
            if case .convert(let request) = pending.work { conversions[index] = request }
        }
        var holdKeys: [String: [StockKey]] = [:]
        if !conversions.isEmpty {
            for record in try await Self.holds(conversions.values.compactMap(\.holdId), on: connection, logger: logger) {
                holdKeys[record.hold.id] = record.hold.keys
            }
        }

        // The orders of the steps (locked in id order), their codes' hashes, and the clock.
        var stepOrders: [Int: String] = [:]
        for (index, pending) in batch.enumerated() where answers[index] == nil {
            if case .step(_, let orderId) = pending.work { stepOrders[index] = orderId }
        }
        let ids = Array(Set(stepOrders.values)).sorted()
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
                nowMs = max(nowMs, now)
                let record = try OrderStore.order((document, version))
                orders[record.order.id] = record
                if let hash { hashes[record.order.id] = Array(buffer: hash) }
            }
        }

        // What each step is, once its order is known; what collections and readiness need.
        var actions: [Int: OrderAction] = [:]
        var stockKeys = Set<StockKey>()
        var stores = Set<String>()
        for (index, orderId) in stepOrders {
            let pending = batch[index]
            guard case .step(let command, _) = pending.work else { continue }
            guard let order = orders[orderId]?.order else {
                answers[index] = .failure(Rejections(.unknownOrder(orderId: orderId)))
                continue
            }
            let action: OrderAction
            switch command {
            case .picking: action = .picking
            case .ready:
                action = .ready
                if let store = order.pickupLocationId { stores.insert(store) }
            case .unlock: action = .unlock
            case .collect(let code):
                let matches = hashes[order.id].map { PickupCodes.equal($0, PickupCodes.hash(code, orderId: order.id)) } ?? false
                action = .collect(codeMatches: matches)
            default: preconditionFailure("the step writer takes store steps only")
            }
            stockKeys.formUnion(Orders.positions(touchedBy: action, order: order))
            do {
                try OrderStore.authorize(pending.principal, command, action, order)
                actions[index] = action
            } catch {
                answers[index] = .failure(error)
            }
        }
        for keys in holdKeys.values { stockKeys.formUnion(keys) }
        let locked = try await OrderStore.lockExisting(Array(stockKeys), on: connection, logger: logger)
        // A conversion decides whether its hold has expired: the clock is read once the hold's
        // positions are locked, so it is never earlier than a time a writer that held them
        // before already used (that writer may have counted the hold as expired).
        if !conversions.isEmpty || nowMs == 0 { nowMs = max(nowMs, try await OrderStore.now(on: connection)) }
        let locations = stores.isEmpty ? [:] : try await OrderStore.locations(Array(stores), on: connection, logger: logger)
        // With the positions locked, the holds and the orders already made for these numbers
        // and holds are as they stand.
        var holds: [String: HoldRecord] = [:]
        var made: (byNumber: [String: OrderRecord], byHold: [String: OrderRecord]) = ([:], [:])
        if !conversions.isEmpty {
            for record in try await Self.holds(Array(holdKeys.keys), on: connection, logger: logger) { holds[record.hold.id] = record }
            let numbers = conversions.values.map(\.orderNumber)
            let holdIds = conversions.values.compactMap(\.holdId)
            for try await (document, version) in try await connection.query(
                "SELECT document, version FROM orders WHERE order_number = ANY(\(numbers)::text[]) OR hold_id = ANY(\(holdIds)::text[])",
                logger: logger
            ).decode((String, Int64).self) {
                let record = try OrderStore.order((document, version))
                made.byNumber[record.order.orderNumber] = record
                if let holdId = record.order.holdId { made.byHold[holdId] = record }
            }
        }

        // Decide in arrival order, then write everything once.
        var positions = locked
        var touchedPositions = Set<StockKey>()
        var expected: [String: ExpectedVersion] = [:]
        var written: [String: OrderRecord] = [:]
        var convertedHolds: [String: HoldRecord] = [:]
        var codes: [(orderId: String, hash: [UInt8])] = []
        var assignments: [OrderAssignment] = []
        var newEvents: [LedgerEvent] = []
        var newMetadata: [EventMetadata] = []
        func record(_ events: [LedgerEvent], _ pending: Pending, order current: OrderRecord?) -> OrderRecord? {
            var order = current
            for event in events {
                let stream = event.stream
                switch event {
                case .order:
                    if expected[stream] == nil { expected[stream] = order.map { .exact($0.version) } ?? .noStream }
                    order = OrderRecord(order: Orders.evolve(order?.order, event), version: (order?.version ?? 0) + 1)
                    assignments += ProjectionWriter.assignments(event)
                case .holdConverted(let converted):
                    guard let hold = holds[converted.holdId] else { preconditionFailure("a hold was converted without being read") }
                    if expected[stream] == nil { expected[stream] = .exact(hold.version) }
                    convertedHolds[hold.hold.id] = HoldRecord(hold: Holds.evolve(hold.hold, event), version: hold.version + 1)
                default:
                    guard let key = event.stockKey, let position = positions[key] else {
                        preconditionFailure("a step moved a position it did not lock")
                    }
                    if expected[stream] == nil { expected[stream] = .exact(position.version) }
                    positions[key]!.position = StockLedger.evolve(position.position, event)
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
            if let order { written[order.order.id] = order }
            return order
        }
        for (index, pending) in batch.enumerated() where answers[index] == nil {
            switch pending.work {
            case .convert(let request):
                answers[index] = convert(
                    request, pending, holds: holds, made: made, nowMs: nowMs,
                    record: { events in record(events, pending, order: nil)! }, code: { codes.append($0) })
            case .step:
                guard let action = actions[index], case .step(_, let orderId) = pending.work, let current = orders[orderId] else { continue }
                switch Orders.decide(action, order: current.order, nowMs: nowMs, positions: positions.mapValues(\.position), locations: locations) {
                case .failure(let rejections):
                    answers[index] = .failure(rejections)
                case .success(let decision) where decision.events.isEmpty:
                    answers[index] = decision.refusal.map { .failure($0) } ?? .success(.done(current, refusal: nil))
                case .success(let decision):
                    answers[index] = .success(.done(record(decision.events, pending, order: current)!, refusal: decision.refusal))
                }
            }
        }

        // Projections, codes, answers, then the events: the ledger head is held for the append
        // and the commit only.
        try await ProjectionWriter.upsertPositions(touchedPositions.sorted().map { positions[$0]! }, on: connection, logger: logger)
        try await ProjectionWriter.upsertOrders(written.values.sorted { $0.order.id < $1.order.id }, on: connection, logger: logger)
        if !convertedHolds.isEmpty {
            let ids = convertedHolds.keys.sorted()
            try await ProjectionWriter.upsertHolds(ids.map { convertedHolds[$0]! }, on: connection, logger: logger)
            try await connection.query("DELETE FROM active_hold_lines WHERE hold_id = ANY(\(ids)::text[])", logger: logger)
        }
        try await ProjectionWriter.insertAssignments(assignments, on: connection, logger: logger)
        if !codes.isEmpty {
            try await connection.query(
                """
                INSERT INTO pickup_codes (order_id, code_hash)
                SELECT id, decode(h, 'hex') FROM unnest(\(codes.map(\.orderId))::text[], \(codes.map { BatchIdempotency.hex($0.hash) })::text[]) AS c(id, h)
                """,
                logger: logger)
        }
        var keep: [(IdempotencyRequest, StoredResponse)] = []
        var free: [IdempotencyRequest] = []
        for (pending, answer) in zip(batch, answers) {
            guard let request = pending.idempotency else { continue }
            switch answer {
            case .success(let outcome)?:
                if case .replayed = outcome { continue }
                keep.append((request, pending.render(outcome)))
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

    /// Decides one conversion: the order its number or hold already made, or a new one with
    /// its pickup code (whose hash `code` collects).
    private func convert(
        _ request: OrderRequest, _ pending: Pending, holds: [String: HoldRecord],
        made: (byNumber: [String: OrderRecord], byHold: [String: OrderRecord]), nowMs: Int64,
        record: (_ events: [LedgerEvent]) -> OrderRecord, code: (_ hash: (orderId: String, hash: [UInt8])) -> Void
    ) -> Result<OrderStepOutcome, any Error> {
        guard let holdId = request.holdId else { preconditionFailure("the step writer converts holds only") }
        if let existing = made.byNumber[request.orderNumber] {
            do { try OrderStore.authorizeRead(pending.principal, existing.order) } catch { return .failure(error) }
            return .success(.created(OrderCreation(record: existing, pickupCode: nil, created: false)))
        }
        guard let hold = holds[holdId]?.hold else { return .failure(Rejections(.inLine(path: "", .unknownHold(holdId: holdId)))) }
        var named = Set(hold.lines.map(\.locationId))
        if case .pickup(let id)? = hold.fulfilment ?? request.fulfilment { named.insert(id) }
        if let refusal = Access.authorize(pending.principal, .createOrders, locations: named.sorted()) { return .failure(Rejections(refusal)) }
        if hold.recordedStatus == .converted, let existing = made.byHold[holdId] {
            return .success(.created(OrderCreation(record: existing, pickupCode: nil, created: false)))
        }
        let orderId = RandomIds.make("ord_")
        switch Orders.decide(convert: hold, request: request, orderId: orderId, nowMs: nowMs) {
        case .failure(let rejections):
            return .failure(rejections)
        case .success(let events):
            let order = record(events)
            var pickupCode: String?
            if order.order.pickupLocationId != nil {
                let made = PickupCodes.make()
                code((orderId, PickupCodes.hash(made, orderId: orderId)))
                pickupCode = made
            }
            return .success(.created(OrderCreation(record: order, pickupCode: pickupCode, created: true)))
        }
    }

    static func holds(_ ids: [String], on connection: PostgresConnection, logger: Logger) async throws -> [HoldRecord] {
        guard !ids.isEmpty else { return [] }
        var records: [HoldRecord] = []
        for try await row in try await connection.query(
            "SELECT \(unescaped: HoldStore.columns) FROM holds WHERE id = ANY(\(ids)::text[])", logger: logger
        ) {
            records.append(try HoldStore.record(row))
        }
        return records
    }
}
