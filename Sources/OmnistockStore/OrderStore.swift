import Crypto
import Foundation
import Logging
import OmnistockCore
import PostgresNIO

/// What a store-work request asks of an order, before the order is read.
public enum OrderCommand: Sendable, Equatable {
    case picking
    case ready
    case collect(pickupCode: String)
    case unlock
    /// Lines to ship; nil ships every allocated line the caller may act on.
    case ship(lineIds: [String]?, carrier: String, tracking: String)
    case cancel(reason: String?)
    case notFound(lineId: String)
    case returned(locationId: String, lines: [ReturnLine])

    var operation: OmnistockCore.Operation {
        switch self {
        case .cancel: .cancelOrders
        case .returned: .returnOrders
        default: .workOrders
        }
    }
}

/// The answer to an order creation.
public struct OrderCreation: Sendable {
    public var record: OrderRecord
    /// The pickup code, in clear, only when this call created a pickup order.
    public var pickupCode: String?
    /// False when the order number (or the hold) had already made this order.
    public var created: Bool
}

/// Orders, store work, no-shows, returns, transfers and the sourcing preview: each write is
/// one transaction that locks the order (or transfer) row, then the positions in (sku,
/// location) order, decides with the core, writes the projections and appends the events
/// last. Orders are not the hot path holds are, so each request has its own transaction.
public struct OrderStore: Sendable {
    let database: Database
    let events: EventStore
    let logger: Logger

    public init(database: Database, events: EventStore, logger: Logger) {
        self.database = database
        self.events = events
        self.logger = logger
    }

    private var stock: StockStore { StockStore(events: events, logger: logger) }

    // MARK: - Reads

    public func order(id: String) async throws -> OrderRecord? {
        try await database.withConnection { connection in
            try await documents("SELECT document, version FROM orders WHERE id = \(id)", on: connection).first.map(Self.order)
        }
    }

    /// A page of a location's queue, oldest first, after a cursor (created time, id).
    public func queue(
        locationId: String, statuses: [OrderStatus], after: (createdAtMs: Int64, id: String)?, limit: Int
    ) async throws -> [OrderRecord] {
        try await database.withConnection { connection in
            try await documents(
                """
                SELECT document, version FROM orders
                 WHERE location_ids @> ARRAY[\(locationId)]::text[] AND status = ANY(\(statuses.map(\.rawValue))::text[])
                   AND (created_at_ms, id) > (\(after?.createdAtMs ?? Int64.min), \(after?.id ?? ""))
                 ORDER BY created_at_ms, id LIMIT \(limit)
                """,
                on: connection
            ).map(Self.order)
        }
    }

    public func transfer(id: String) async throws -> TransferRecord? {
        try await database.withConnection { connection in
            try await documents("SELECT document, version FROM transfers WHERE id = \(id)", on: connection).first.map(Self.transfer)
        }
    }

    /// The plan sourcing would make now, with its explanation; nothing is locked or written.
    public func plan(lines: [RequestedLine], fulfilment: Fulfilment) async throws -> SourcingOutcome {
        let request = OrderRequest(orderNumber: "preview", lines: lines, fulfilment: fulfilment)
        let faults = Orders.validate(request)
        if !faults.isEmpty { throw Rejections(faults) }
        return try await database.withConnection { connection in
            let input = try await sourcingInput(skus: lines.map(\.sku), lock: false, on: connection)
            let demands = lines.enumerated().map { Sourcing.Demand(line: $0.offset, sku: $0.element.sku, quantity: $0.element.quantity) }
            return try Sourcing.source(demands, fulfilment: fulfilment, input: input.input).get()
        }
    }

    // MARK: - Creation

