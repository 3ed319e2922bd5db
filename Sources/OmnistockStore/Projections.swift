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

/// Folds ledger events into projection state in memory: the replay half of every projection.
public struct Projector: Sendable {
    public private(set) var locations: [String: LocationRecord] = [:]
    public private(set) var positions: [StockKey: PositionRecord] = [:]

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
        default:
            let key = event.stockKey!
            let previous = positions[key]?.position ?? .empty
            positions[key] = PositionRecord(key: key, position: StockLedger.evolve(previous, event), version: streamVersion)
        }
    }
}
