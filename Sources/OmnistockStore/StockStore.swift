import Foundation
import Logging
import OmnistockCore
import PostgresNIO

/// One row of an availability answer: a position at an active location, with the location's
/// facts the core needs to sum channels and sort pickup points.
public struct AvailabilityRow: Sendable, Equatable {
    public var sku: String
    public var location: Location
    public var position: StockPosition
}

/// A ledger entry of one position with the balances right after it.
public struct HistoryEntry: Sendable, Equatable {
    public var event: RecordedEvent
    public var balance: StockPosition
}

/// What a stock write did.
public struct StockWriteResult: Sendable, Equatable {
    /// Events appended (movements, counts, safety stock, shortfalls).
    public var events: [LedgerEvent]
    /// The positions touched, as they now are.
    public var positions: [PositionRecord]
}

/// Stock movements, counts and safety stock: decided by the core against rows locked in
/// (sku, location) order, appended to the ledger and projected in one transaction.
public struct StockStore: Sendable {
    let events: EventStore
    let logger: Logger

    public init(events: EventStore, logger: Logger) {
        self.events = events
        self.logger = logger
    }

    /// Applies a movements request atomically, or refuses it whole with every faulty line.
    public func move(_ lines: [MovementLine], metadata: EventMetadata, nowMs: Int64, in transaction: Transaction) async throws -> StockWriteResult {
        let connection = transaction.connection
        let locations = try await existingLocations(Set(lines.map(\.locationId)), on: connection)
        let faults = StockLedger.validate(movements: lines, locations: locations, nowMs: nowMs)
        if !faults.isEmpty { throw Rejections(faults) }
        let locked = try await lock(lines.map(\.key), on: connection)
        let decided = StockLedger.decide(
            movements: lines, positions: locked.mapValues(\.position), locations: locations, nowMs: nowMs)
        return try await record(decided, locked: locked, metadata: metadata, on: connection)
    }