    /// Creates an order from a hold or by sourcing, or returns the order its number (or hold)
    /// already made.
    public func create(_ request: OrderRequest, principal: Principal, metadata: EventMetadata, in transaction: Transaction) async throws -> OrderCreation {
        let faults = Orders.validate(request)
        if !faults.isEmpty { throw Rejections(faults) }
        let connection = transaction.connection
        if let existing = try await orderRow("order_number", request.orderNumber, lock: false, on: connection) {
            try authorizeRead(principal, existing.order)
            return OrderCreation(record: existing, pickupCode: nil, created: false)
        }
        let orderId = RandomIds.make("ord_")
        var decided: [LedgerEvent]
        var locked: [StockKey: PositionRecord]
        var holds: [String: HoldRecord] = [:]
        if let holdId = request.holdId {
            guard let first = try await holdRow(holdId, on: connection) else {
                throw Rejections(.inLine(path: "", .unknownHold(holdId: holdId)))
            }
            var named = Set(first.hold.lines.map(\.locationId))
            if case .pickup(let id)? = first.hold.fulfilment ?? request.fulfilment { named.insert(id) }
            if let refusal = Access.authorize(principal, .createOrders, locations: named.sorted()) { throw Rejections(refusal) }
            // Every change to a hold locks its positions first, so with them locked the hold
            // read again is the hold as it stands.
            locked = try await stock.lock(first.hold.keys, on: connection)
            guard let hold = try await holdRow(holdId, on: connection) else { throw Rejections(.inLine(path: "", .unknownHold(holdId: holdId))) }
            if hold.hold.recordedStatus == .converted, let existing = try await orderRow("hold_id", holdId, lock: false, on: connection) {
                return OrderCreation(record: existing, pickupCode: nil, created: false)
            }
            holds[holdId] = hold
            let nowMs = try await Self.now(on: connection)
            decided = try Orders.decide(convert: hold.hold, request: request, orderId: orderId, nowMs: nowMs).get()
        } else {
            if let refusal = Access.authorize(principal, .createOrders, locations: request.namedLocations.filter(Identifier.isValid)) {
                throw Rejections(refusal)
            }
            let sourcing = try await sourcingInput(skus: request.lines.map(\.sku), lock: true, on: connection)
            locked = sourcing.locked
            var input = sourcing.input
            // A bound key sources among its own locations (and its pickup point), as holds do.
            if case .only(let ids) = principal.scope {
                let allowed = ids.union(request.namedLocations)
                input.locations = input.locations.filter { allowed.contains($0.key) }
            }
            decided = try Orders.decide(
                create: request, orderId: orderId, transferIds: Self.transferIds(for: input), nowMs: sourcing.nowMs, input: input
            ).get()
            // Daily capacity holds under concurrency: the locations sourcing chose are locked (in
            // id order, after the positions) and their orders of the day counted again; when
            // another order took a last slot meanwhile, the decision is made again without it.
            var attempts = 0
            while true {
                let chosen = Set(decided.flatMap(\.locationIds)).subtracting(request.namedLocations).sorted()
                let counts = try await lockAndCount(chosen, day: Orders.day(ofMs: sourcing.nowMs), on: connection)
                let full = chosen.filter { counts[$0, default: 0] >= (input.locations[$0]?.dailyCapacity ?? 0) }
                if full.isEmpty { break }
                attempts += 1
                guard attempts < Self.capacityRecheckMax else { throw Rejections(.concurrentModification(stream: "daily capacity")) }
                input.ordersToday.merge(counts) { $1 }
                decided = try Orders.decide(
                    create: request, orderId: orderId, transferIds: Self.transferIds(for: input), nowMs: sourcing.nowMs, input: input
                ).get()
            }
            // A bound key may only create orders served by its own locations.
            let used = Set(decided.flatMap(\.locationIds))
            if let refusal = Access.authorize(principal, .createOrders, locations: used.sorted()) { throw Rejections(refusal) }
        }
        // The same number may have been created while this request waited for its locks.
        if let existing = try await orderRow("order_number", request.orderNumber, lock: false, on: connection) {
            try await discardVacant(locked.values.filter(\.isVacant).map(\.key), on: connection)
            try authorizeRead(principal, existing.order)
            return OrderCreation(record: existing, pickupCode: nil, created: false)
        }
        // The code's hash is written before the events are appended: the ledger head, which
        // serialises appends, is then held for the append and the commit only.
        var code: String?
        let pickup = decided.contains { event in
            if case .order(let recorded) = event { return recorded.order.pickupLocationId != nil }
            return false
        }
        if pickup {
            let made = PickupCodes.make()
            try await connection.query(
                "INSERT INTO pickup_codes (order_id, code_hash) VALUES (\(orderId), \(ByteBuffer(bytes: PickupCodes.hash(made, orderId: orderId))))",
                logger: logger)
            code = made
        }
        let written: (orders: [String: OrderRecord], transfers: [String: TransferRecord])
        do {
            written = try await record(decided, locked: locked, orders: [:], transfers: [:], holds: holds, metadata: metadata, on: connection)
        } catch where error.sqlState == "23505" {
            // Another request created this order number at the same moment on other stock; the
            // retry finds that order and answers with it.
            throw Rejections(.concurrentModification(stream: "order-number \(request.orderNumber)"))
        }
        guard let record = written.orders[orderId] else { preconditionFailure("an order creation wrote no order") }
        return OrderCreation(record: record, pickupCode: code, created: true)
    }

