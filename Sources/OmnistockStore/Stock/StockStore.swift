import Foundation
import Logging
import OmnistockCore
import PostgresNIO

/// Stock movements, counts and safety stock: decided by the core against rows locked in
/// (sku, location) order, at the database clock read once the locks are held, and written
/// through one `LedgerTransaction`.
public struct StockStore: Sendable {
    let events: EventStore
    let logger: Logger

    public init(events: EventStore, logger: Logger) {
        self.events = events
        self.logger = logger
    }

    /// Applies a movements request atomically, or refuses it whole with every faulty line.
    public func move(_ lines: [MovementLine], metadata: EventMetadata, in transaction: Transaction) async throws -> StockWriteResult {
        let connection = transaction.connection
        let (locations, checkedAtMs) = try await existingLocations(Set(lines.map(\.locationId)), on: connection)
        let faults = StockLedger.validate(movements: lines, locations: locations, nowMs: checkedAtMs)
        if !faults.isEmpty { throw Rejections(faults) }
        let (locked, nowMs) = try await lock(lines.map(\.key), on: connection)
        let decided = StockLedger.decide(
            movements: lines, positions: locked.mapValues(\.position), locations: locations, nowMs: nowMs)
        return try await record(decided, locked: locked, nowMs: nowMs, metadata: metadata, on: connection)
    }

    /// Runs movement batches through the core against the positions as they stand, in memory,
    /// locking and writing nothing: the pre-flight of a bulk import, so a file with a faulty
    /// line applies none of its batches. Returns the first refused batch, or nil.
    public func simulate(movementBatches: [[MovementLine]], on database: Database) async throws -> (batch: Int, Rejections)? {
        let lines = movementBatches.flatMap { $0 }
        let keys = Array(Set(lines.map(\.key)))
        return try await database.withConnection { connection in
            let (locations, nowMs) = try await existingLocations(Set(lines.map(\.locationId)), on: connection)
            var working: [StockKey: StockPosition] = [:]
            for start in stride(from: 0, to: keys.count, by: Limits.rebuildRowsPerStatementMax) {
                let chunk = keys[start..<min(start + Limits.rebuildRowsPerStatementMax, keys.count)]
                for try await row in try await connection.query(
                    """
                    SELECT \(unescaped: Self.columns) FROM stock_positions
                     WHERE (sku, location_id) IN (SELECT * FROM unnest(\(chunk.map(\.sku))::text[], \(chunk.map(\.locationId))::text[]))
                    """,
                    logger: logger
                ) {
                    let record = try Self.record(row)
                    working[record.key] = record.position
                }
            }
            for (index, batch) in movementBatches.enumerated() {
                switch StockLedger.decide(movements: batch, positions: working, locations: locations, nowMs: nowMs) {
                case .failure(let rejections): return (index, rejections)
                case .success(let events):
                    for event in events {
                        let key = event.stockKey!
                        working[key] = StockLedger.evolve(working[key] ?? .empty, event)
                    }
                }
            }
            return nil
        }
    }

    /// Reconciles a count against the ledger as it stood at the count's time.
    public func count(_ count: Count, metadata: EventMetadata, in transaction: Transaction) async throws -> StockWriteResult {
        let connection = transaction.connection
        let (found, checkedAtMs) = try await existingLocations(Identifier.isValid(count.locationId) ? [count.locationId] : [], on: connection)
        let exists = !found.isEmpty
        var keys = count.lines.filter { Identifier.isValid($0.sku) }.map { StockKey(sku: $0.sku, locationId: count.locationId) }
        if count.full && exists {
            // Every position of the location takes part in a full count.
            for try await sku in try await connection.query(
                "SELECT sku FROM stock_positions WHERE location_id = \(count.locationId)", logger: logger
            ).decode(String.self) {
                keys.append(StockKey(sku: sku, locationId: count.locationId))
            }
        }
        // Validation that needs no rows first, so a refused count locks nothing.
        let faults = StockLedger.validate(count: count, locationExists: exists, nowMs: checkedAtMs)
        if !faults.isEmpty { throw Rejections(faults) }
        let (locked, nowMs) = try await lock(keys, on: connection)
        let onHandAtCount = try await onHand(of: Array(locked.keys), asOfMs: count.countedAtMs, on: connection)
        let decided = StockLedger.decide(
            count: count, onHandAtCount: Dictionary(uniqueKeysWithValues: onHandAtCount.map { ($0.key.sku, $0.value) }),
            positions: Dictionary(uniqueKeysWithValues: locked.filter { $0.value.version > 0 }.map { ($0.key.sku, $0.value.position) }),
            locationExists: exists, nowMs: nowMs)
        return try await record(decided, locked: locked, nowMs: nowMs, metadata: metadata, on: connection)
    }