    /// Runs movement batches through the core against the positions as they stand, in memory,
    /// locking and writing nothing: the pre-flight of a bulk import, so a file with a faulty
    /// line applies none of its batches. Returns the first refused batch, or nil.
    public func simulate(movementBatches: [[MovementLine]], nowMs: Int64, on database: Database) async throws -> (batch: Int, Rejections)? {
        let lines = movementBatches.flatMap { $0 }
        let keys = Array(Set(lines.map(\.key)))
        return try await database.withConnection { connection in
            let locations = try await existingLocations(Set(lines.map(\.locationId)), on: connection)
            var working: [StockKey: StockPosition] = [:]
            for start in stride(from: 0, to: keys.count, by: 10_000) {
                let chunk = keys[start..<min(start + 10_000, keys.count)]
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
    public func count(_ count: Count, metadata: EventMetadata, nowMs: Int64, in transaction: Transaction) async throws -> StockWriteResult {
        let connection = transaction.connection
        let exists = Identifier.isValid(count.locationId)
            ? try await !existingLocations([count.locationId], on: connection).isEmpty : false
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
        let faults = StockLedger.validate(count: count, locationExists: exists, nowMs: nowMs)
        if !faults.isEmpty { throw Rejections(faults) }
        let locked = try await lock(keys, on: connection)
        let onHandAtCount = try await onHand(of: Array(locked.keys), asOfMs: count.countedAtMs, on: connection)
        let decided = StockLedger.decide(
            count: count, onHandAtCount: Dictionary(uniqueKeysWithValues: onHandAtCount.map { ($0.key.sku, $0.value) }),
            positions: Dictionary(uniqueKeysWithValues: locked.filter { $0.value.version > 0 }.map { ($0.key.sku, $0.value.position) }),
            locationExists: exists, nowMs: nowMs)
        return try await record(decided, locked: locked, metadata: metadata, on: connection)
    }

    /// Sets (or, with nil, clears) a position's own safety stock.
    public func setSafetyStock(
        _ quantity: Int64?, key: StockKey, metadata: EventMetadata, nowMs: Int64, in transaction: Transaction
    ) async throws -> StockWriteResult {
        let connection = transaction.connection
        let exists = Identifier.isValid(key.locationId)
            ? try await !existingLocations([key.locationId], on: connection).isEmpty : false
        if case .failure(let rejections) = StockLedger.decide(safetyStock: quantity, key: key, current: nil, locationExists: exists, nowMs: nowMs) {
            throw rejections
        }
        let locked = try await lock([key], on: connection)
        let current = locked[key].flatMap { $0.version > 0 ? $0.position : nil }
        let decided = StockLedger.decide(safetyStock: quantity, key: key, current: current, locationExists: exists, nowMs: nowMs)
        return try await record(decided, locked: locked, metadata: metadata, on: connection)
    }

    /// Appends what the core decided and writes the positions it leaves.
    private func record(
        _ decided: Result<[LedgerEvent], Rejections>, locked: [StockKey: PositionRecord], metadata: EventMetadata,
        on connection: PostgresConnection
    ) async throws -> StockWriteResult {
        let newEvents: [LedgerEvent]
        switch decided {
        case .failure(let rejections): throw rejections
        case .success(let events): newEvents = events
        }
        var expected: [String: ExpectedVersion] = [:]
        var touched: [StockKey: PositionRecord] = [:]
        for event in newEvents {
            let key = event.stockKey!
            if touched[key] == nil {
                let record = locked[key] ?? PositionRecord(key: key, position: .empty, version: 0)
                expected[key.stream] = record.version == 0 ? .noStream : .exact(record.version)
                touched[key] = record
            }
            touched[key]!.position = StockLedger.evolve(touched[key]!.position, event)
            touched[key]!.version += 1
        }
        try await events.append(newEvents, expected: expected, metadata: metadata, on: connection)
        let records = touched.values.sorted { $0.key < $1.key }
        try await ProjectionWriter.upsertPositions(records, on: connection, logger: logger)
        return StockWriteResult(events: newEvents, positions: records)
    }

    /// Locks the positions of `keys` in (sku, location) order, creating empty rows (version 0)
    /// for new ones. The upsert takes each row's lock in input order, whether it inserts the row
    /// or finds it, so concurrent batches queue instead of deadlocking; `DO UPDATE … WHERE false`
    /// locks an existing row without writing a new version of it (measured: the no-op update
    /// doubled the dead tuples of every batch). The locked rows are then read as they stand.
    func lock(_ keys: [StockKey], on connection: PostgresConnection) async throws -> [StockKey: PositionRecord] {
        let sorted = Array(Set(keys)).sorted()
        guard !sorted.isEmpty else { return [:] }
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
        for try await row in try await connection.query(
            """
            SELECT \(unescaped: Self.columns) FROM stock_positions
             WHERE (sku, location_id) IN (SELECT * FROM unnest(\(skus)::text[], \(locations)::text[]))
            """,
            logger: logger
        ) {
            let record = try Self.record(row)
            result[record.key] = record
        }
        return result
    }

    /// The subset of `ids` that are defined locations.
    public func knownLocations(_ ids: Set<String>, on database: Database) async throws -> Set<String> {
        try await database.withConnection { connection in try await existingLocations(ids, on: connection) }
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

    /// The subset of `ids` that are defined locations.
    func existingLocations(_ ids: Set<String>, on connection: PostgresConnection) async throws -> Set<String> {
        var found = Set<String>()
        for try await id in try await connection.query(
            "SELECT id FROM locations WHERE id = ANY(\(Array(ids))::text[])", logger: logger
        ).decode(String.self) {
            found.insert(id)
        }
        return found
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

    // MARK: - Reads

    /// The current position, or nil when the ledger has never mentioned it.
    public func position(_ key: StockKey, on database: Database) async throws -> PositionRecord? {
        try await database.withConnection { connection in
            try await connection.query(
                """
                SELECT \(unescaped: Self.effectiveColumns) FROM stock_positions p
                 WHERE sku = \(key.sku) AND location_id = \(key.locationId) AND (version > 0 OR incoming > 0)
                """,
                logger: logger
            ).collect().first.map(Self.record)
        }
    }

    /// The position as it was at `asOfMs`, replayed from its stream's events that had occurred by then.
    public func position(_ key: StockKey, asOfMs: Int64, on database: Database) async throws -> StockPosition {
        try await database.withConnection { connection in
            var position = StockPosition.empty
            for try await (type, payload) in try await connection.query(
                """
                SELECT type, payload::text FROM ledger
                 WHERE stream = \(key.stream) AND (payload->>'occurredAtMs')::bigint <= \(asOfMs)
                 ORDER BY stream_version
                """,
                logger: logger
            ).decode((String, String).self) {
                position = StockLedger.evolveAsOf(position, try EventCodec.decode(type: type, payload: payload))
            }
            return position
        }
    }

    /// A page of a position's ledger entries after `afterVersion`, each with the balances after it.
    public func history(_ key: StockKey, afterVersion: Int64, limit: Int, on database: Database) async throws -> [HistoryEntry] {
        try await database.withConnection { connection in
            var position = StockPosition.empty
            var entries: [HistoryEntry] = []
            // Balances need the whole prefix of the stream; the page is the tail of what is read.
            for try await (pos, version, type, payload, metadata, locations, recordedAt) in try await connection.query(
                """
                SELECT position, stream_version, type, payload::text, metadata::text, location_ids, recorded_at FROM ledger
                 WHERE stream = \(key.stream) AND stream_version <= \(afterVersion + Int64(limit))
                 ORDER BY stream_version
                """,
                logger: logger
            ).decode((Int64, Int64, String, String, String, [String], Date).self) {
                let event = try EventCodec.decode(type: type, payload: payload)
                position = StockLedger.evolve(position, event)
                if version > afterVersion {
                    entries.append(HistoryEntry(
                        event: RecordedEvent(
                            position: pos, stream: key.stream, streamVersion: version, type: type, payload: payload,
                            metadata: metadata, locationIds: locations, recordedAt: recordedAt),
                        balance: position))
                }
            }
            return entries
        }
    }

    /// Positions of these SKUs at active locations (optionally one), in one round trip.
    ///
    /// Decoding a cell costs PostgresNIO more than PostgreSQL spends finding it (measured: cell
    /// and array decoding were 30–40% of an availability call for 100 SKUs x 20 locations), so
    /// the numbers of each SKU's positions come packed in one text column
    /// (`location/onHand/held/allocated/safety/incoming;…`; `/` and `;` never occur in
    /// identifiers) and the locations' attributes once, as JSON, in a last row without a SKU.
    public func availability(skus: [String], locationId: String?, on database: Database) async throws -> [AvailabilityRow] {
        try await database.withConnection { connection in
            var packed: [(String, String)] = []
            var locationsJSON = "[]"
            for try await (sku, text) in try await connection.query(
                """
                WITH p AS (
                    SELECT p.sku, p.location_id, p.on_hand, \(unescaped: Self.effectiveHeld) AS held, p.allocated,
                           coalesce(p.safety_stock, -1) AS safety, p.incoming
                      FROM stock_positions p JOIN locations l ON l.id = p.location_id
                     WHERE p.sku = ANY(\(skus)::text[]) AND l.active AND p.version > 0
                       AND (\(locationId)::text IS NULL OR p.location_id = \(locationId)::text))
                SELECT sku, string_agg(concat_ws('/', location_id, on_hand, held, allocated, safety, incoming), ';' ORDER BY location_id)
                  FROM p GROUP BY sku
                UNION ALL
                SELECT NULL, coalesce(json_agg(json_build_array(id, name, kind, pickup, ships, latitude, longitude, safety_stock_default))::text, '[]')
                  FROM locations WHERE id IN (SELECT DISTINCT location_id FROM p)
                """,
                logger: logger
            ).decode((String?, String).self) {
                if let sku { packed.append((sku, text)) } else { locationsJSON = text }
            }
            let attributes = try Self.locationAttributes(locationsJSON)
            var rows: [AvailabilityRow] = []
            rows.reserveCapacity(packed.count * attributes.count)
            for (sku, text) in packed.sorted(by: { $0.0 < $1.0 }) {
                for entry in text.utf8.split(separator: UInt8(ascii: ";")) {
                    let fields = entry.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
                    guard fields.count == 6, let location = attributes[String(decoding: fields[0], as: UTF8.self)],
                        let onHand = Self.integer(fields[1]), let held = Self.integer(fields[2]),
                        let allocated = Self.integer(fields[3]), let safety = Self.integer(fields[4]),
                        let incoming = Self.integer(fields[5])
                    else {
                        throw StoreError.corrupt("an availability row of \(sku) could not be read")
                    }
                    rows.append(AvailabilityRow(
                        sku: sku, location: location,
                        position: StockPosition(
                            onHand: onHand, held: held, allocated: allocated, safetyStock: safety < 0 ? nil : safety,
                            incoming: incoming)))
                }
            }
            return rows
        }
    }

    /// The location attributes of an availability answer, by id.
    private static func locationAttributes(_ json: String) throws -> [String: Location] {
        guard let entries = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[Any]] else {
            throw StoreError.corrupt("the availability locations could not be read")
        }
        var result: [String: Location] = [:]
        for entry in entries {
            guard entry.count == 8, let id = entry[0] as? String, let name = entry[1] as? String,
                let kind = (entry[2] as? String).flatMap(Location.Kind.init(rawValue:)), let pickup = entry[3] as? Bool,
                let ships = entry[4] as? Bool, let latitude = (entry[5] as? NSNumber)?.doubleValue,
                let longitude = (entry[6] as? NSNumber)?.doubleValue, let safetyDefault = (entry[7] as? NSNumber)?.int64Value
            else {
                throw StoreError.corrupt("an availability location could not be read")
            }
            result[id] = Location(
                id: id, name: name, kind: kind, latitude: latitude, longitude: longitude,
                capabilities: .init(pickup: pickup, ships: ships), dailyCapacity: 0, priority: 0, pickupWindowDays: 1,
                active: true, safetyStockDefault: safetyDefault)
        }
        return result
    }

    /// A decimal integer from ASCII bytes (optionally negative), without allocating.
    private static func integer(_ bytes: Substring.UTF8View.SubSequence) -> Int64? {
        var value: Int64 = 0
        var negative = false
        var digits = 0
        for byte in bytes {
            if byte == UInt8(ascii: "-"), digits == 0, !negative {
                negative = true
                continue
            }
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times.addingReportingOverflow(Int64(byte - UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else { return nil }
            value = sum
            digits += 1
        }
        guard digits > 0 else { return nil }
        return negative ? -value : value
    }

    static let columns = "sku, location_id, on_hand, held, allocated, safety_stock, incoming, last_counted_at_ms, version"

    /// A position's held units as they count now (`p` is the position): the stored bucket less
    /// the lines of holds whose expiry has passed but is not recorded yet. Expiry is exact at
    /// read time; the sweeper only catches the ledger up.
    static let effectiveHeld = """
        (p.held - coalesce((SELECT sum(h.quantity) FROM active_hold_lines h
                             WHERE h.sku = p.sku AND h.location_id = p.location_id
                               AND h.expires_at_ms <= (extract(epoch FROM statement_timestamp()) * 1000)::bigint), 0))::bigint
        """

    /// `columns`, with held as it counts now.
    static let effectiveColumns =
        "p.sku, p.location_id, p.on_hand, \(effectiveHeld), p.allocated, p.safety_stock, p.incoming, p.last_counted_at_ms, p.version"

    static func record(_ row: PostgresRow) throws -> PositionRecord {
        let (sku, locationId, onHand, held, allocated, safety, incoming, lastCountedAtMs, version) =
            try row.decode((String, String, Int64, Int64, Int64, Int64?, Int64, Int64?, Int64).self)
        return PositionRecord(
            key: StockKey(sku: sku, locationId: locationId),
            position: StockPosition(
                onHand: onHand, held: held, allocated: allocated, safetyStock: safety, incoming: incoming,
                lastCountedAtMs: lastCountedAtMs),
            version: version)
    }
}