    // MARK: - Store work

    /// Performs a step that locks more than it can name before it starts (ship, cancel, not
    /// found, returns), alone in the caller's transaction; the everyday steps go through the
    /// `OrderStepWriter`. Returns the order after the step.
    public func act(
        _ command: OrderCommand, orderId: String, principal: Principal, metadata: EventMetadata, in transaction: Transaction
    ) async throws -> OrderRecord {
        precondition(!OrderStepWriter.takes(command), "store steps go through the step writer")
        let connection = transaction.connection
        // The order and the clock in one round trip.
        var found: (record: OrderRecord, nowMs: Int64)?
        for try await (document, version, nowMs) in try await connection.query(
            "SELECT document, version, \(unescaped: HoldStore.nowMs) FROM orders WHERE id = \(orderId) FOR UPDATE",
            logger: logger
        ).decode((String, Int64, Int64).self) {
            found = (try Self.order((document, version)), nowMs)
        }
        guard let found else { throw Rejections(.unknownOrder(orderId: orderId)) }
        let current = found.record
        let order = current.order
        var locations: [String: Location] = [:]
        var sourcing: (input: SourcingInput, locked: [StockKey: PositionRecord], nowMs: Int64)?
        let action: OrderAction
        switch command {
        case .picking, .ready, .collect, .unlock:
            preconditionFailure("store steps go through the step writer")
        case .ship(let lineIds, let carrier, let tracking):
            action = .ship(lineIds: lineIds ?? Orders.shippableLines(order, scope: principal.scope), carrier: carrier, tracking: tracking)
        case .cancel(let reason): action = .cancel(reason: reason)
        case .notFound(let lineId):
            action = .notFound(lineId: lineId)
            if let line = order.lines.first(where: { $0.id == lineId }) {
                sourcing = try await sourcingInput(skus: [line.sku], extraKeys: order.lines.map(\.key), lock: true, on: connection)
            }
        case .returned(let locationId, let lines):
            action = .returned(locationId: locationId, lines: lines)
            if Identifier.isValid(locationId) { locations = try await Self.locations([locationId], on: connection, logger: logger) }
        }
        if case .returned = command {
            // A return is taken at any store: the key must be bound to the return location, not
            // to where the order was served.
            let acting = Orders.actingLocations(action, order: order)
            if let refusal = Access.authorize(principal, command.operation, locations: acting) { throw Rejections(refusal) }
        } else {
            try Self.authorize(principal, command, action, order)
        }
        let locked: [StockKey: PositionRecord]
        let nowMs: Int64
        let positions: [StockKey: StockPosition]
        if let sourcing {
            (locked, nowMs, positions) = (sourcing.locked, sourcing.nowMs, sourcing.input.positions)
        } else {
            // Steps that move no stock lock no position: the order row serialises them.
            let keys = Orders.positions(touchedBy: action, order: order)
            if case .returned(let locationId, _) = action {
                // The return location may never have stocked the SKU: its rows are created to
                // lock them (an unknown location is refused by the decision, with nothing locked).
                locked = locations[locationId] == nil ? [:] : try await stock.lock(keys, on: connection)
            } else {
                locked = try await Self.lockExisting(keys, on: connection, logger: logger)
            }
            nowMs = found.nowMs
            positions = locked.mapValues(\.position)
        }
        let transferIds = sourcing.map { Self.transferIds(for: $0.input) } ?? []
        let decision = try Orders.decide(
            action, order: order, nowMs: nowMs, positions: positions, locations: locations, input: sourcing?.input, transferIds: transferIds
        ).get()
        guard !decision.events.isEmpty else {
            if let refusal = decision.refusal { throw refusal }
            try await discardVacant(locked.values.filter(\.isVacant).map(\.key), on: connection)
            return current
        }
        let written = try await record(
            decision.events, locked: locked, orders: [orderId: current], transfers: [:], holds: [:], metadata: metadata, on: connection)
        // These steps refuse before deciding events, never after (that is the collect's way).
        precondition(decision.refusal == nil, "a step refused after deciding events")
        return written.orders[orderId] ?? current
    }

