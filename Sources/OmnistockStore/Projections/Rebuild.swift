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
/// same `ProjectionWriter` statements as the live write path (`LedgerTransaction`).
public struct Rebuilder: Sendable {
    /// The projections, in the order they are written (positions refer to locations).
    static let tables = [
        "locations", "stock_positions", "holds", "active_hold_lines", "orders", "transfers", "order_assignments", "kpi_counters",
        "kpi_ready_minutes",
    ]
    /// The projections a rebuild writes by COPY, whose keys no upsert of the rebuild needs.
    static let copiedTables = ["stock_positions", "holds", "active_hold_lines"]
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
                """
                LOCK TABLE orders, transfers, order_assignments, holds, stock_positions, active_hold_lines, locations, kpi_counters,
                           kpi_ready_minutes IN ACCESS EXCLUSIVE MODE
                """,
                logger: logger)
            try await connection.query("LOCK TABLE ledger_head IN SHARE MODE", logger: logger)
            let started = ContinuousClock.now
            let (projector, count) = try await fold(on: connection, progress: progress)
            let folded = ContinuousClock.now
            try await connection.query(
                "TRUNCATE order_assignments, transfers, orders, active_hold_lines, holds, stock_positions, locations, kpi_counters, kpi_ready_minutes",
                logger: logger)
            try await withoutForeignKeysAndIndexes(on: connection) {
                try await write(projector, prefix: "", on: connection)
            }
            logger.info(
                "replay: the ledger read and folded, then the projections written",
                metadata: ["events": "\(count)", "fold": "\(folded - started)", "write": "\(ContinuousClock.now - folded)"])
            return count
        }
    }

    /// Runs `body` (the bulk write of a replay) with the projections' foreign keys and plain
    /// indexes taken off, then puts them back, as pg_restore does: one check and one index build
    /// at the end cost less than a check and an index entry per row. Measured on 200,000 stock
    /// positions: 1,262 ms written with them, 614 ms without the foreign key to locations (its
    /// trigger ran once per row), 460 ms without the indexes either. What is put back is what the
    /// catalog held, so a later migration's keys and indexes are kept without a change here; it
    /// all happens in the replay's transaction, under its exclusive locks, and a failure rolls
    /// the definitions back with the rows. The keys of the tables written by COPY go too and come
    /// back first (a key built once from sorted rows: the whole write of the 1.82 million-event
    /// benchmark ledger took 3.0-3.3 s with those keys kept, 2.7 s without);
    /// putting a key back refuses a duplicate as its insert would have, so keys still prove the
    /// rebuild. The other tables keep theirs, which the upserts that write them need.
    private func withoutForeignKeysAndIndexes(on connection: PostgresConnection, _ body: () async throws -> Void) async throws {
        let tables = Self.tables
        var keys: [(table: String, name: String, definition: String)] = []
        let keyRows = try await connection.query(
            """
            SELECT conrelid::regclass::text, quote_ident(conname), pg_get_constraintdef(oid) FROM pg_constraint
             WHERE conrelid = ANY (\(tables)::text[]::regclass[])
               AND (contype = 'f' OR (contype IN ('p', 'u') AND conrelid = ANY (\(Self.copiedTables)::text[]::regclass[])))
             ORDER BY contype = 'f' DESC, conrelid::regclass::text, conname
            """,
            logger: logger)
        for try await key in keyRows.decode((String, String, String).self) { keys.append(key) }
        var indexes: [(name: String, definition: String)] = []
        let indexRows = try await connection.query(
            """
            SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index
             WHERE indrelid = ANY (\(tables)::text[]::regclass[])
               AND NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conindid = indexrelid)
             ORDER BY indexrelid::regclass::text
            """,
            logger: logger)
        for try await index in indexRows.decode((String, String).self) { indexes.append(index) }
        precondition(keys.count + indexes.count <= Limits.rebuildRowsPerStatementMax, "the projections have a bounded schema")
        for (table, name, _) in keys {
            try await connection.query(PostgresQuery(unsafeSQL: "ALTER TABLE \(table) DROP CONSTRAINT \(name)"), logger: logger)
        }
        for (name, _) in indexes {
            try await connection.query(PostgresQuery(unsafeSQL: "DROP INDEX \(name)"), logger: logger)
        }
        try await body()
        for (_, definition) in indexes {
            try await connection.query(PostgresQuery(unsafeSQL: definition), logger: logger)
        }
        for (table, name, definition) in keys.reversed() {
            try await connection.query(
                PostgresQuery(unsafeSQL: "ALTER TABLE \(table) ADD CONSTRAINT \(name) \(definition)"), logger: logger)
        }
    }

    /// The snapshot of the caller's transaction, for another connection to read in.
    private static func exportSnapshot(on connection: PostgresConnection, logger: Logger) async throws -> String {
        for try await id in try await connection.query("SELECT pg_export_snapshot()", logger: logger).decode(String.self) {
            // Its text goes into a statement that takes no parameters: PostgreSQL writes it in
            // hexadecimal digits and dashes ("00000003-0000001B-1").
            precondition(!id.isEmpty && id.utf8.allSatisfy { $0 == UInt8(ascii: "-") || ($0 < 0x80 && Character(UnicodeScalar($0)).isHexDigit) },
                         "a snapshot id is hexadecimal digits and dashes")
            return id
        }
        throw StoreError.corrupt("pg_export_snapshot() returned no row")
    }

    /// The availability model as an instance loads it from the projections, read on a
    /// connection of its own in `snapshot` (the verifying transaction's, which stays open).
    private static func loadModel(in snapshot: String, database: Database, logger: Logger) async throws -> LiveAvailability? {
        try await database.withConnection { connection in
            try await connection.query("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", logger: logger)
            do {
                try await connection.query(PostgresQuery(unsafeSQL: "SET TRANSACTION SNAPSHOT '\(snapshot)'"), logger: logger)
                let loaded = try await LiveStock.load(on: connection, positionsMax: Int.max - 1, logger: logger)
                try await connection.query("COMMIT", logger: logger)
                return loaded
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw error
            }
        }
    }

    /// Rebuilds into scratch tables and compares them with the live projections, row by row,
    /// in one snapshot. Returns every difference (empty when the projections are right).
    public func verify(on database: Database, differencesMax: Int = 100) async throws -> [ProjectionDifference] {
        try await database.withConnection { connection in
            try await connection.query("BEGIN ISOLATION LEVEL REPEATABLE READ", logger: logger)
            do {
                let started = ContinuousClock.now
                var live = LiveAvailability(position: 0)
                let (projector, count) = try await fold(on: connection, progress: nil) { event, position in
                    _ = live.apply(event, at: position)
                }
                let folded = ContinuousClock.now
                // The availability model each instance keeps in memory, folded here from the whole
                // ledger by its own rules, must equal the one it loads from the projections. It
                // is loaded on a second connection, in this transaction's snapshot, while the
                // rebuild is written and compared on this one: the load is the server's work
                // (0.7-0.9 s for 200,000 positions), the write and the compare the database's.
                let snapshot = try await Self.exportSnapshot(on: connection, logger: logger)
                async let loading = Self.loadModel(in: snapshot, database: database, logger: logger)
                try await createScratchTables(on: connection)
                try await write(projector, prefix: "verify_", on: connection)
                let written = ContinuousClock.now
                var differences = try await compareWithScratch(on: connection, differencesMax: differencesMax)
                let compared = ContinuousClock.now
                if let loaded = try await loading {
                    for text in live.differences(from: loaded, limit: differencesMax) {
                        differences.append(ProjectionDifference(table: "availability model", side: "folded vs loaded", row: text))
                    }
                }
                logger.info(
                    "verify: the ledger folded, the rebuild written, compared with the projections, the model compared",
                    metadata: [
                        "events": "\(count)", "fold": "\(folded - started)", "write": "\(written - folded)",
                        "compare": "\(compared - written)", "model": "\(ContinuousClock.now - compared)",
                    ])
                try await connection.query("ROLLBACK", logger: logger)
                return differences
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw error
            }
        }
    }

    /// The rows of each projection that its scratch rebuild lacks, and the other way round (at
    /// most `differencesMax` of each side in each table).
    ///
    /// One pass per table: the live rows counted +1 and the rebuilt ones -1, grouped by every
    /// column; a row whose count is not 0 is on one side that many times more than on the other.
    /// Two EXCEPT ALL per table, each reading both tables, took 445 ms for the benchmark's
    /// 202,013 positions and 1,240 ms for its 176,972 holds; grouped, 370 and 650 ms.
    private func compareWithScratch(on connection: PostgresConnection, differencesMax: Int) async throws -> [ProjectionDifference] {
        var differences: [ProjectionDifference] = []
        for (table, columns) in try await projectionColumns(on: connection) {
            let list = columns.joined(separator: ", ")
            let rows = try await connection.query(
                PostgresQuery(unsafeSQL: """
                    SELECT verify_surplus, (SELECT row_to_json(c) FROM (SELECT \(columns.map { "g.\($0)" }.joined(separator: ", "))) c)::text
                      FROM (SELECT \(list), verify_surplus, row_number() OVER (PARTITION BY verify_surplus > 0) AS verify_n
                              FROM (SELECT \(list), sum(verify_side)::bigint AS verify_surplus
                                      FROM (SELECT \(list), 1 AS verify_side FROM \(table)
                                            UNION ALL SELECT \(list), -1 FROM verify_\(table)) sides
                                     GROUP BY \(list) HAVING sum(verify_side) <> 0) unequal) g
                     WHERE verify_n <= \(differencesMax)
                    """),
                logger: logger)
            var shown = (live: 0, rebuilt: 0)
            for try await (surplus, row) in rows.decode((Int64, String).self) {
                precondition(surplus != 0, "only unequal rows are selected")
                let live = surplus > 0
                for _ in 0..<abs(surplus) {
                    guard (live ? shown.live : shown.rebuilt) < differencesMax else { break }
                    if live { shown.live += 1 } else { shown.rebuilt += 1 }
                    differences.append(ProjectionDifference(table: table, side: live ? "live only" : "rebuilt only", row: row))
                }
            }
        }
        return differences
    }

    /// Each projection's columns in their order, quoted, in `tables` order.
    private func projectionColumns(on connection: PostgresConnection) async throws -> [(table: String, columns: [String])] {
        var columns: [String: [String]] = [:]
        let rows = try await connection.query(
            """
            SELECT attrelid::regclass::text, array_agg(quote_ident(attname) ORDER BY attnum) FROM pg_attribute
             WHERE attrelid = ANY (\(Self.tables)::text[]::regclass[]) AND attnum > 0 AND NOT attisdropped
             GROUP BY attrelid
            """,
            logger: logger)
        for try await (table, names) in rows.decode((String, [String]).self) {
            precondition(!names.contains { $0.hasPrefix("verify_") }, "the comparison's own columns are named apart")
            columns[table] = names
        }
        return try Self.tables.map { table in
            guard let names = columns[table], !names.isEmpty else { throw StoreError.corrupt("the projection \(table) has no columns") }
            return (table, names)
        }
    }

    /// The verifier's scratch copies of the projections. The rebuilt positions (200,000 in the
    /// benchmark) and holds go in by COPY, so their copies need no index, and they get the room in memory
    /// that temporary tables are otherwise refused (temp_buffers is 8 MB): with the indexes and
    /// 8 MB their COPY took 731 ms. The other copies keep their unique keys, which the upserts
    /// that write them need. temp_buffers can only be raised before a session's first temporary
    /// table, so a connection that had one keeps what it has (a savepoint takes the refusal).
    private func createScratchTables(on connection: PostgresConnection) async throws {
        try await connection.query("SAVEPOINT scratch_memory", logger: logger)
        do {
            try await connection.query("SET LOCAL temp_buffers = '256MB'", logger: logger)
            try await connection.query("RELEASE SAVEPOINT scratch_memory", logger: logger)
        } catch let error as PSQLError where error.code == .server {
            try await connection.query("ROLLBACK TO SAVEPOINT scratch_memory", logger: logger)
        }
        for table in Self.tables {
            let copied = Self.copiedTables.contains(table)
            let including = copied ? "INCLUDING DEFAULTS INCLUDING CONSTRAINTS" : "INCLUDING ALL"
            try await connection.query(
                PostgresQuery(unsafeSQL: "CREATE TEMP TABLE verify_\(table) (LIKE \(table) \(including)) ON COMMIT DROP"),
                logger: logger)
        }
    }

    /// One page of the ledger as the database sent it, not yet decoded.
    private struct RawPage: Sendable {
        /// The position the page was read after.
        var after: Int64
        var rows: [PostgresRow]
        /// The position to read the next page after; nil when the page was not full, as the
        /// ledger ends with it.
        var next: Int64?
    }

    /// One page of the ledger, decoded.
    private struct Page: Sendable {
        var events: [(position: Int64, version: Int64, event: LedgerEvent, recordedAt: Date)] = []
    }

    /// Reads the whole ledger in position order and folds it.
    ///
    /// Three pages are at work at once, in three stages: the database sends one while the one
    /// before is decoded (its payloads read) and the one before that folded. With two stages
    /// (a page read and decoded while the previous one was folded) the decoding waited for the
    /// rows and the database for the decoding: `oms replay` of 1,816,226 events folded in
    /// 7.2-7.6 s with 5 of the 2 cores' 21 core-seconds idle.
    func fold(
        on connection: PostgresConnection, progress: (@Sendable (Int64) -> Void)?,
        each: (LedgerEvent, Int64) -> Void = { _, _ in }
    ) async throws -> (Projector, Int64) {
        var projector = Projector()
        var count: Int64 = 0
        let first = try await fetch(after: 0, on: connection)!
        var page: Page? = try decode(first)
        var raw = try await fetch(after: first.next, on: connection)
        while let current = page {
            let sent = raw
            async let fetched = fetch(after: sent?.next, on: connection)
            async let decoded = decode(sent)
            for (position, version, event, recordedAt) in current.events {
                projector.apply(event, streamVersion: version, recordedAt: recordedAt)
                each(event, position)
            }
            count += Int64(current.events.count)
            progress?(count)
            page = try await decoded
            raw = try await fetched
        }
        return (projector, count)
    }

    /// The page of the ledger after `after`, as sent; nil when there is no `after`.
    private func fetch(after: Int64?, on connection: PostgresConnection) async throws -> RawPage? {
        guard let after else { return nil }
        let rows = try await connection.query(
            """
            SELECT position, stream_version, type, payload::text, recorded_at FROM ledger
             WHERE position > \(after) ORDER BY position LIMIT \(Limits.rebuildRowsPerStatementMax)
            """,
            logger: logger
        ).collect()
        precondition(rows.count <= Limits.rebuildRowsPerStatementMax, "a page holds at most its limit")
        guard rows.count == Limits.rebuildRowsPerStatementMax, let last = rows.last else {
            return RawPage(after: after, rows: rows, next: nil)
        }
        var cells = RowCells(last, "a ledger row")
        return RawPage(after: after, rows: rows, next: try cells.next(Int64.self))
    }

    /// A page's rows decoded into events; nil for no page.
    private func decode(_ raw: RawPage?) throws -> Page? {
        guard let raw else { return nil }
        var page = Page()
        page.events.reserveCapacity(raw.rows.count)
        var previous = raw.after
        for row in raw.rows {
            var cells = RowCells(row, "a ledger row")
            let position = try cells.next(Int64.self)
            let version = try cells.next(Int64.self)
            let type = try cells.next(String.self)
            let payload = try cells.next(String.self)
            let recordedAt = try cells.next(Date.self)
            precondition(position > previous, "the ledger is read in position order")
            previous = position
            page.events.append((position, version, try EventCodec.decode(type: type, payload: payload), recordedAt))
        }
        return page
    }

    func write(_ projector: Projector, prefix: String, on connection: PostgresConnection) async throws {
        let tables = ProjectionWriter.Tables.prefixed(prefix)
        try await chunked(projector.locations.values.sorted { $0.location.id < $1.location.id }, on: connection) { rows, query in
            [try ProjectionWriter.locationsSQL(rows, table: tables.locations, into: &query)]
        }
        // A position that no event ever stocked and that nothing promises or brings is not a
        // position (the live writers discard such rows too).
        try await ProjectionWriter.copyPositions(
            projector.positions.values.filter { !$0.isVacant }.sorted { $0.key < $1.key }, table: tables.positions, on: connection,
            logger: logger)
        try await ProjectionWriter.copyHolds(
            projector.holds.values.sorted { $0.hold.id < $1.hold.id }, holdsTable: tables.holds, linesTable: tables.activeHoldLines,
            on: connection, logger: logger)
        try await chunked(projector.orders.values.sorted { $0.order.id < $1.order.id }, on: connection) { rows, query in
            [try ProjectionWriter.ordersSQL(rows, table: tables.orders, into: &query)]
        }
        try await chunked(projector.transfers.values.sorted { $0.transfer.id < $1.transfer.id }, on: connection) { rows, query in
            [try ProjectionWriter.transfersSQL(rows, table: tables.transfers, into: &query)]
        }
        try await chunked(projector.assignments.sorted(), on: connection) { rows, query in
            [try ProjectionWriter.assignmentsSQL(rows, table: tables.assignments, into: &query)]
        }
        try await chunked(projector.kpis.counters.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }, on: connection) { rows, query in
            [try ProjectionWriter.kpiCountersSQL(rows, table: tables.kpiCounters, into: &query)]
        }
        try await chunked(projector.kpis.readyMinutes.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }, on: connection) { rows, query in
            [try ProjectionWriter.kpiReadyMinutesSQL(rows, table: tables.kpiReadyMinutes, into: &query)]
        }
    }

    /// Writes rows in statements of at most `Limits.rebuildRowsPerStatementMax` rows.
    private func chunked<Row>(
        _ rows: [Row], on connection: PostgresConnection, _ statements: ([Row], inout QueryBuilder) throws -> [String]
    ) async throws {
        for start in stride(from: 0, to: rows.count, by: Limits.rebuildRowsPerStatementMax) {
            let chunk = Array(rows[start..<min(start + Limits.rebuildRowsPerStatementMax, rows.count)])
            var query = QueryBuilder()
            let sql = try statements(chunk, &query)
            try await ProjectionWriter.run(sql, query, on: connection, logger: logger)
        }
    }
}
