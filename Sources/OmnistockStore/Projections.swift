import Foundation
import Logging
import OmnistockCore
import PostgresNIO

/// A stock position as the projection holds it.
public struct PositionRecord: Sendable, Equatable {
    public var key: StockKey
    public var position: StockPosition
    /// The version of the position's ledger stream.
    public var version: Int64

    public init(key: StockKey, position: StockPosition, version: Int64) {
        self.key = key
        self.position = position
        self.version = version
    }
}

extension PositionRecord {
    /// A row no event of its stream wrote and with nothing in any bucket: locked (created) to
    /// decide, and not a position of the ledger.
    var isVacant: Bool {
        version == 0 && position.onHand == 0 && position.held == 0 && position.allocated == 0 && position.incoming == 0
    }
}

/// A hold as the projection holds it.
public struct HoldRecord: Sendable, Equatable {
    public var hold: Hold
    /// The version of the hold's ledger stream.
    public var version: Int64

    public init(hold: Hold, version: Int64) {
        self.hold = hold
        self.version = version
    }
}

/// An order as the projection holds it.
public struct OrderRecord: Sendable, Equatable {
    public var order: Order
    public var version: Int64

    public init(order: Order, version: Int64) {
        self.order = order
        self.version = version
    }
}

/// A transfer as the projection holds it.
public struct TransferRecord: Sendable, Equatable {
    public var transfer: Transfer
    public var version: Int64

    public init(transfer: Transfer, version: Int64) {
        self.transfer = transfer
        self.version = version
    }
}

/// An order given to a location on one UTC day (what daily capacity counts).
public struct OrderAssignment: Hashable, Comparable, Sendable {
    public var locationId: String
    public var day: Int64
    public var orderId: String

    public static func < (lhs: Self, rhs: Self) -> Bool {
        (lhs.locationId, lhs.day, lhs.orderId) < (rhs.locationId, rhs.day, rhs.orderId)
    }
}

/// Writes projection rows. The live write path and `replay`/`verify` use these same functions,
/// into the live tables or into scratch copies, so a rebuilt projection is written exactly as a
/// live one.
public enum ProjectionWriter {
    /// Inserts or replaces location rows in `table`.
    static func upsertLocations(_ records: [LocationRecord], table: String = "locations", on connection: PostgresConnection, logger: Logger) async throws {
        guard !records.isEmpty else { return }
        let locations = records.map(\.location)
        try await connection.query(
            """
            INSERT INTO \(unescaped: table) (id, name, kind, latitude, longitude, pickup, ships, daily_capacity, priority,
                                   pickup_window_days, active, safety_stock_default, version, created_at, updated_at)
            SELECT * FROM unnest(\(locations.map(\.id))::text[], \(locations.map(\.name))::text[],
                                 \(locations.map(\.kind.rawValue))::text[], \(locations.map(\.latitude))::float8[],
                                 \(locations.map(\.longitude))::float8[], \(locations.map(\.capabilities.pickup))::bool[],
                                 \(locations.map(\.capabilities.ships))::bool[], \(locations.map(\.dailyCapacity))::bigint[],
                                 \(locations.map(\.priority))::bigint[], \(locations.map(\.pickupWindowDays))::bigint[],
                                 \(locations.map(\.active))::bool[], \(locations.map(\.safetyStockDefault))::bigint[],
                                 \(records.map(\.version))::bigint[], \(records.map(\.createdAt))::timestamptz[],
                                 \(records.map(\.updatedAt))::timestamptz[])
            ON CONFLICT (id) DO UPDATE SET
                name = excluded.name, kind = excluded.kind, latitude = excluded.latitude, longitude = excluded.longitude,
                pickup = excluded.pickup, ships = excluded.ships, daily_capacity = excluded.daily_capacity,
                priority = excluded.priority, pickup_window_days = excluded.pickup_window_days, active = excluded.active,
                safety_stock_default = excluded.safety_stock_default, version = excluded.version,
                created_at = excluded.created_at, updated_at = excluded.updated_at
            """,
            logger: logger)
    }