    /// Expires ready orders whose pickup window has passed, up to `limit`, in one transaction.
    /// `asOfMs` replaces the database clock (tests; nil in service). Returns how many expired.
    @discardableResult
    public func expireNoShows(asOfMs: Int64? = nil, limit: Int = Limits.noShowBatchMax) async throws -> Int {
        try await database.transaction { connection in
            let nowMs: Int64
            if let asOfMs { nowMs = asOfMs } else { nowMs = try await Self.now(on: connection) }
            // Rows another sweeper (another instance) holds are skipped, not waited for.
            let due = try await documents(
                """
                SELECT document, version FROM orders WHERE status = 'ready' AND pickup_expires_at_ms <= \(nowMs)
                 ORDER BY id LIMIT \(limit) FOR UPDATE SKIP LOCKED
                """,
                on: connection
            ).map(Self.order)
            guard !due.isEmpty else { return 0 }
            let locked = try await stock.lock(due.flatMap { $0.order.lines.map(\.key) }, on: connection)
            var working = locked.mapValues(\.position)
            var decided: [LedgerEvent] = []
            for record in due {
                let events = try Orders.decide(.expire, order: record.order, nowMs: nowMs, positions: working, locations: [:]).get().events
                for event in events { Orders.apply(event, to: &working) }
                decided += events
            }
            _ = try await record(
                decided, locked: locked, orders: Dictionary(uniqueKeysWithValues: due.map { ($0.order.id, $0) }), transfers: [:], holds: [:],
                metadata: EventMetadata(actor: "system:no-show-sweeper"), on: connection)
            return due.count
        }
    }

    // MARK: - Transfers

    public func dispatch(_ request: TransferRequest, principal: Principal, metadata: EventMetadata, in transaction: Transaction) async throws -> TransferRecord {
        let faults = Transfers.validate(request)
        if !faults.isEmpty { throw Rejections(faults) }
        if let refusal = Access.authorize(principal, .transferStock, locations: [request.fromLocationId]) { throw Rejections(refusal) }
        let connection = transaction.connection
        let locations = try await Self.locations([request.fromLocationId, request.toLocationId], on: connection, logger: logger)
        let known = request.lines.flatMap { line in
            [request.fromLocationId, request.toLocationId].filter { locations[$0] != nil }.map { StockKey(sku: line.sku, locationId: $0) }
        }
        let locked = try await stock.lock(known, on: connection)
        let nowMs = try await Self.now(on: connection)
        let positions = try await effective(locked, nowMs: nowMs, on: connection)
        let transferId = RandomIds.make("trf_")
        let decided = try Transfers.decide(dispatch: request, transferId: transferId, nowMs: nowMs, locations: locations, positions: positions).get()
        let written = try await record(decided, locked: locked, orders: [:], transfers: [:], holds: [:], metadata: metadata, on: connection)
        return written.transfers[transferId]!
    }

