import Logging
import OmnistockCore
import PostgresNIO

/// The default safety stock of locations, read in a writer's transaction.
///
/// A location's default decides which of its positions are sellable, a KPI level that writers
/// count as it changes. A change of the default recounts every position of its location
/// (`LocationStore.define`), so it must see every position a concurrent writer stocks there:
/// a writer that may stock a new position (one of the rows it locked is at version 0) reads
/// that location's row `FOR SHARE`, so the change waits for its commit and then sees the new
/// row. Writers lock positions first and location rows after, everywhere, so these waits form
/// no cycle with the order writer's capacity locks.
enum LocationDefaults {
    /// The defaults of the locations of these positions.
    static func read(
        for positions: [StockKey: PositionRecord], on connection: PostgresConnection, logger: Logger
    ) async throws -> [String: Int64] {
        var shared = Set<String>()
        var plain = Set<String>()
        for (key, record) in positions {
            if record.version == 0 { shared.insert(key.locationId) } else { plain.insert(key.locationId) }
        }
        plain.subtract(shared)
        var defaults: [String: Int64] = [:]
        if !shared.isEmpty {
            let query: PostgresQuery =
                "SELECT id, safety_stock_default FROM locations WHERE id = ANY(\(shared.sorted())::text[]) ORDER BY id FOR SHARE"
            for try await (id, value) in try await connection.query(query, logger: logger).decode((String, Int64).self) { defaults[id] = value }
        }
        if !plain.isEmpty {
            for try await row in try await connection.run(PlainRead.self, PlainRead.query(plain.sorted()), logger: logger) {
                let (id, value) = try row.decode((String, Int64).self)
                defaults[id] = value
            }
        }
        return defaults
    }

    /// Locks every position of a location (in the order every writer locks positions) and
    /// reads them: what a change of its default recounts. Bounded: a location with more
    /// positions than `Limits.locationPositionsRecountMax` cannot change its default.
    static func lockPositions(at locationId: String, on connection: PostgresConnection, logger: Logger) async throws -> [StockKey: PositionRecord] {
        var positions: [StockKey: PositionRecord] = [:]
        let rows = try await connection.query(
            """
            SELECT \(unescaped: StockStore.columns) FROM stock_positions WHERE location_id = \(locationId)
             ORDER BY sku COLLATE "C", location_id COLLATE "C" LIMIT \(Limits.locationPositionsRecountMax + 1) FOR UPDATE
            """,
            logger: logger)
        for try await row in rows {
            let record = try StockStore.record(row)
            positions[record.key] = record
        }
        guard positions.count <= Limits.locationPositionsRecountMax else {
            throw Rejections(.tooMany(field: "safetyStockDefault (positions to recount)", countMax: Limits.locationPositionsRecountMax))
        }
        return positions
    }

    /// The read of `read` for locations none of whose positions is new (every writer's case
    /// but a first receipt).
    private enum PlainRead: StatementText {
        static let name = "location_defaults_read"
        static let sql = query([]).sql

        static func query(_ ids: [String]) -> PostgresQuery {
            "SELECT id, safety_stock_default FROM locations WHERE id = ANY(\(ids)::text[])"
        }
    }
}
