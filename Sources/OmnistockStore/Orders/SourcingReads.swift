import Foundation
import Logging
import OmnistockCore
import PostgresNIO

/// What sourcing reads: positions at every location (locked for a decision, or only read for a
/// preview), effective at the database clock, with the locations and today's order counts.
extension OrderStore {
    /// The plan sourcing would make now, with its explanation; nothing is locked or written.
    public func plan(lines: [RequestedLine], fulfilment: Fulfilment) async throws -> SourcingOutcome {
        let faults = Orders.validate(lines: lines, fulfilment: fulfilment)
        if !faults.isEmpty { throw Rejections(faults) }
        return try await database.withConnection { connection in
            let input = try await sourcingInput(skus: lines.map(\.sku), lock: false, on: connection)
            let demands = lines.enumerated().map { Sourcing.Demand(line: $0.offset, sku: $0.element.sku, quantity: $0.element.quantity) }
            return try Sourcing.source(demands, fulfilment: fulfilment, input: input.input).get()
        }
    }

    /// Fresh transfer ids, enough for one transfer from every location sourcing may use.
    static func transferIds(for input: SourcingInput) -> [String] {
        (0..<max(1, input.locations.count)).map { _ in RecordIds.make("trf_") }
    }

    /// Positions of `skus` at every location (locked, or read), effective at the database's
    /// clock (read once the locks are held), with the locations and today's order counts.
    func sourcingInput(
        skus: [String], extraKeys: [StockKey] = [], lock: Bool, on connection: PostgresConnection
    ) async throws -> (input: SourcingInput, locked: [StockKey: PositionRecord], nowMs: Int64) {
        let locations = try await Self.locations(nil, on: connection, logger: logger)
        let valid = Set(skus.filter(Identifier.isValid))
        var keys = extraKeys
        for sku in valid {
            for location in locations.values where location.active { keys.append(StockKey(sku: sku, locationId: location.id)) }
        }
        let records: [StockKey: PositionRecord]
        let nowMs: Int64
        if lock {
            (records, nowMs) = try await stock.lock(keys, on: connection)
        } else {
            records = try await readPositions(Array(Set(keys)), on: connection)
            nowMs = try await Clock.now(on: connection, logger: logger)
        }
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

    private func readPositions(_ keys: [StockKey], on connection: PostgresConnection) async throws -> [StockKey: PositionRecord] {
        var records: [StockKey: PositionRecord] = [:]
        for try await row in try await connection.query(
            """
            SELECT \(unescaped: StockStore.columns) FROM stock_positions
             WHERE (sku, location_id) IN (SELECT * FROM unnest(\(keys.map(\.sku))::text[], \(keys.map(\.locationId))::text[]))
            """,
            logger: logger
        ) {
            let record = try StockStore.record(row)
            records[record.key] = record
        }
        return records
    }

    /// The positions with the lines of holds that expired by `nowMs` (but are not recorded
    /// yet) taken out of `held`: a hold stops counting at its expiry. A statement of its own,
    /// sent after the locks, so it reads every commit that preceded them.
    func effective(_ records: [StockKey: PositionRecord], nowMs: Int64, on connection: PostgresConnection) async throws -> [StockKey: StockPosition] {
        var positions = records.mapValues(\.position)
        let keys = Array(records.keys)
        guard !keys.isEmpty else { return positions }
        for try await (sku, locationId, expired) in try await connection.query(
            """
            WITH keys AS (SELECT * FROM unnest(\(keys.map(\.sku))::text[], \(keys.map(\.locationId))::text[]) AS k(sku, location_id))
            \(unescaped: ExpiredHolds.perPositionSQL(keys: "keys", nowMs: "\(nowMs)"))
            """,
            logger: logger
        ).decode((String, String, Int64).self) {
            positions[StockKey(sku: sku, locationId: locationId)]?.held -= expired
        }
        return positions
    }
}