    public func receive(
        transferId: String, lines: [(sku: String, quantity: Int64)], principal: Principal, metadata: EventMetadata, in transaction: Transaction
    ) async throws -> TransferRecord {
        let connection = transaction.connection
        guard let current = try await documents(
            "SELECT document, version FROM transfers WHERE id = \(transferId) FOR UPDATE", on: connection
        ).first.map(Self.transfer) else {
            throw Rejections(.unknownTransfer(transferId: transferId))
        }
        let transfer = current.transfer
        if let refusal = Access.authorize(principal, .transferStock, locations: [transfer.toLocationId]) { throw Rejections(refusal) }
        var order: OrderRecord?
        if let orderId = transfer.orderId { order = try await orderRow("id", orderId, lock: true, on: connection) }
        let keys = transfer.lines.map { StockKey(sku: $0.sku, locationId: transfer.toLocationId) } + (order?.order.lines.map(\OrderLine.key) ?? [])
        let locked = try await stock.lock(keys, on: connection)
        let nowMs = try await Self.now(on: connection)
        let decided = try Transfers.decide(
            receive: transfer, received: lines, order: order?.order, nowMs: nowMs, positions: locked.mapValues(\.position)
        ).get()
        let written = try await record(
            decided, locked: locked, orders: order.map { [$0.order.id: $0] } ?? [:], transfers: [transferId: current], holds: [:],
            metadata: metadata, on: connection)
        return written.transfers[transferId]!
    }

    // MARK: - Recording

    /// Writes the projections the events leave (positions, orders, transfers, holds, daily
    /// counts), then appends the events, checked against the versions read.
    private func record(
        _ decided: [LedgerEvent], locked: [StockKey: PositionRecord], orders: [String: OrderRecord], transfers: [String: TransferRecord],
        holds: [String: HoldRecord], metadata: EventMetadata, on connection: PostgresConnection
    ) async throws -> (orders: [String: OrderRecord], transfers: [String: TransferRecord]) {
        var expected: [String: ExpectedVersion] = [:]
        var positions: [StockKey: PositionRecord] = [:]
        var touched = Set<StockKey>()
        var newOrders: [String: OrderRecord] = [:]
        var newTransfers: [String: TransferRecord] = [:]
        var newHolds: [String: HoldRecord] = [:]
        var assignments: [OrderAssignment] = []
        func position(_ key: StockKey) -> PositionRecord {
            // Every position a decision changes was locked (and created when new) first.
            guard let record = positions[key] ?? locked[key] else { preconditionFailure("a position was changed without being locked") }
            return record
        }
        for event in decided {
            let stream = event.stream
            switch event {
            case .order(let recorded):
                let previous = newOrders[recorded.order.id] ?? orders[recorded.order.id]
                if expected[stream] == nil { expected[stream] = previous.map { .exact($0.version) } ?? .noStream }
                newOrders[recorded.order.id] = OrderRecord(
                    order: Orders.evolve(previous?.order, event), version: (previous?.version ?? 0) + 1)
                assignments += ProjectionWriter.assignments(event)
            case .transfer(let recorded):
                let previous = newTransfers[recorded.transfer.id] ?? transfers[recorded.transfer.id]
                if expected[stream] == nil { expected[stream] = previous.map { .exact($0.version) } ?? .noStream }
                newTransfers[recorded.transfer.id] = TransferRecord(
                    transfer: Transfers.evolve(previous?.transfer, event), version: (previous?.version ?? 0) + 1)
            case .holdConverted(let converted):
                guard let previous = newHolds[converted.holdId] ?? holds[converted.holdId] else {
                    preconditionFailure("a hold was converted without being read")
                }
                if expected[stream] == nil { expected[stream] = .exact(previous.version) }
                newHolds[converted.holdId] = HoldRecord(hold: Holds.evolve(previous.hold, event), version: previous.version + 1)
            default:
                break
            }
            if let key = event.stockKey {
                var record = position(key)
                if expected[stream] == nil { expected[stream] = record.version == 0 ? .noStream : .exact(record.version) }
                record.position = StockLedger.evolve(record.position, event)
                record.version += 1
                positions[key] = record
                touched.insert(key)
            }
            for change in event.positionChanges {
                var record = position(change.key)
                record.position = record.position.applying(change)
                positions[change.key] = record
                touched.insert(change.key)
            }
        }
        let rows = touched.sorted().map { positions[$0]! }
        try await ProjectionWriter.upsertPositions(rows.filter { !$0.isVacant }, on: connection, logger: logger)
        try await ProjectionWriter.upsertOrders(newOrders.values.sorted { $0.order.id < $1.order.id }, on: connection, logger: logger)
        try await ProjectionWriter.upsertTransfers(newTransfers.values.sorted { $0.transfer.id < $1.transfer.id }, on: connection, logger: logger)
        if !newHolds.isEmpty {
            let ids = newHolds.keys.sorted()
            try await ProjectionWriter.upsertHolds(ids.map { newHolds[$0]! }, on: connection, logger: logger)
            try await connection.query("DELETE FROM active_hold_lines WHERE hold_id = ANY(\(ids)::text[])", logger: logger)
        }
        try await ProjectionWriter.insertAssignments(assignments, on: connection, logger: logger)
        try await discardVacant(
            locked.values.filter { !touched.contains($0.key) && $0.isVacant }.map(\.key) + rows.filter(\.isVacant).map(\.key), on: connection)
        try await events.append(decided, expected: expected, metadata: metadata, on: connection)
        return (newOrders, newTransfers)
    }

