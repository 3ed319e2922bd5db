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
    /// The tracking link's token, in clear, only when this call created the order.
    public var trackingToken: String? = nil
    /// False when the order number (or the hold) had already made this order.
    public var created: Bool
}

/// Orders, store work, no-shows, returns, transfers and the sourcing preview: each write is
/// one transaction that locks the order (or transfer) row, then the positions in (sku,
/// location) order, decides with the core at the database clock read once the locks are held,
/// and records what it decided through one `LedgerTransaction`. Orders are not the hot path
/// holds are, so each of these requests has its own transaction (the everyday store steps go
/// through the `OrderStepWriter`). The work is split by subject: creation, store steps,
/// no-shows, transfers and sourcing each have a file.
public struct OrderStore: Sendable {
    let database: Database
    let events: EventStore
    let logger: Logger

    public init(database: Database, events: EventStore, logger: Logger) {
        self.database = database
        self.events = events
        self.logger = logger
    }

    var stock: StockStore { StockStore(events: events, logger: logger) }

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

    /// The order of an order number (unique), for a return taken at any store.
    public func order(number: String) async throws -> OrderRecord? {
        try await database.withConnection { connection in
            try await orderRow("order_number", number, lock: false, on: connection)
        }
    }

    /// A page of the transfers to a location, in id order after a cursor (an id), of the given
    /// statuses.
    public func transfers(
        toLocationId: String, statuses: [TransferStatus], after: String?, limit: Int
    ) async throws -> [TransferRecord] {
        precondition(limit > 0 && !statuses.isEmpty, "a transfer page needs a size and a status")
        return try await database.withConnection { connection in
            try await documents(
                """
                SELECT document, version FROM transfers
                 WHERE to_location_id = \(toLocationId) AND status = ANY(\(statuses.map(\.rawValue))::text[]) AND id > \(after ?? "")
                 ORDER BY id LIMIT \(limit)
                """,
                on: connection
            ).map(Self.transfer)
        }
    }

    public func transfer(id: String) async throws -> TransferRecord? {
        try await database.withConnection { connection in
            try await documents("SELECT document, version FROM transfers WHERE id = \(id)", on: connection).first.map(Self.transfer)
        }
    }

    // MARK: - Recording

    /// Records what the core decided: the rows the events leave and the events, in one ledger
    /// transaction on the rows this request locked and read. With no events it still removes
    /// the vacant rows locking created.
    func record(
        _ decided: [LedgerEvent], nowMs: Int64, locked: [StockKey: PositionRecord], orders: [OrderRecord] = [],
        transfers: [TransferRecord] = [], holds: [HoldRecord] = [], metadata: EventMetadata, on connection: PostgresConnection
    ) async throws -> LedgerTransaction {
        var transaction = try await LedgerTransaction.open(
            on: connection, nowMs: nowMs, logger: logger, positions: locked, holds: holds, orders: orders, transfers: transfers)
        transaction.apply(decided, metadata: metadata)
        try await transaction.finish(using: events)
        return transaction
    }

    // MARK: - Locks and rows

    /// Locks these locations' rows (in id order) and counts their orders of `day` as committed now.
    func lockAndCount(_ ids: [String], day: Int64, on connection: PostgresConnection) async throws -> [String: Int64] {
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
    func orderRow(_ column: String, _ value: String, lock: Bool, on connection: PostgresConnection) async throws -> OrderRecord? {
        var binds = PostgresBindings()
        binds.append(value)
        let sql = "SELECT document, version FROM orders WHERE \(column) = $1" + (lock ? " FOR UPDATE" : "")
        return try await documents(PostgresQuery(unsafeSQL: sql, binds: binds), on: connection).first.map(Self.order)
    }

    func holdRow(_ id: String, on connection: PostgresConnection) async throws -> HoldRecord? {
        let rows = try await connection.query("SELECT \(unescaped: HoldStore.columns) FROM holds WHERE id = \(id)", logger: logger).collect()
        return try rows.first.map(HoldStore.record)
    }

    /// Whether the caller may take this step on this order (the core's rule).
    static func authorize(_ principal: Principal, _ command: OrderCommand, _ action: OrderAction, _ order: Order) throws {
        if let refusal = Access.authorize(principal, command.operation, step: action, order: order) { throw Rejections(refusal) }
    }

    /// Whether the caller may see this order (the core's rule).
    public func authorizeRead(_ principal: Principal, _ order: Order) throws {
        try Self.authorizeRead(principal, order)
    }

    static func authorizeRead(_ principal: Principal, _ order: Order) throws {
        if let refusal = Access.authorizeRead(principal, order: order) { throw Rejections(refusal) }
    }

    /// Rows of (document, version).
    func documents(_ query: PostgresQuery, on connection: PostgresConnection) async throws -> [(String, Int64)] {
        var rows: [(String, Int64)] = []
        for try await row in try await connection.query(query, logger: logger).decode((String, Int64).self) { rows.append(row) }
        return rows
    }

    static func order(_ row: (String, Int64)) throws -> OrderRecord {
        if let order = OrderJSON.order(row.0) { return OrderRecord(order: order, version: row.1) }
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

