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
public typealias OrderStepRenderer = @Sendable (_ outcome: OrderStepOutcome) throws -> StoredResponse

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
        /// Read where the request is queued, in its own task.
        var reach: LedgerReach? = LedgerReach.current
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
        case .ship, .cancel, .notFound, .returned: false
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
            retryable: { WriterQueue<Pending>.isRetryable($0) || $0.sqlState == "23505" }
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

    /// What a batch read and locked before it decides.
    private struct Prepared {
        var actions: [Int: OrderAction] = [:]
        var hashes: [String: [UInt8]] = [:]
        var locations: [String: Location] = [:]
        var made: (byNumber: [String: OrderRecord], byHold: [String: OrderRecord]) = ([:], [:])
    }

    /// Decides and writes one batch inside its transaction; one answer per request.
    private func run(_ batch: [Pending], on connection: PostgresConnection) async throws -> [Result<OrderStepOutcome, any Error>] {
        let keys = IdempotencyKeys(retentionSeconds: retentionSeconds, logger: logger)
        var answers = [Result<OrderStepOutcome, any Error>?](repeating: nil, count: batch.count)
        for (index, claim) in try await keys.claim(batch.map(\.idempotency), on: connection).enumerated() {
            switch claim {
            case .replayed(let response)?: answers[index] = .success(.replayed(response))
            case .refused(let rejections)?: answers[index] = .failure(rejections)
            case nil: break
            }
        }
        var (transaction, prepared) = try await open(batch, answers: &answers, on: connection)
        // Decide in arrival order, each against what the previous ones left.
        var codes: [(orderId: String, hash: [UInt8])] = []
        var tracking: [(orderId: String, hash: [UInt8])] = []
        for (index, pending) in batch.enumerated() where answers[index] == nil {
            switch pending.work {
            case .convert(let request):
                answers[index] = convert(
                    request, pending, made: prepared.made, locations: prepared.locations, transaction: &transaction,
                    code: { codes.append($0) }, tracking: { tracking.append($0) })
            case .step(_, let orderId):
                guard let action = prepared.actions[index] else { continue }
                answers[index] = step(action, orderId: orderId, pending, locations: prepared.locations, transaction: &transaction)
            }
        }
        // Codes and tracking tokens, then the transaction (projections with the answers, then
        // the events): the ledger head is held for the append and the commit only.
        if !tracking.isEmpty {
            for try await _ in try await connection.run(
                CodesInsert.self, CodesInsert.query(codes: codes, tracking: tracking, nowMs: transaction.nowMs), logger: logger) {}
        }
        let (keep, free) = try answersToStore(batch, answers)
        try await transaction.finish(using: events) { query in try keys.finishParts(keep: keep, free: free, into: &query) }
        return answers.map { $0! }
    }

    /// Reads the orders of the steps (locked in id order) with their codes' hashes, the holds
    /// of conversions, and locks the positions collections and conversions take from; opens
    /// the batch's transaction at the clock read once every lock is held.
    private func open(
        _ batch: [Pending], answers: inout [Result<OrderStepOutcome, any Error>?], on connection: PostgresConnection
    ) async throws -> (LedgerTransaction, Prepared) {
        var prepared = Prepared()
        var conversions: [OrderRequest] = []
        var stepOrders: [Int: String] = [:]
        for (index, pending) in batch.enumerated() where answers[index] == nil {
            switch pending.work {
            case .convert(let request): conversions.append(request)
            case .step(_, let orderId): stepOrders[index] = orderId
            }
        }
        // Conversions: the holds' lines say which positions to lock (lines never change; the
        // holds are read again once the positions are locked).
        var holdKeys: [String: [StockKey]] = [:]
        var locationIds = Set<String>()
        for record in try await Self.holds(conversions.compactMap(\.holdId), on: connection, logger: logger) {
            holdKeys[record.hold.id] = record.hold.keys
            // A conversion is decided against its locations as they stand (lines never change).
            locationIds.formUnion(record.hold.lines.map(\.locationId) + [record.hold.fulfilment?.pickupLocationId].compactMap { $0 })
        }
        locationIds.formUnion(conversions.compactMap { $0.fulfilment?.pickupLocationId })
        let (orders, hashes) = try await lockOrders(Array(Set(stepOrders.values)).sorted(), on: connection)
        prepared.hashes = hashes
        var stockKeys = Set<StockKey>()
        for (index, orderId) in stepOrders {
            let pending = batch[index]
            guard case .step(let command, _) = pending.work else { continue }
            guard let order = orders[orderId]?.order else {
                answers[index] = .failure(Rejections(.unknownOrder(orderId: orderId)))
                continue
            }
            let action = Self.action(command, order: order, hashes: hashes)
            if case .ready = action, let store = order.pickupLocationId { locationIds.insert(store) }
            stockKeys.formUnion(Orders.positions(touchedBy: action, order: order))
            do {
                try OrderStore.authorize(pending.principal, command, action, order)
                prepared.actions[index] = action
            } catch {
                answers[index] = .failure(error)
            }
        }
        for keys in holdKeys.values { stockKeys.formUnion(keys) }
        // A conversion decides whether its hold has expired: the clock is read once the hold's
        // positions are locked, so it is never earlier than a time a writer that held them
        // before already used (that writer may have counted the hold as expired).
        let (locked, nowMs) = try await StockStore.lockExisting(Array(stockKeys), on: connection, logger: logger)
        if !locationIds.isEmpty { prepared.locations = try await OrderStore.locations(Array(locationIds), on: connection, logger: logger) }
        // With the positions locked, the holds and the orders already made for these numbers
        // and holds are as they stand.
        var holds: [HoldRecord] = []
        if !conversions.isEmpty {
            holds = try await Self.holds(Array(holdKeys.keys), on: connection, logger: logger)
            prepared.made = try await madeOrders(conversions, on: connection)
        }
        let transaction = try await LedgerTransaction.open(
            on: connection, nowMs: nowMs, logger: logger, positions: locked, holds: holds, orders: Array(orders.values))
        return (transaction, prepared)
    }

    /// The step a command is on its order (a collection compares the code's hash in constant time).
    private static func action(_ command: OrderCommand, order: Order, hashes: [String: [UInt8]]) -> OrderAction {
        switch command {
        case .picking: return .picking
        case .ready: return .ready
        case .unlock: return .unlock
        case .collect(let code):
            let matches = hashes[order.id].map { PickupCodes.equal($0, PickupCodes.hash(code, orderId: order.id)) } ?? false
            return .collect(codeMatches: matches)
        case .ship, .cancel, .notFound, .returned:
            preconditionFailure("the step writer takes store steps only")
        }
    }

    /// Locks the orders (in id order) and reads their pickup codes' hashes.
    private func lockOrders(_ ids: [String], on connection: PostgresConnection) async throws -> ([String: OrderRecord], [String: [UInt8]]) {
        var orders: [String: OrderRecord] = [:]
        var hashes: [String: [UInt8]] = [:]
        guard !ids.isEmpty else { return (orders, hashes) }
        for try await row in try await connection.run(OrdersLock.self, OrdersLock.query(ids), logger: logger) {
            let (document, version, hash) = try row.decode((String, Int64, ByteBuffer?).self)
            let record = try OrderStore.order((document, version))
            orders[record.order.id] = record
            if let hash { hashes[record.order.id] = Array(buffer: hash) }
        }
        return (orders, hashes)
    }

    /// The orders already made for these conversions' numbers and holds.
    private func madeOrders(_ conversions: [OrderRequest], on connection: PostgresConnection) async throws -> (
        byNumber: [String: OrderRecord], byHold: [String: OrderRecord]
    ) {
        var made: (byNumber: [String: OrderRecord], byHold: [String: OrderRecord]) = ([:], [:])
        let query = MadeOrders.query(numbers: conversions.map(\.orderNumber), holds: conversions.compactMap(\.holdId))
        for try await row in try await connection.run(MadeOrders.self, query, logger: logger) {
            let (document, version) = try row.decode((String, Int64).self)
            let record = try OrderStore.order((document, version))
            made.byNumber[record.order.orderNumber] = record
            if let holdId = record.order.holdId { made.byHold[holdId] = record }
        }
        return made
    }

    /// Decides one step against what the batch left so far, and applies its events.
    private func step(
        _ action: OrderAction, orderId: String, _ pending: Pending, locations: [String: Location], transaction: inout LedgerTransaction
    ) -> Result<OrderStepOutcome, any Error> {
        guard let current = transaction.order(orderId) else { preconditionFailure("a step's order was not locked") }
        switch Orders.decide(action, order: current.order, nowMs: transaction.nowMs, positions: transaction.positions, locations: locations) {
        case .failure(let rejections):
            return .failure(rejections)
        case .success(let decision) where decision.events.isEmpty:
            return decision.refusal.map { .failure($0) } ?? .success(.done(current, refusal: nil))
        case .success(let decision):
            transaction.apply(decision.events, metadata: pending.metadata)
            return .success(.done(transaction.order(orderId)!, refusal: decision.refusal))
        }
    }

    /// Stores the answers of executed requests that carry a key; refused ones give their key
    /// back, so a retry runs again.
    private func answersToStore(_ batch: [Pending], _ answers: [Result<OrderStepOutcome, any Error>?]) throws -> (
        keep: [(IdempotencyRequest, StoredResponse)], free: [IdempotencyRequest]
    ) {
        var keep: [(IdempotencyRequest, StoredResponse)] = []
        var free: [IdempotencyRequest] = []
        for (pending, answer) in zip(batch, answers) {
            guard let request = pending.idempotency else { continue }
            switch answer {
            case .success(.replayed)?, nil: continue
            case .success(let outcome)?: keep.append((request, try pending.render(outcome)))
            case .failure(let error)?: if IdempotencyKeys.givesKeyBack(error) { free.append(request) }
            }
        }
        return (keep, free)
    }

    /// Decides one conversion: the order its number or hold already made, or a new one with
    /// its pickup code and tracking token (whose hashes `code` and `tracking` collect).
    private func convert(
        _ request: OrderRequest, _ pending: Pending, made: (byNumber: [String: OrderRecord], byHold: [String: OrderRecord]),
        locations: [String: Location], transaction: inout LedgerTransaction, code: (_ hash: (orderId: String, hash: [UInt8])) -> Void,
        tracking: (_ hash: (orderId: String, hash: [UInt8])) -> Void
    ) -> Result<OrderStepOutcome, any Error> {
        guard let holdId = request.holdId else { preconditionFailure("the step writer converts holds only") }
        if let existing = made.byNumber[request.orderNumber] {
            do { try OrderStore.authorizeRead(pending.principal, existing.order) } catch { return .failure(error) }
            return .success(.created(OrderCreation(record: existing, pickupCode: nil, created: false)))
        }
        guard let hold = transaction.hold(holdId)?.hold else { return .failure(Rejections(.inLine(path: "", .unknownHold(holdId: holdId)))) }
        if let refusal = Access.authorize(pending.principal, .createOrders, hold: hold, fulfilment: request.fulfilment) {
            return .failure(Rejections(refusal))
        }
        if hold.recordedStatus == .converted, let existing = made.byHold[holdId] {
            return .success(.created(OrderCreation(record: existing, pickupCode: nil, created: false)))
        }
        let orderId = RecordIds.make("ord_")
        switch Orders.decide(convert: hold, request: request, orderId: orderId, nowMs: transaction.nowMs, locations: locations) {
        case .failure(let rejections):
            return .failure(rejections)
        case .success(let events):
            transaction.apply(events, metadata: pending.metadata)
            guard let order = transaction.order(orderId) else { preconditionFailure("a conversion made no order") }
            var pickupCode: String?
            if order.order.pickupLocationId != nil {
                let made = PickupCodes.make()
                code((orderId, PickupCodes.hash(made, orderId: orderId)))
                pickupCode = made
            }
            let token = TrackingTokens.make()
            tracking((orderId, TrackingTokens.hash(token)))
            return .success(.created(OrderCreation(record: order, pickupCode: pickupCode, trackingToken: token, created: true)))
        }
    }

    static func holds(_ ids: [String], on connection: PostgresConnection, logger: Logger) async throws -> [HoldRecord] {
        guard !ids.isEmpty else { return [] }
        var records: [HoldRecord] = []
        for try await row in try await connection.run(HoldsRead.self, HoldsRead.query(ids), logger: logger) {
            records.append(try HoldStore.record(row))
        }
        return records
    }

    /// The pickup codes and tracking tokens of a batch's new orders.
    private enum CodesInsert: StatementText {
        static let name = "order_steps_codes"
        static let sql = query(codes: [], tracking: [], nowMs: 0).sql

        static func query(codes: [(orderId: String, hash: [UInt8])], tracking: [(orderId: String, hash: [UInt8])], nowMs: Int64) -> PostgresQuery {
            """
            WITH codes AS (
                INSERT INTO pickup_codes (order_id, code_hash)
                SELECT id, decode(h, 'hex') FROM unnest(\(codes.map(\.orderId))::text[], \(codes.map { IdempotencyKeys.hex($0.hash) })::text[]) AS c(id, h)
            )
            INSERT INTO tracking_tokens (order_id, token_hash, created_at_ms)
            SELECT id, decode(h, 'hex'), \(nowMs) FROM unnest(\(tracking.map(\.orderId))::text[], \(tracking.map { IdempotencyKeys.hex($0.hash) })::text[]) AS t(id, h)
            """
        }
    }

    /// The statement of `lockOrders`.
    private enum OrdersLock: StatementText {
        static let name = "order_steps_lock"
        static let sql = query([]).sql

        static func query(_ ids: [String]) -> PostgresQuery {
            """
            SELECT o.document, o.version, c.code_hash
              FROM orders o LEFT JOIN pickup_codes c ON c.order_id = o.id
             WHERE o.id = ANY(\(ids)::text[]) ORDER BY o.id FOR UPDATE OF o
            """
        }
    }

    /// The statement of `madeOrders`.
    private enum MadeOrders: StatementText {
        static let name = "order_steps_made"
        static let sql = query(numbers: [], holds: []).sql

        static func query(numbers: [String], holds: [String]) -> PostgresQuery {
            "SELECT document, version FROM orders WHERE order_number = ANY(\(numbers)::text[]) OR hold_id = ANY(\(holds)::text[])"
        }
    }

    /// The statement of `holds`.
    private enum HoldsRead: StatementText {
        static let name = "order_steps_holds"
        static let sql = query([]).sql

        static func query(_ ids: [String]) -> PostgresQuery {
            "SELECT \(unescaped: HoldStore.columns) FROM holds WHERE id = ANY(\(ids)::text[])"
        }
    }
}