    // MARK: - Helpers

    /// Decisions made again when concurrent orders filled a chosen location (then 409, retry).
    static let capacityRecheckMax = 3

    /// Locks these locations' rows (in id order) and counts their orders of `day` as committed now.
    private func lockAndCount(_ ids: [String], day: Int64, on connection: PostgresConnection) async throws -> [String: Int64] {
        guard !ids.isEmpty else { return [:] }
        try await connection.query("SELECT id FROM locations WHERE id = ANY(\(ids)::text[]) ORDER BY id FOR UPDATE", logger: logger)
        var counts: [String: Int64] = [:]
        for try await (id, count) in try await connection.query(
            """
            SELECT location_id, count(*) FROM order_assignments WHERE day = \(day) AND location_id = ANY(\(ids)::text[])
             GROUP BY location_id
            """,
            logger: logger
        ).decode((String, Int64).self) {
            counts[id] = count
        }
        return counts
    }

    /// Locks positions that exist (an order's lines always do: they hold its allocations) in
    /// the (sku, location) order every writer uses, in one statement.
    static func lockExisting(_ keys: [StockKey], on connection: PostgresConnection, logger: Logger) async throws -> [StockKey: PositionRecord] {
        let sorted = Array(Set(keys)).sorted()
        guard !sorted.isEmpty else { return [:] }
        var result: [StockKey: PositionRecord] = [:]
        for try await row in try await connection.query(
            """
            SELECT \(unescaped: StockStore.columns) FROM stock_positions
             WHERE (sku, location_id) IN (SELECT * FROM unnest(\(sorted.map(\.sku))::text[], \(sorted.map(\.locationId))::text[]))
             ORDER BY sku COLLATE "C", location_id COLLATE "C" FOR UPDATE
            """,
            logger: logger
        ) {
            let record = try StockStore.record(row)
            result[record.key] = record
        }
        return result
    }

    /// Fresh transfer ids, enough for one transfer from every location sourcing may use.
    static func transferIds(for input: SourcingInput) -> [String] {
        (0..<max(1, input.locations.count)).map { _ in RandomIds.make("trf_") }
    }

    /// Removes the rows of positions no event ever stocked that this transaction leaves empty
    /// (sourcing locks, so creates, every candidate; a transfer received with nothing clears
    /// its destination's `incoming`): they are not positions, and a rebuild would not have
    /// them. The rows are locked by this transaction, so what it computed is what they hold.
    private func discardVacant(_ vacant: [StockKey], on connection: PostgresConnection) async throws {
        guard !vacant.isEmpty else { return }
        try await connection.query(
            """
            DELETE FROM stock_positions
             WHERE (sku, location_id) IN (SELECT * FROM unnest(\(vacant.map(\.sku))::text[], \(vacant.map(\.locationId))::text[]))
               AND version = 0
            """,
            logger: logger)
    }