    /// Inserts or replaces stock position rows in `table`.
    static func upsertPositions(_ records: [PositionRecord], table: String = "stock_positions", on connection: PostgresConnection, logger: Logger) async throws {
        guard !records.isEmpty else { return }
        var query = QueryBuilder()
        query.sql = try positionsSQL(records, table: table, into: &query)
        try await connection.query(query.query, logger: logger)
    }

    /// The upsert of position rows, its values bound in `query`.
    static func positionsSQL(_ records: [PositionRecord], table: String, into query: inout QueryBuilder) throws -> String {
        // Arrays of optionals do not bind; -1 stands for "no own safety stock" (quantities are >= 0).
        let safety = records.map { $0.position.safetyStock ?? -1 }
        let counted = records.map { $0.position.lastCountedAtMs ?? -1 }
        return """
            INSERT INTO \(table) (sku, location_id, on_hand, held, allocated, safety_stock, incoming, last_counted_at_ms, version)
            SELECT sku, location_id, on_hand, held, allocated, nullif(safety_stock, -1), incoming, nullif(counted, -1), version
              FROM unnest(\(try query.bind(records.map(\.key.sku)))::text[], \(try query.bind(records.map(\.key.locationId)))::text[],
                          \(try query.bind(records.map(\.position.onHand)))::bigint[], \(try query.bind(records.map(\.position.held)))::bigint[],
                          \(try query.bind(records.map(\.position.allocated)))::bigint[], \(try query.bind(safety))::bigint[],
                          \(try query.bind(records.map(\.position.incoming)))::bigint[], \(try query.bind(counted))::bigint[],
                          \(try query.bind(records.map(\.version)))::bigint[])
                   AS r(sku, location_id, on_hand, held, allocated, safety_stock, incoming, counted, version)
            ON CONFLICT (sku, location_id) DO UPDATE SET
                on_hand = excluded.on_hand, held = excluded.held, allocated = excluded.allocated,
                safety_stock = excluded.safety_stock, incoming = excluded.incoming,
                last_counted_at_ms = excluded.last_counted_at_ms, version = excluded.version
            """
    }
}