    /// Sets (or, with nil, clears) a position's own safety stock.
    public func setSafetyStock(_ quantity: Int64?, key: StockKey, metadata: EventMetadata, in transaction: Transaction) async throws -> StockWriteResult {
        let connection = transaction.connection
        let (found, checkedAtMs) = try await existingLocations(Identifier.isValid(key.locationId) ? [key.locationId] : [], on: connection)
        let exists = !found.isEmpty
        if case .failure(let rejections) = StockLedger.decide(
            safetyStock: quantity, key: key, current: nil, locationExists: exists, nowMs: checkedAtMs)
        {
            throw rejections
        }
        let (locked, nowMs) = try await lock([key], on: connection)
        let current = locked[key].flatMap { $0.version > 0 ? $0.position : nil }
        let decided = StockLedger.decide(safetyStock: quantity, key: key, current: current, locationExists: exists, nowMs: nowMs)
        return try await record(decided, locked: locked, nowMs: nowMs, metadata: metadata, on: connection)
    }

    /// Writes what the core decided through one ledger transaction.
    private func record(
        _ decided: Result<[LedgerEvent], Rejections>, locked: [StockKey: PositionRecord], nowMs: Int64, metadata: EventMetadata,
        on connection: PostgresConnection
    ) async throws -> StockWriteResult {
        let newEvents: [LedgerEvent]
        switch decided {
        case .failure(let rejections): throw rejections
        case .success(let events): newEvents = events
        }
        var transaction = try await LedgerTransaction.open(on: connection, nowMs: nowMs, logger: logger, positions: locked)
        transaction.apply(newEvents, metadata: metadata)
        try await transaction.finish(using: events)
        let touched = Set(newEvents.compactMap(\.stockKey)).sorted().compactMap { transaction.position($0) }
        return StockWriteResult(events: newEvents, positions: touched)
    }

    /// Locks the positions of `keys` in (sku, location) order, creating empty rows (version 0)
    /// for new ones, and reads them and the database clock once every lock is held.
    ///
    /// The upsert takes each row's lock in input order, whether it inserts the row or finds it,
    /// so concurrent batches queue instead of deadlocking; `DO UPDATE … WHERE false` locks an
    /// existing row without writing a new version of it (measured: the no-op update doubled the
    /// dead tuples of every batch). The rows are then read as they stand, by a statement (and
    /// so a snapshot) that starts after the locks were granted.
    ///
    /// A large set (a movement request) is first locked by `lockExisting`, inside a savepoint:
    /// when every position exists that one statement is the lock and the read (pg_stat_statements,
    /// 10,000-line requests: 70 ms, against 65 + 59 ms for the two below; PostgreSQL's CPU per
    /// movement 31.0-33.4 µs against 35.9-36.3 in two A/B runs). When one is missing, the
    /// savepoint is rolled back, which gives back every lock it took, and the positions are
    /// locked as below: a writer never waits while holding a position after the one it waits for.
    /// Small sets skip it: a savepoint's subtransaction makes every row the writer writes carry
    /// a subtransaction id, which other sessions' visibility checks must look up.
    func lock(_ keys: [StockKey], on connection: PostgresConnection) async throws -> (positions: [StockKey: PositionRecord], nowMs: Int64) {
        let sorted = Array(Set(keys)).sorted()
        guard !sorted.isEmpty else { return ([:], try await Clock.now(on: connection, logger: logger)) }
        if sorted.count >= Limits.positionsLockedFirstAsExistingMin {
            try await connection.query("SAVEPOINT lock_positions", logger: logger)
            let (found, nowMs) = try await Self.lockExisting(sorted, on: connection, logger: logger)
            if found.count == sorted.count { return (found, nowMs) }
            try await connection.query("ROLLBACK TO SAVEPOINT lock_positions", logger: logger)
        }
        let skus = sorted.map(\.sku)
        let locations = sorted.map(\.locationId)
        try await connection.query(
            """
            INSERT INTO stock_positions AS p (sku, location_id, on_hand, version)
            SELECT k.sku, k.location_id, 0, 0
              FROM unnest(\(skus)::text[], \(locations)::text[]) WITH ORDINALITY AS k(sku, location_id, n)
             ORDER BY k.n
            ON CONFLICT (sku, location_id) DO UPDATE SET version = p.version WHERE false
            """,
            logger: logger)
        var result: [StockKey: PositionRecord] = [:]
        result.reserveCapacity(sorted.count)
        var nowMs: Int64?
        for try await row in try await connection.query(
            """
            SELECT \(unescaped: Self.columns), (SELECT \(unescaped: Clock.nowMsSQL)) FROM stock_positions
             WHERE (sku, location_id) IN (SELECT * FROM unnest(\(skus)::text[], \(locations)::text[]))
            """,
            logger: logger
        ) {
            let record = try Self.record(row)
            result[record.key] = record
            // The clock is one value for the whole statement: read it from the first row only
            // (a 10,000-line movement request would otherwise index every row a second time).
            if nowMs == nil { nowMs = try row.makeRandomAccess()[9].decode(Int64.self, context: .default) }
        }
        guard let nowMs, result.count == sorted.count else { throw StoreError.corrupt("locked stock positions could not be read") }
        return (result, nowMs)
    }

