import Foundation
import Logging
import OmnistockCore
import PostgresNIO

/// Creating orders: from a hold (its lines, held → allocated) or by sourcing (all or nothing),
/// once per order number.
extension OrderStore {
    /// What a creation decided, on the rows it locked.
    private struct Decided {
        var events: [LedgerEvent]
        var locked: [StockKey: PositionRecord]
        var holds: [HoldRecord]
        var nowMs: Int64
    }

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
        let orderId = RecordIds.make("ord_")
        let decided: Decided
        if let holdId = request.holdId {
            switch try await decideFromHold(holdId, request: request, orderId: orderId, principal: principal, on: connection) {
            case .made(let existing): return existing
            case .decided(let from): decided = from
            }
        } else {
            decided = try await decideBySourcing(request, orderId: orderId, principal: principal, on: connection)
        }
        // The same number may have been created while this request waited for its locks.
        if let existing = try await orderRow("order_number", request.orderNumber, lock: false, on: connection) {
            try await LedgerTransaction.open(on: connection, nowMs: decided.nowMs, logger: logger, positions: decided.locked).finish(using: events)
            try authorizeRead(principal, existing.order)
            return OrderCreation(record: existing, pickupCode: nil, created: false)
        }
        return try await write(decided, request: request, orderId: orderId, metadata: metadata, on: connection)
    }

    private enum FromHold {
        /// The hold was converted already: the order it made.
        case made(OrderCreation)
        case decided(Decided)
    }

    /// Decides the conversion of a hold, with its positions locked.
    private func decideFromHold(
        _ holdId: String, request: OrderRequest, orderId: String, principal: Principal, on connection: PostgresConnection
    ) async throws -> FromHold {
        guard let first = try await holdRow(holdId, on: connection) else { throw Rejections(.inLine(path: "", .unknownHold(holdId: holdId))) }
        if let refusal = Access.authorize(principal, .createOrders, hold: first.hold, fulfilment: request.fulfilment) { throw Rejections(refusal) }
        // Every change to a hold locks its positions first, so with them locked the hold read
        // again is the hold as it stands.
        let (locked, nowMs) = try await stock.lock(first.hold.keys, on: connection)
        guard let hold = try await holdRow(holdId, on: connection) else { throw Rejections(.inLine(path: "", .unknownHold(holdId: holdId))) }
        if hold.hold.recordedStatus == .converted, let existing = try await orderRow("hold_id", holdId, lock: false, on: connection) {
            return .made(OrderCreation(record: existing, pickupCode: nil, created: false))
        }
        // The locations as they stand: one may have stopped shipping or being a pickup point
        // since the hold was placed, and the order is refused as a direct one would be.
        let ids = Set(hold.hold.lines.map(\.locationId) + [hold.hold.fulfilment, request.fulfilment].compactMap { $0?.pickupLocationId })
        let locations = try await Self.locations(ids.sorted(), on: connection, logger: logger)
        let events = try Orders.decide(convert: hold.hold, request: request, orderId: orderId, nowMs: nowMs, locations: locations).get()
        return .decided(Decided(events: events, locked: locked, holds: [hold], nowMs: nowMs))
    }

    /// Decides a direct order by sourcing, within daily capacity under concurrency: the
    /// locations sourcing chose are locked (in id order, after the positions) and their orders
    /// of the day counted again; when another order took a last slot meanwhile, the decision is
    /// made again without it.
    private func decideBySourcing(
        _ request: OrderRequest, orderId: String, principal: Principal, on connection: PostgresConnection
    ) async throws -> Decided {
        if let refusal = Access.authorize(principal, .createOrders, locations: request.namedLocations.filter(Identifier.isValid)) {
            throw Rejections(refusal)
        }
        let sourcing = try await sourcingInput(skus: request.lines.map(\.sku), lock: true, on: connection)
        var input = sourcing.input
        // A bound key sources among its own locations (and its pickup point), as holds do.
        if case .only(let ids) = principal.scope {
            let allowed = ids.union(request.namedLocations)
            input.locations = input.locations.filter { allowed.contains($0.key) }
        }
        for _ in 0..<Limits.capacityRecheckMax {
            let events = try Orders.decide(
                create: request, orderId: orderId, transferIds: Self.transferIds(for: input), nowMs: sourcing.nowMs, input: input
            ).get()
            // Only locations with a daily capacity are locked and counted: one without a limit
            // cannot be filled, and its orders need not queue on its row.
            let chosen = Set(events.flatMap(\.locationIds)).subtracting(request.namedLocations)
            let limited = chosen.compactMap { id in input.locations[id]?.dailyCapacity.map { (id, $0) } }.sorted { $0.0 < $1.0 }
            let counts = try await lockAndCount(limited.map(\.0), day: Orders.day(ofMs: sourcing.nowMs), on: connection)
            let full = limited.filter { counts[$0.0, default: 0] >= $0.1 }
            if full.isEmpty {
                // A bound key may only create orders served by its own locations.
                let used = Set(events.flatMap(\.locationIds))
                if let refusal = Access.authorize(principal, .createOrders, locations: used.sorted()) { throw Rejections(refusal) }
                return Decided(events: events, locked: sourcing.locked, holds: [], nowMs: sourcing.nowMs)
            }
            input.ordersToday.merge(counts) { $1 }
        }
        throw Rejections(.concurrentModification(stream: "daily capacity"))
    }

    /// Writes a new order: its pickup code's and tracking token's hashes first (the ledger head, which serialises
    /// appends, is then held for the append and the commit only), then the ledger transaction.
    private func write(
        _ decided: Decided, request: OrderRequest, orderId: String, metadata: EventMetadata, on connection: PostgresConnection
    ) async throws -> OrderCreation {
        var code: String?
        let pickup = decided.events.contains { event in
            if case .order(let recorded) = event { return recorded.order.pickupLocationId != nil }
            return false
        }
        // Both secrets in one statement: a pickup order costs no round trip more than before.
        let tracking = TrackingTokens.make()
        let trackingHash = ByteBuffer(bytes: TrackingTokens.hash(tracking))
        if pickup {
            let made = PickupCodes.make()
            try await connection.query(
                """
                WITH code AS (INSERT INTO pickup_codes (order_id, code_hash) VALUES (\(orderId), \(ByteBuffer(bytes: PickupCodes.hash(made, orderId: orderId)))))
                INSERT INTO tracking_tokens (order_id, token_hash, created_at_ms) VALUES (\(orderId), \(trackingHash), \(decided.nowMs))
                """,
                logger: logger)
            code = made
        } else {
            try await connection.query(TrackingTokens.insert(orderId: orderId, token: tracking, nowMs: decided.nowMs), logger: logger)
        }
        let written: LedgerTransaction
        do {
            written = try await record(
                decided.events, nowMs: decided.nowMs, locked: decided.locked, holds: decided.holds, metadata: metadata, on: connection)
        } catch where error.sqlState == "23505" {
            // Another request created this order number at the same moment on other stock; the
            // retry finds that order and answers with it.
            throw Rejections(.concurrentModification(stream: "order-number \(request.orderNumber)"))
        }
        guard let record = written.order(orderId) else { preconditionFailure("an order creation wrote no order") }
        return OrderCreation(record: record, pickupCode: code, trackingToken: tracking, created: true)
    }
}