extension ProjectionWriter {
    /// The JSON text stored for a hold's fulfilment and unfilled lines (deterministic: sorted keys).
    static func holdTexts(_ hold: Hold) -> (fulfilment: String?, unfilled: String) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let fulfilment = hold.fulfilment.map { String(decoding: (try? encoder.encode($0)) ?? Data(), as: UTF8.self) }
        let unfilled = hold.unfilled.isEmpty ? "[]" : String(decoding: (try? encoder.encode(hold.unfilled)) ?? Data("[]".utf8), as: UTF8.self)
        return (fulfilment, unfilled)
    }

    /// Inserts or replaces hold rows in `table`.
    static func upsertHolds(_ records: [HoldRecord], table: String = "holds", on connection: PostgresConnection, logger: Logger) async throws {
        guard !records.isEmpty else { return }
        var query = QueryBuilder()
        query.sql = try holdsSQL(records, table: table, into: &query)
        try await connection.query(query.query, logger: logger)
    }

    /// The upsert of hold rows, its values bound in `query`. Lines travel as `;`-joined text
    /// (identifiers never contain `;`) because arrays of arrays do not bind.
    static func holdsSQL(_ records: [HoldRecord], table: String, into query: inout QueryBuilder) throws -> String {
        var fulfilments: [String] = []
        var unfilled: [String] = []
        for record in records {
            let texts = holdTexts(record.hold)
            // Arrays of optionals do not bind; "" stands for none (a fulfilment is never empty).
            fulfilments.append(texts.fulfilment ?? "")
            unfilled.append(texts.unfilled)
        }
        let holds = records.map(\.hold)
        return """
            INSERT INTO \(table) (id, status, reference, fulfilment, allow_partial, line_skus, line_locations, line_quantities,
                                   unfilled, placed_at_ms, expires_at_ms, ended_at_ms, updated_at_ms, version)
            SELECT id, status, nullif(reference, ''), nullif(fulfilment, ''), allow_partial, string_to_array(skus, ';'),
                   string_to_array(locations, ';'), string_to_array(quantities, ';')::bigint[], unfilled, placed, expires,
                   nullif(ended, -1), updated, version
              FROM unnest(\(try query.bind(holds.map(\.id)))::text[], \(try query.bind(holds.map(\.recordedStatus.rawValue)))::text[],
                          \(try query.bind(holds.map { $0.reference ?? "" }))::text[], \(try query.bind(fulfilments))::text[],
                          \(try query.bind(holds.map(\.allowPartial)))::bool[],
                          \(try query.bind(holds.map { $0.lines.map(\.sku).joined(separator: ";") }))::text[],
                          \(try query.bind(holds.map { $0.lines.map(\.locationId).joined(separator: ";") }))::text[],
                          \(try query.bind(holds.map { $0.lines.map { String($0.quantity) }.joined(separator: ";") }))::text[],
                          \(try query.bind(unfilled))::text[], \(try query.bind(holds.map(\.placedAtMs)))::bigint[],
                          \(try query.bind(holds.map(\.expiresAtMs)))::bigint[], \(try query.bind(holds.map { $0.endedAtMs ?? -1 }))::bigint[],
                          \(try query.bind(holds.map(\.updatedAtMs)))::bigint[], \(try query.bind(records.map(\.version)))::bigint[])
                   AS h(id, status, reference, fulfilment, allow_partial, skus, locations, quantities, unfilled, placed, expires,
                        ended, updated, version)
            ON CONFLICT (id) DO UPDATE SET
                status = excluded.status, reference = excluded.reference, fulfilment = excluded.fulfilment,
                allow_partial = excluded.allow_partial, line_skus = excluded.line_skus, line_locations = excluded.line_locations,
                line_quantities = excluded.line_quantities, unfilled = excluded.unfilled, placed_at_ms = excluded.placed_at_ms,
                expires_at_ms = excluded.expires_at_ms, ended_at_ms = excluded.ended_at_ms,
                updated_at_ms = excluded.updated_at_ms, version = excluded.version
            """
    }

    /// Makes `active_hold_lines` hold exactly the lines of these holds that are active: lines of
    /// holds that existed before (`replacing`) are removed first, then active ones inserted.
    static func writeActiveLines(
        _ holds: [Hold], replacing existing: [String], table: String = "active_hold_lines", on connection: PostgresConnection, logger: Logger
    ) async throws {
        if !existing.isEmpty {
            try await connection.query("DELETE FROM \(unescaped: table) WHERE hold_id = ANY(\(existing)::text[])", logger: logger)
        }
        var query = QueryBuilder()
        query.sql = try activeLinesSQL(holds, table: table, into: &query)
        try await connection.query(query.query, logger: logger)
    }

    /// The insert of the active holds' lines, its values bound in `query` (no rows when none is active).
    static func activeLinesSQL(_ holds: [Hold], table: String, into query: inout QueryBuilder) throws -> String {
        var ids: [String] = []
        var numbers: [Int32] = []
        var skus: [String] = []
        var locations: [String] = []
        var quantities: [Int64] = []
        var expiries: [Int64] = []
        for hold in holds where hold.recordedStatus == .active {
            for (index, line) in hold.lines.enumerated() {
                ids.append(hold.id)
                numbers.append(Int32(index + 1))
                skus.append(line.sku)
                locations.append(line.locationId)
                quantities.append(line.quantity)
                expiries.append(hold.expiresAtMs)
            }
        }
        return """
            INSERT INTO \(table) (hold_id, line_no, sku, location_id, quantity, expires_at_ms)
            SELECT * FROM unnest(\(try query.bind(ids))::text[], \(try query.bind(numbers))::int4[], \(try query.bind(skus))::text[],
                                 \(try query.bind(locations))::text[], \(try query.bind(quantities))::bigint[], \(try query.bind(expiries))::bigint[])
            """
    }

    /// What a hold batch changes in the projections, in one statement: positions, holds and the
    /// active lines (lines of holds that existed before are removed first, apart: a statement
    /// cannot delete and re-insert the same key).
    static func writeHoldBatch(
        positions: [PositionRecord], holds: [HoldRecord], replacing existing: [String], on connection: PostgresConnection, logger: Logger
    ) async throws {
        if !existing.isEmpty {
            try await connection.query("DELETE FROM active_hold_lines WHERE hold_id = ANY(\(existing)::text[])", logger: logger)
        }
        var query = QueryBuilder()
        let positionsSQL = try positionsSQL(positions, table: "stock_positions", into: &query)
        let holdsSQL = try holdsSQL(holds, table: "holds", into: &query)
        let linesSQL = try activeLinesSQL(holds.map(\.hold), table: "active_hold_lines", into: &query)
        query.sql = "WITH p AS (\(positionsSQL)), h AS (\(holdsSQL))\n\(linesSQL)"
        try await connection.query(query.query, logger: logger)
    }
}