    /// Locks positions that exist (an order's lines always do: they hold its allocations; a
    /// position of the ledger's is never deleted) in
    /// the (sku, location) order every writer uses, and reads the database clock once every
    /// lock is held (the CASE evaluates its condition, which counts the locked rows, first):
    /// one statement.
    static func lockExisting(_ keys: [StockKey], on connection: PostgresConnection, logger: Logger) async throws -> (
        positions: [StockKey: PositionRecord], nowMs: Int64
    ) {
        let sorted = Array(Set(keys)).sorted()
        guard !sorted.isEmpty else { return ([:], try await Clock.now(on: connection, logger: logger)) }
        var result: [StockKey: PositionRecord] = [:]
        var nowMs: Int64?
        for try await (sku, locationId, onHand, held, allocated, safety, incoming, counted, version, now) in try await connection.query(
            """
            WITH locked AS MATERIALIZED (
                SELECT \(unescaped: Self.columns) FROM stock_positions
                 WHERE (sku, location_id) IN (SELECT * FROM unnest(\(sorted.map(\.sku))::text[], \(sorted.map(\.locationId))::text[]))
                 ORDER BY sku COLLATE "C", location_id COLLATE "C" FOR UPDATE
            ), n AS MATERIALIZED (
                SELECT CASE WHEN (SELECT count(*) FROM locked) >= 0 THEN \(unescaped: Clock.nowMsSQL) END AS ms
            )
            SELECT locked.*, n.ms FROM n LEFT JOIN locked ON true
            """,
            logger: logger
        ).decode((String?, String?, Int64?, Int64?, Int64?, Int64?, Int64?, Int64?, Int64?, Int64).self) {
            nowMs = now
            guard let sku, let locationId, let onHand, let held, let allocated, let incoming, let version else { continue }
            let record = PositionRecord(
                sku: sku, locationId: locationId, onHand: onHand, held: held, allocated: allocated, safetyStock: safety,
                incoming: incoming, lastCountedAtMs: counted, version: version)
            result[record.key] = record
        }
        guard let nowMs else { throw StoreError.corrupt("the database clock could not be read") }
        return (result, nowMs)
    }

    /// The subset of `ids` that are defined locations, and the database clock.
    func existingLocations(_ ids: Set<String>, on connection: PostgresConnection) async throws -> (ids: Set<String>, nowMs: Int64) {
        var found = Set<String>()
        var nowMs: Int64?
        for try await (id, now) in try await connection.query(
            """
            SELECT l.id, c.ms FROM (SELECT \(unescaped: Clock.nowMsSQL) AS ms) c
              LEFT JOIN locations l ON l.id = ANY(\(Array(ids))::text[])
            """,
            logger: logger
        ).decode((String?, Int64).self) {
            if let id { found.insert(id) }
            nowMs = now
        }
        guard let nowMs else { throw StoreError.corrupt("the database clock could not be read") }
        return (found, nowMs)
    }

    /// The subset of `ids` that are defined locations.
    public func knownLocations(_ ids: Set<String>, on database: Database) async throws -> Set<String> {
        try await database.withConnection { connection in try await existingLocations(ids, on: connection).ids }
    }

    /// The database clock, for checks made outside a write (an import's pre-flight).
    public func nowMs(on database: Database) async throws -> Int64 {
        try await database.withConnection { connection in try await Clock.now(on: connection, logger: logger) }
    }

    /// The default safety stock of each of these locations.
    public func safetyDefaults(of ids: [String], in transaction: Transaction) async throws -> [String: Int64] {
        var result: [String: Int64] = [:]
        for try await (id, value) in try await transaction.connection.query(
            "SELECT id, safety_stock_default FROM locations WHERE id = ANY(\(ids)::text[])", logger: logger
        ).decode((String, Int64).self) {
            result[id] = value
        }
        return result
    }

    /// On-hand per position as of a time, summed from the ledger's on-hand changes that had
    /// occurred by then.
    func onHand(of keys: [StockKey], asOfMs: Int64, on connection: PostgresConnection) async throws -> [StockKey: Int64] {
        guard !keys.isEmpty else { return [:] }
        var result: [StockKey: Int64] = [:]
        let streams = keys.map(\.stream)
        let byStream = Dictionary(uniqueKeysWithValues: keys.map { ($0.stream, $0) })
        for try await (stream, total) in try await connection.query(
            """
            SELECT stream, sum((payload->>'onHandDelta')::bigint)::bigint FROM ledger
             WHERE stream = ANY(\(streams)::text[]) AND type = ANY(\(LedgerEvent.onHandChangingTypes)::text[])
               AND (payload->>'occurredAtMs')::bigint <= \(asOfMs)
             GROUP BY stream
            """,
            logger: logger
        ).decode((String, Int64).self) {
            if let key = byStream[stream] { result[key] = total }
        }
        return result
    }
}