    /// Positions of `skus` at every location (locked, or read), effective at the database's
    /// clock, with the locations and today's order counts: what sourcing needs.
    private func sourcingInput(
        skus: [String], extraKeys: [StockKey] = [], lock: Bool, on connection: PostgresConnection
    ) async throws -> (input: SourcingInput, locked: [StockKey: PositionRecord], nowMs: Int64) {
        let locations = try await Self.locations(nil, on: connection, logger: logger)
        let valid = Set(skus.filter(Identifier.isValid))
        var keys = extraKeys
        for sku in valid {
            for location in locations.values where location.active { keys.append(StockKey(sku: sku, locationId: location.id)) }
        }
        var records: [StockKey: PositionRecord]
        if lock {
            records = try await stock.lock(keys, on: connection)
        } else {
            records = [:]
            let sorted = Array(Set(keys))
            for try await row in try await connection.query(
                """
                SELECT \(unescaped: StockStore.columns) FROM stock_positions
                 WHERE (sku, location_id) IN (SELECT * FROM unnest(\(sorted.map(\.sku))::text[], \(sorted.map(\.locationId))::text[]))
                """,
                logger: logger
            ) {
                let record = try StockStore.record(row)
                records[record.key] = record
            }
        }
        let nowMs = try await Self.now(on: connection)
        let positions = try await effective(records, nowMs: nowMs, on: connection)
        var today: [String: Int64] = [:]
        for try await (id, count) in try await connection.query(
            """
            SELECT location_id, count(*) FROM order_assignments
             WHERE day = \(Orders.day(ofMs: nowMs)) AND location_id = ANY(\(Array(locations.keys))::text[]) GROUP BY location_id
            """,
            logger: logger
        ).decode((String, Int64).self) {
            today[id] = count
        }
        return (SourcingInput(locations: locations, positions: positions, ordersToday: today), records, nowMs)
    }

    /// The positions with the lines of holds that expired by `nowMs` (but are not recorded
    /// yet) taken out of `held`: a hold stops counting at its expiry.
    private func effective(_ records: [StockKey: PositionRecord], nowMs: Int64, on connection: PostgresConnection) async throws -> [StockKey: StockPosition] {
        var positions = records.mapValues(\.position)
        let keys = Array(records.keys)
        guard !keys.isEmpty else { return positions }
        for try await (sku, locationId, expired) in try await connection.query(
            """
            SELECT sku, location_id, sum(quantity)::bigint FROM active_hold_lines
             WHERE (sku, location_id) IN (SELECT * FROM unnest(\(keys.map(\.sku))::text[], \(keys.map(\.locationId))::text[]))
               AND expires_at_ms <= \(nowMs)
             GROUP BY sku, location_id
            """,
            logger: logger
        ).decode((String, String, Int64).self) {
            positions[StockKey(sku: sku, locationId: locationId)]?.held -= expired
        }
        return positions
    }

    /// Locations by id (nil: all of them).
    static func locations(_ ids: [String]?, on connection: PostgresConnection, logger: Logger) async throws -> [String: Location] {
        let query: PostgresQuery =
            if let ids {
                "SELECT \(unescaped: LocationStore.columns) FROM locations WHERE id = ANY(\(ids)::text[])"
            } else {
                "SELECT \(unescaped: LocationStore.columns) FROM locations"
            }
        var result: [String: Location] = [:]
        for try await row in try await connection.query(query, logger: logger) {
            let record = try LocationStore.record(row)
            result[record.location.id] = record.location
        }
        return result
    }

    private func orderRow(_ column: String, _ value: String, lock: Bool, on connection: PostgresConnection) async throws -> OrderRecord? {
        var binds = PostgresBindings()
        binds.append(value)
        let sql = "SELECT document, version FROM orders WHERE \(column) = $1" + (lock ? " FOR UPDATE" : "")
        return try await documents(PostgresQuery(unsafeSQL: sql, binds: binds), on: connection).first.map(Self.order)
    }

