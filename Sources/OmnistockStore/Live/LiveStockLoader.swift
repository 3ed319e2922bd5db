import Foundation
import OmnistockCore
import PostgresNIO

extension LiveStock {
    /// The model as the projections hold it, at the ledger head, all read in one repeatable-read
    /// snapshot (so the head and every row agree). Nil when the estate has more positions than
    /// the model may hold: it stands down, and says so once.
    func load() async throws -> LiveAvailability? {
        let positionsMax = self.positionsMax
        let loaded: LiveAvailability? = try await database.transaction { connection in
            try await connection.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY", logger: self.logger)
            return try await Self.load(on: connection, positionsMax: positionsMax, logger: self.logger)
        }
        if loaded == nil {
            standDown("the estate has more than \(positionsMax) positions (Limits.liveStockPositionsMax)")
        }
        return loaded
    }

    /// The model from the projections, read on `connection` (in the caller's snapshot).
    static func load(on connection: PostgresConnection, positionsMax: Int, logger: Logger) async throws -> LiveAvailability? {
        let head = try await Self.head(on: connection, logger: logger)
        let locations = try await connection.query(
            "SELECT \(unescaped: LocationStore.columns) FROM locations", logger: logger
        ).collect().map { try LocationStore.record($0).location }
        guard let entries = try await Self.entries(on: connection, max: positionsMax, logger: logger) else { return nil }
        let holds = try await Self.activeHolds(on: connection, logger: logger)
        return LiveAvailability(position: head, locations: locations, entries: entries, holds: holds)
    }

    private static func head(on connection: PostgresConnection, logger: Logger) async throws -> Int64 {
        for try await position in try await connection.query("SELECT position FROM ledger_head", logger: logger).decode(Int64.self) {
            return position
        }
        throw LiveStockError.corrupt("the ledger head row is missing")
    }

    /// Every position row (one more than `max` is read, to know the bound is passed).
    private static func entries(on connection: PostgresConnection, max: Int, logger: Logger) async throws -> [(StockKey, LiveAvailability.Entry)]? {
        var entries: [(StockKey, LiveAvailability.Entry)] = []
        let rows = try await connection.query(
            """
            SELECT sku, location_id, on_hand, held, allocated, safety_stock, incoming, last_counted_at_ms, version
              FROM stock_positions LIMIT \(max + 1)
            """,
            logger: logger)
        for try await row in rows {
            var cells = RowCells(row, "a stock position row")
            let key = StockKey(sku: try cells.next(String.self), locationId: try cells.next(String.self))
            let position = StockPosition(
                onHand: try cells.next(Int64.self), held: try cells.next(Int64.self), allocated: try cells.next(Int64.self),
                safetyStock: try cells.optional(Int64.self), incoming: try cells.next(Int64.self),
                lastCountedAtMs: try cells.optional(Int64.self))
            entries.append((key, .init(position: position, stocked: try cells.next(Int64.self) > 0)))
        }
        return entries.count > max ? nil : entries
    }

    /// The active holds with their lines, from `active_hold_lines` (one row a line).
    private static func activeHolds(on connection: PostgresConnection, logger: Logger) async throws -> [(String, LiveAvailability.ActiveHold)] {
        var holds: [String: LiveAvailability.ActiveHold] = [:]
        let rows = try await connection.query(
            "SELECT hold_id, sku, location_id, quantity, expires_at_ms FROM active_hold_lines ORDER BY hold_id, line_no", logger: logger)
        for try await row in rows {
            var cells = RowCells(row, "an active hold line row")
            let holdId = try cells.next(String.self)
            let key = StockKey(sku: try cells.next(String.self), locationId: try cells.next(String.self))
            let quantity = try cells.next(Int64.self)
            let expiresAtMs = try cells.next(Int64.self)
            holds[holdId, default: .init(expiresAtMs: expiresAtMs, lines: [])].lines.append((key, quantity))
        }
        return holds.sorted { $0.key < $1.key }
    }
}