extension ProjectionWriter {
    /// The JSON text a document column holds: sorted keys, so a rebuild writes the same text.
    static func document<Value: Encodable>(_ value: Value) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// Inserts or replaces order rows in `table`.
    static func upsertOrders(_ records: [OrderRecord], table: String = "orders", on connection: PostgresConnection, logger: Logger) async throws {
        guard !records.isEmpty else { return }
        let orders = records.map(\.order)
        let documents = try orders.map { try document($0) }
        try await connection.query(
            PostgresQuery(unsafeSQL: """
                INSERT INTO \(table) (id, order_number, hold_id, status, location_ids, created_at_ms, pickup_expires_at_ms, document, version)
                SELECT id, number, nullif(hold, ''), status, string_to_array(locations, ';'), created, nullif(expires, -1), document, version
                  FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::text[], $9::bigint[])
                       AS o(id, number, hold, status, locations, created, expires, document, version)
                ON CONFLICT (id) DO UPDATE SET
                    status = excluded.status, location_ids = excluded.location_ids,
                    pickup_expires_at_ms = excluded.pickup_expires_at_ms, document = excluded.document, version = excluded.version
                """,
                binds: try bindings(
                    orders.map(\.id), orders.map(\.orderNumber), orders.map { $0.holdId ?? "" }, orders.map(\.status.rawValue),
                    orders.map { $0.queueLocationIds.joined(separator: ";") }, orders.map(\.createdAtMs),
                    orders.map { $0.status == .ready ? ($0.pickupExpiresAtMs ?? -1) : -1 }, documents, records.map(\.version))),
            logger: logger)
    }

    /// Inserts or replaces transfer rows in `table`.
    static func upsertTransfers(_ records: [TransferRecord], table: String = "transfers", on connection: PostgresConnection, logger: Logger) async throws {
        guard !records.isEmpty else { return }
        let transfers = records.map(\.transfer)
        let documents = try transfers.map { try document($0) }
        try await connection.query(
            PostgresQuery(unsafeSQL: """
                INSERT INTO \(table) (id, status, from_location_id, to_location_id, order_id, document, version)
                SELECT id, status, source, destination, nullif(order_id, ''), document, version
                  FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[])
                       AS t(id, status, source, destination, order_id, document, version)
                ON CONFLICT (id) DO UPDATE SET status = excluded.status, document = excluded.document, version = excluded.version
                """,
                binds: try bindings(
                    transfers.map(\.id), transfers.map(\.status.rawValue), transfers.map(\.fromLocationId), transfers.map(\.toLocationId),
                    transfers.map { $0.orderId ?? "" }, documents, records.map(\.version))),
            logger: logger)
    }

    /// Inserts order assignments into `table`.
    static func insertAssignments(
        _ assignments: [OrderAssignment], table: String = "order_assignments", on connection: PostgresConnection, logger: Logger
    ) async throws {
        guard !assignments.isEmpty else { return }
        let rows = assignments.sorted()
        try await connection.query(
            PostgresQuery(unsafeSQL: """
                INSERT INTO \(table) (location_id, day, order_id)
                SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[])
                """,
                binds: try bindings(rows.map(\.locationId), rows.map(\.day), rows.map(\.orderId))),
            logger: logger)
    }

