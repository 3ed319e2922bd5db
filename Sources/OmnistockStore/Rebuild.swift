import Foundation
import Logging
import OmnistockCore
import PostgresNIO

/// A row that differs between a live projection and its rebuild from the ledger.
public struct ProjectionDifference: Sendable, Equatable, CustomStringConvertible {
    public var table: String
    /// "live only" or "rebuilt only": an edited row shows as one of each.
    public var side: String
    public var row: String

    public var description: String { "\(table) \(side): \(row)" }
}

/// Rebuilds projections from the ledger alone (`oms replay`) and proves the live ones equal a
/// rebuild (`oms verify`). Both fold events with the same `Projector` and write rows with the
/// same `ProjectionWriter` as the live write path.
public struct Rebuilder: Sendable {
    static let pageSize = 10_000
    static let writeChunk = 10_000
    /// The projections, in the order they are written (positions refer to locations).
    static let tables = ["locations", "stock_positions", "holds", "active_hold_lines", "orders", "transfers", "order_assignments"]
    let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    /// Replaces every projection with its rebuild from the ledger, in one transaction that
    /// keeps writers out while it runs. Returns how many events were replayed.
    @discardableResult
    public func replay(on database: Database, progress: (@Sendable (Int64) -> Void)? = nil) async throws -> Int64 {
        try await database.transaction { connection in
            // Take the projections first, as writers do (their rows, then the ledger head), so a
            // writer caught mid-way finishes instead of deadlocking; then the head, so no append
            // lands while the rebuild runs. Readers and writers wait until it commits.
            try await connection.query(
                "LOCK TABLE orders, transfers, order_assignments, holds, stock_positions, active_hold_lines, locations IN ACCESS EXCLUSIVE MODE",
                logger: logger)
            try await connection.query("LOCK TABLE ledger_head IN SHARE MODE", logger: logger)
            let (projector, count) = try await fold(on: connection, progress: progress)
            try await connection.query(
                "TRUNCATE order_assignments, transfers, orders, active_hold_lines, holds, stock_positions, locations", logger: logger)
            try await write(projector, prefix: "", on: connection)
            return count
        }
    }

    /// Rebuilds into scratch tables and compares them with the live projections, row by row,
    /// in one snapshot. Returns every difference (empty when the projections are right).
    public func verify(on database: Database, differencesMax: Int = 100) async throws -> [ProjectionDifference] {
        try await database.withConnection { connection in
            try await connection.query("BEGIN ISOLATION LEVEL REPEATABLE READ", logger: logger)
            do {
                let (projector, _) = try await fold(on: connection, progress: nil)
                for table in Self.tables {
                    try await connection.query(
                        PostgresQuery(unsafeSQL: "CREATE TEMP TABLE verify_\(table) (LIKE \(table) INCLUDING ALL) ON COMMIT DROP"),
                        logger: logger)
                }
                try await write(projector, prefix: "verify_", on: connection)
                var differences: [ProjectionDifference] = []
                for table in Self.tables {
                    for (side, left, right) in [("live only", table, "verify_\(table)"), ("rebuilt only", "verify_\(table)", table)] {
                        let rows = try await connection.query(
                            PostgresQuery(unsafeSQL: """
                                SELECT row_to_json(d)::text FROM (SELECT * FROM \(left) EXCEPT ALL SELECT * FROM \(right)) d
                                 LIMIT \(differencesMax)
                                """),
                            logger: logger)
                        for try await row in rows.decode(String.self) {
                            differences.append(ProjectionDifference(table: table, side: side, row: row))
                        }
                    }
                }
                try await connection.query("ROLLBACK", logger: logger)
                return differences
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw error
            }
        }
    }

    /// Reads the whole ledger in position order and folds it.
    func fold(on connection: PostgresConnection, progress: (@Sendable (Int64) -> Void)?) async throws -> (Projector, Int64) {
        var projector = Projector()
        var after: Int64 = 0
        var count: Int64 = 0
        while true {
            var read = 0
            for try await (position, version, type, payload, recordedAt) in try await connection.query(
                """
                SELECT position, stream_version, type, payload::text, recorded_at FROM ledger
                 WHERE position > \(after) ORDER BY position LIMIT \(Self.pageSize)
                """,
                logger: logger
            ).decode((Int64, Int64, String, String, Date).self) {
                projector.apply(try EventCodec.decode(type: type, payload: payload), streamVersion: version, recordedAt: recordedAt)
                after = position
                read += 1
            }
            count += Int64(read)
            progress?(count)
            if read < Self.pageSize { return (projector, count) }
        }
    }

    func write(_ projector: Projector, prefix: String, on connection: PostgresConnection) async throws {
        let locations = projector.locations.values.sorted { $0.location.id < $1.location.id }
        for start in stride(from: 0, to: locations.count, by: Self.writeChunk) {
            let chunk = Array(locations[start..<min(start + Self.writeChunk, locations.count)])
            try await ProjectionWriter.upsertLocations(chunk, table: prefix + "locations", on: connection, logger: logger)
        }
        // A position that no event ever stocked and that nothing promises or brings is not a
        // position (the live writers discard such rows too).
        let positions = projector.positions.values.filter { !$0.isVacant }.sorted { $0.key < $1.key }
        for start in stride(from: 0, to: positions.count, by: Self.writeChunk) {
            let chunk = Array(positions[start..<min(start + Self.writeChunk, positions.count)])
            try await ProjectionWriter.upsertPositions(chunk, table: prefix + "stock_positions", on: connection, logger: logger)
        }
        let holds = projector.holds.values.sorted { $0.hold.id < $1.hold.id }
        for start in stride(from: 0, to: holds.count, by: Self.writeChunk) {
            let chunk = Array(holds[start..<min(start + Self.writeChunk, holds.count)])
            try await ProjectionWriter.upsertHolds(chunk, table: prefix + "holds", on: connection, logger: logger)
            try await ProjectionWriter.writeActiveLines(
                chunk.map(\.hold), replacing: [], table: prefix + "active_hold_lines", on: connection, logger: logger)
        }
        let orders = projector.orders.values.sorted { $0.order.id < $1.order.id }
        for start in stride(from: 0, to: orders.count, by: Self.writeChunk) {
            try await ProjectionWriter.upsertOrders(
                Array(orders[start..<min(start + Self.writeChunk, orders.count)]), table: prefix + "orders", on: connection, logger: logger)
        }
        let transfers = projector.transfers.values.sorted { $0.transfer.id < $1.transfer.id }
        for start in stride(from: 0, to: transfers.count, by: Self.writeChunk) {
            try await ProjectionWriter.upsertTransfers(
                Array(transfers[start..<min(start + Self.writeChunk, transfers.count)]), table: prefix + "transfers", on: connection, logger: logger)
        }
        let assignments = projector.assignments.sorted()
        for start in stride(from: 0, to: assignments.count, by: Self.writeChunk) {
            try await ProjectionWriter.insertAssignments(
                Array(assignments[start..<min(start + Self.writeChunk, assignments.count)]), table: prefix + "order_assignments",
                on: connection, logger: logger)
        }
    }
}
