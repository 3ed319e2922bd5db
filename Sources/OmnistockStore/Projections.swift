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
        case .holdPlaced, .holdExtended, .holdReleased, .holdExpired:
            applyHold(event.holdId!, event, streamVersion: streamVersion)
        default:
            let key = event.stockKey!
            let previous = positions[key]?.position ?? .empty
            positions[key] = PositionRecord(key: key, position: StockLedger.evolve(previous, event), version: streamVersion)
        }
    }

    private mutating func applyHold(_ id: String, _ event: LedgerEvent, streamVersion: Int64) {
        // Holds.evolve traps on an event of an unknown hold (anything but its placement).
        holds[id] = HoldRecord(hold: Holds.evolve(holds[id]?.hold, event), version: streamVersion)
        applyHeld(event)
    }

    /// A hold changes the held bucket of positions whose stream it does not belong to: their
    /// versions stay those of their own streams.
    private mutating func applyHeld(_ event: LedgerEvent) {
        for (key, delta) in Holds.heldChanges(event) {
            guard var record = positions[key] else { preconditionFailure("a hold line on a position the ledger never stocked") }
            record.position = Holds.evolve(record.position, held: delta)
            positions[key] = record
        }
    }
}
