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
        // Arrays of optionals do not bind; -1 stands for "no own safety stock" (quantities are >= 0).
        let safety = records.map { $0.position.safetyStock ?? -1 }
        let counted = records.map { $0.position.lastCountedAtMs ?? -1 }
        try await connection.query(
            """
            INSERT INTO \(unescaped: table) (sku, location_id, on_hand, held, allocated, safety_stock, incoming, last_counted_at_ms, version)
            SELECT sku, location_id, on_hand, held, allocated, nullif(safety_stock, -1), incoming, nullif(counted, -1), version
              FROM unnest(\(records.map(\.key.sku))::text[], \(records.map(\.key.locationId))::text[],
                          \(records.map(\.position.onHand))::bigint[], \(records.map(\.position.held))::bigint[],
                          \(records.map(\.position.allocated))::bigint[], \(safety)::bigint[],
                          \(records.map(\.position.incoming))::bigint[], \(counted)::bigint[], \(records.map(\.version))::bigint[])
                   AS r(sku, location_id, on_hand, held, allocated, safety_stock, incoming, counted, version)
            ON CONFLICT (sku, location_id) DO UPDATE SET
                on_hand = excluded.on_hand, held = excluded.held, allocated = excluded.allocated,
                safety_stock = excluded.safety_stock, incoming = excluded.incoming,
                last_counted_at_ms = excluded.last_counted_at_ms, version = excluded.version
            """,
            logger: logger)
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

    /// Inserts or replaces hold rows in `table`. Lines travel as `;`-joined text (identifiers
    /// never contain `;`) because arrays of arrays do not bind.
    static func upsertHolds(_ records: [HoldRecord], table: String = "holds", on connection: PostgresConnection, logger: Logger) async throws {
        guard !records.isEmpty else { return }
        var fulfilments: [String] = []
        var unfilled: [String] = []
        for record in records {
            let texts = holdTexts(record.hold)
            // Arrays of optionals do not bind; "" stands for none (a fulfilment is never empty).
            fulfilments.append(texts.fulfilment ?? "")
            unfilled.append(texts.unfilled)
        }
        let holds = records.map(\.hold)
        try await connection.query(
            """
            INSERT INTO \(unescaped: table) (id, status, reference, fulfilment, allow_partial, line_skus, line_locations, line_quantities,
                                   unfilled, placed_at_ms, expires_at_ms, ended_at_ms, updated_at_ms, version)
            SELECT id, status, nullif(reference, ''), nullif(fulfilment, ''), allow_partial, string_to_array(skus, ';'),
                   string_to_array(locations, ';'), string_to_array(quantities, ';')::bigint[], unfilled, placed, expires,
                   nullif(ended, -1), updated, version
              FROM unnest(\(holds.map(\.id))::text[], \(holds.map(\.recordedStatus.rawValue))::text[],
                          \(holds.map { $0.reference ?? "" })::text[], \(fulfilments)::text[], \(holds.map(\.allowPartial))::bool[],
                          \(holds.map { $0.lines.map(\.sku).joined(separator: ";") })::text[],
                          \(holds.map { $0.lines.map(\.locationId).joined(separator: ";") })::text[],
                          \(holds.map { $0.lines.map { String($0.quantity) }.joined(separator: ";") })::text[],
                          \(unfilled)::text[], \(holds.map(\.placedAtMs))::bigint[], \(holds.map(\.expiresAtMs))::bigint[],
                          \(holds.map { $0.endedAtMs ?? -1 })::bigint[], \(holds.map(\.updatedAtMs))::bigint[],
                          \(records.map(\.version))::bigint[])
                   AS h(id, status, reference, fulfilment, allow_partial, skus, locations, quantities, unfilled, placed, expires,
                        ended, updated, version)
            ON CONFLICT (id) DO UPDATE SET
                status = excluded.status, reference = excluded.reference, fulfilment = excluded.fulfilment,
                allow_partial = excluded.allow_partial, line_skus = excluded.line_skus, line_locations = excluded.line_locations,
                line_quantities = excluded.line_quantities, unfilled = excluded.unfilled, placed_at_ms = excluded.placed_at_ms,
                expires_at_ms = excluded.expires_at_ms, ended_at_ms = excluded.ended_at_ms,
                updated_at_ms = excluded.updated_at_ms, version = excluded.version
            """,
            logger: logger)
    }

    /// Makes `active_hold_lines` hold exactly the lines of these holds that are active: lines of
    /// holds that existed before (`replacing`) are removed first, then active ones inserted.
    static func writeActiveLines(
        _ holds: [Hold], replacing existing: [String], table: String = "active_hold_lines", on connection: PostgresConnection, logger: Logger
    ) async throws {
        if !existing.isEmpty {
            try await connection.query("DELETE FROM \(unescaped: table) WHERE hold_id = ANY(\(existing)::text[])", logger: logger)
        }
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
        guard !ids.isEmpty else { return }
        try await connection.query(
            """
            INSERT INTO \(unescaped: table) (hold_id, line_no, sku, location_id, quantity, expires_at_ms)
            SELECT * FROM unnest(\(ids)::text[], \(numbers)::int4[], \(skus)::text[], \(locations)::text[],
                                 \(quantities)::bigint[], \(expiries)::bigint[])
            """,
            logger: logger)
    }
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
        case .holdPlaced(let placed):
            holds[placed.holdId] = HoldRecord(
                hold: Holds.evolve(nil, event), version: streamVersion)
            applyHeld(event)
        case .holdExtended(let extended):
            applyHold(extended.holdId, event, streamVersion: streamVersion)
        case .holdReleased(let released):
            applyHold(released.holdId, event, streamVersion: streamVersion)
        case .holdExpired(let expired):
            applyHold(expired.holdId, event, streamVersion: streamVersion)
        default:
            let key = event.stockKey!
            let previous = positions[key]?.position ?? .empty
            positions[key] = PositionRecord(key: key, position: StockLedger.evolve(previous, event), version: streamVersion)
        }
    }

    private mutating func applyHold(_ id: String, _ event: LedgerEvent, streamVersion: Int64) {
        guard var record = holds[id] else { preconditionFailure("an event of an unknown hold") }
        record.hold = Holds.evolve(record.hold, event)
        record.version = streamVersion
        holds[id] = record
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