    private func holdRow(_ id: String, on connection: PostgresConnection) async throws -> HoldRecord? {
        let rows = try await connection.query("SELECT \(unescaped: HoldStore.columns) FROM holds WHERE id = \(id)", logger: logger).collect()
        return try rows.first.map(HoldStore.record)
    }

    /// Whether the caller may take this step on this order: see it, and act where the step acts.
    static func authorize(_ principal: Principal, _ command: OrderCommand, _ action: OrderAction, _ order: Order) throws {
        try authorizeRead(principal, order)
        if let refusal = Access.authorize(principal, command.operation, locations: Orders.actingLocations(action, order: order)) {
            throw Rejections(refusal)
        }
    }

    /// Bound keys see an order when one of its locations is theirs.
    public func authorizeRead(_ principal: Principal, _ order: Order) throws {
        try Self.authorizeRead(principal, order)
    }

    static func authorizeRead(_ principal: Principal, _ order: Order) throws {
        let locations = [order.pickupLocationId].compactMap { $0 } + order.locationIds.filter { $0 != order.pickupLocationId }
        if let refusal = Access.authorize(principal, .readOrders, anyOf: locations) { throw Rejections(refusal) }
    }

    static func now(on connection: PostgresConnection) async throws -> Int64 {
        for try await now in try await connection.query("SELECT \(unescaped: HoldStore.nowMs)", logger: Logger(label: "oms.clock")).decode(Int64.self) {
            return now
        }
        throw StoreError.corrupt("the database clock could not be read")
    }

    /// Rows of (document, version).
    private func documents(_ query: PostgresQuery, on connection: PostgresConnection) async throws -> [(String, Int64)] {
        var rows: [(String, Int64)] = []
        for try await row in try await connection.query(query, logger: logger).decode((String, Int64).self) { rows.append(row) }
        return rows
    }

    static func order(_ row: (String, Int64)) throws -> OrderRecord {
        do {
            return OrderRecord(order: try JSONDecoder().decode(Order.self, from: Data(row.0.utf8)), version: row.1)
        } catch {
            throw StoreError.corrupt("an order row could not be read")
        }
    }

    static func transfer(_ row: (String, Int64)) throws -> TransferRecord {
        do {
            return TransferRecord(transfer: try JSONDecoder().decode(Transfer.self, from: Data(row.0.utf8)), version: row.1)
        } catch {
            throw StoreError.corrupt("a transfer row could not be read")
        }
    }
}

/// Random ids: 128 bits from the system's secure generator, so ids cannot be guessed and two
/// instances never collide.
public enum RandomIds {
    public static func make(_ prefix: String) -> String {
        var generator = SystemRandomNumberGenerator()
        return prefix + hex(generator.next()) + hex(generator.next())
    }

    private static func hex(_ value: UInt64) -> String {
        let text = String(value, radix: 16)
        return String(repeating: "0", count: 16 - text.count) + text
    }
}

/// Pickup codes: drawn from the system's secure generator, shown once, stored as SHA-256 of the
/// order id and the code (the same code on two orders hashes differently).
enum PickupCodes {
    /// 32 symbols without the look-alikes 0/O and 1/I: a draw of 5 bits is exactly uniform.
    static let alphabet = Array("ABCDEFGHJKLMNPQRSTUVWXYZ23456789")

    static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        return String((0..<Limits.pickupCodeLength).map { _ in alphabet[Int(generator.next() & 31 as UInt64)] })
    }

    /// Codes are read aloud and typed: case and surrounding spaces do not matter.
    static func hash(_ code: String, orderId: String) -> [UInt8] {
        let normalized = code.trimmingCharacters(in: .whitespaces).uppercased()
        return Array(SHA256.hash(data: Data((orderId + ":" + normalized).utf8)))
    }

    /// Compares in time independent of where the first difference is.
    static func equal(_ left: [UInt8], _ right: [UInt8]) -> Bool {
        guard left.count == right.count else { return false }
        var difference: UInt8 = 0
        for index in left.indices { difference |= left[index] ^ right[index] }
        return difference == 0
    }
}