    /// The assignments an event makes (creation and re-sourcing).
    static func assignments(_ event: LedgerEvent) -> [OrderAssignment] {
        guard case .order(let recorded) = event else { return [] }
        let day = Orders.day(ofMs: recorded.occurredAtMs)
        return recorded.assigned.map { OrderAssignment(locationId: $0, day: day, orderId: recorded.order.id) }
    }

    private static func bindings(_ values: any PostgresThrowingDynamicTypeEncodable...) throws -> PostgresBindings {
        var binds = PostgresBindings()
        for value in values { try binds.append(value) }
        return binds
    }
}

/// SQL text with `$n` placeholders and the values bound to them, for statements assembled from
/// several pieces (one round trip instead of one per piece).
struct QueryBuilder {
    var sql = ""
    var binds = PostgresBindings()

    /// Binds a value and returns its placeholder.
    mutating func bind<Value: PostgresThrowingDynamicTypeEncodable>(_ value: Value) throws -> String {
        try binds.append(value)
        return "$\(binds.count)"
    }

    var query: PostgresQuery { PostgresQuery(unsafeSQL: sql, binds: binds) }
}

/// Folds ledger events into projection state in memory: the replay half of every projection.
public struct Projector: Sendable {
    public private(set) var locations: [String: LocationRecord] = [:]
    public private(set) var positions: [StockKey: PositionRecord] = [:]
    public private(set) var holds: [String: HoldRecord] = [:]
    public private(set) var orders: [String: OrderRecord] = [:]
    public private(set) var transfers: [String: TransferRecord] = [:]
    public private(set) var assignments: Set<OrderAssignment> = []

    public init() {}

    /// Applies one recorded event.
    public mutating func apply(_ event: LedgerEvent, streamVersion: Int64, recordedAt: Date) {
        switch event {
        case .locationDefined(let defined):
            let previous = locations[defined.location.id]
            guard let location = LocationStream.evolve(previous?.location, event) else {
                preconditionFailure("a location.defined event produced no location")
            }
            locations[location.id] = LocationRecord(
                location: location, version: streamVersion, createdAt: previous?.createdAt ?? recordedAt, updatedAt: recordedAt)
        case .holdPlaced, .holdExtended, .holdReleased, .holdExpired, .holdConverted:
            applyHold(event.holdId!, event, streamVersion: streamVersion)
        case .order(let recorded):
            orders[recorded.order.id] = OrderRecord(order: Orders.evolve(orders[recorded.order.id]?.order, event), version: streamVersion)
            applyChanges(event)
            assignments.formUnion(ProjectionWriter.assignments(event))
        case .transfer(let recorded):
            let id = recorded.transfer.id
            transfers[id] = TransferRecord(transfer: Transfers.evolve(transfers[id]?.transfer, event), version: streamVersion)
            applyChanges(event)
        default:
            let key = event.stockKey!
            let previous = positions[key]?.position ?? .empty
            positions[key] = PositionRecord(key: key, position: StockLedger.evolve(previous, event), version: streamVersion)
        }
    }

    private mutating func applyHold(_ id: String, _ event: LedgerEvent, streamVersion: Int64) {
        // Holds.evolve traps on an event of an unknown hold (anything but its placement).
        holds[id] = HoldRecord(hold: Holds.evolve(holds[id]?.hold, event), version: streamVersion)
        applyChanges(event)
    }

    /// Holds, orders and transfers change the promised buckets of positions whose streams they
    /// do not belong to: their versions stay those of their own streams. Only `incoming` may
    /// reach a position the ledger never stocked (a transfer to a new store); its row has
    /// version 0 until the goods are recorded there.
    private mutating func applyChanges(_ event: LedgerEvent) {
        for change in event.positionChanges {
            var record = positions[change.key] ?? PositionRecord(key: change.key, position: .empty, version: 0)
            precondition(record.version > 0 || (change.held == 0 && change.allocated == 0), "a promise on a position the ledger never stocked")
            record.position = record.position.applying(change)
            positions[change.key] = record
        }
    }
}
