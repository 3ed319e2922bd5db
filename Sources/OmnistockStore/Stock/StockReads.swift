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

extension StockRead {
    /// The rows of a PostgreSQL read, by index, for the SKUs asked (each once); rows of SKUs
    /// not asked are not kept.
    public init(skus: [String], rows: [AvailabilityRow]) {
        var skuIndex: [String: Int32] = [:]
        for (index, sku) in skus.enumerated() { skuIndex[sku] = Int32(index) }
        var locationIndex: [String: Int32] = [:]
        var locations: [Location?] = []
        var read: [Row] = []
        read.reserveCapacity(rows.count)
        for row in rows {
            guard let sku = skuIndex[row.sku] else { continue }
            let location = locationIndex[row.location.id] ?? {
                locations.append(row.location)
                locationIndex[row.location.id] = Int32(locations.count - 1)
                return Int32(locations.count - 1)
            }()
            read.append(Row(sku: sku, location: location, position: row.position))
        }
        self.init(skus: skus, locations: locations, rows: read)
    }
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

extension StockStore {
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

    /// The position as it was at `asOfMs` (a later time is read as now): the position now with
    /// every event that touched it since taken back (`StockLedger.unwind`), less the units of
    /// holds that had reached their expiry by then without the expiry recorded yet
    /// (`ExpiredHolds`, the rule the reads of now use), and with the safety stock then in force.
    ///
    /// Backwards from now rather than forwards from the first event: what is read is what
    /// happened since `asOfMs`, so a recent time is cheap however old and busy the position,
    /// and the bound on it (`eventsMax`) is a bound on how far back a read may go. When more
    /// events than that touched the position since, the read is refused naming the earliest
    /// time it can answer.
    public func position(
        _ key: StockKey, asOfMs: Int64, eventsMax: Int = Limits.asOfEventsReadMax, on database: Database
    ) async throws -> StockPosition {
        try await database.withConnection { connection in
            // One snapshot for the position, the events since and the holds: a write that
            // committed between two of these reads would be taken back without being counted.
            try await connection.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", logger: logger)
            do {
                let position = try await unwound(key, asOfMs: asOfMs, eventsMax: eventsMax, on: connection)
                try await connection.query("COMMIT", logger: logger)
                return position
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw error
            }
        }
    }

    private func unwound(_ key: StockKey, asOfMs requestedMs: Int64, eventsMax: Int, on connection: PostgresConnection) async throws -> StockPosition {
        let nowMs = try await Clock.now(on: connection, logger: logger)
        let asOfMs = min(requestedMs, nowMs)
        var position = StockPosition.empty
        var lapsed: Int64 = 0
        for try await (onHand, held, allocated, safety, incoming, expired) in try await connection.query(
            """
            SELECT p.on_hand, p.held, p.allocated, p.safety_stock, p.incoming,
                   \(unescaped: ExpiredHolds.unitsSQL(sku: "p.sku", location: "p.location_id", nowMs: String(asOfMs)))
              FROM stock_positions p WHERE p.sku = \(key.sku) AND p.location_id = \(key.locationId)
            """,
            logger: logger
        ).decode((Int64, Int64, Int64, Int64?, Int64, Int64).self) {
            position = StockPosition(onHand: onHand, held: held, allocated: allocated, safetyStock: safety, incoming: incoming)
            lapsed = expired
        }
        let later = try await events(touching: key, after: asOfMs, limit: eventsMax + 1, on: connection)
        if later.count > eventsMax, let earliest = later.last?.occurredAtMs {
            // The earliest time with at most `eventsMax` events of the position after it.
            throw Rejections(.outOfRange(field: "asOf", lower: Self.iso(earliest), upper: "now"))
        }
        var safetyChanged = false
        for (event, _) in later {
            position = StockLedger.unwind(position, event, at: key)
            if case .safetyStockSet = event { safetyChanged = true }
        }
        if safetyChanged { position.safetyStock = try await safetyStock(key, asOfMs: asOfMs, on: connection) }
        position.held -= lapsed
        return position
    }

    /// The events that touched a position after a time, latest first: its own stream's, and the
    /// holds', orders' and transfers' whose lines or changes name it (a pre-filter on the
    /// payload; `unwind` applies only what concerns the position).
    private func events(
        touching key: StockKey, after asOfMs: Int64, limit: Int, on connection: PostgresConnection
    ) async throws -> [(event: LedgerEvent, occurredAtMs: Int64)] {
        var result: [(event: LedgerEvent, occurredAtMs: Int64)] = []
        // The SKU as a JSON string must be in the text of any payload that names it, and a valid
        // identifier is written the same in every JSON text: searched first, it spares the rows
        // of the location that do not name it their cast to jsonb. Measured on a location of
        // 200,000 hold events: 218-240 ms with jsonb, 453-466 ms cast from json, 220-225 ms
        // with this search first. (An empty needle, for a SKU outside the grammar, finds all.)
        let needle = Identifier.isValid(key.sku) ? "\"" + key.sku + "\"" : ""
        for try await (type, payload, occurredAtMs) in try await connection.query(
            """
            SELECT type, payload::text, (payload->>'occurredAtMs')::bigint AS occurred FROM ledger
             WHERE (stream = \(key.stream)
                    OR (location_ids @> ARRAY[\(key.locationId)::text] AND strpos(payload::text, \(needle)::text) > 0
                        AND (payload::jsonb @> jsonb_build_object('lines', jsonb_build_array(jsonb_build_object('sku', \(key.sku)::text, 'locationId', \(key.locationId)::text)))
                             OR payload::jsonb @> jsonb_build_object('changes', jsonb_build_array(jsonb_build_object('sku', \(key.sku)::text, 'locationId', \(key.locationId)::text))))))
               AND (payload->>'occurredAtMs')::bigint > \(asOfMs)
             ORDER BY occurred DESC, position DESC
             LIMIT \(limit)
            """,
            logger: logger
        ).decode((String, String, Int64).self) {
            result.append((try EventCodec.decode(type: type, payload: payload), occurredAtMs))
        }
        return result
    }

    /// The position's own safety stock in force at a time: the last one set by then, if any.
    private func safetyStock(_ key: StockKey, asOfMs: Int64, on connection: PostgresConnection) async throws -> Int64? {
        for try await payload in try await connection.query(
            """
            SELECT payload::text FROM ledger
             WHERE stream = \(key.stream) AND type = \(SafetyStockSet.type) AND (payload->>'occurredAtMs')::bigint <= \(asOfMs)
             ORDER BY stream_version DESC LIMIT 1
            """,
            logger: logger
        ).decode(String.self) {
            guard case .safetyStockSet(let set) = try EventCodec.decode(type: SafetyStockSet.type, payload: payload) else { return nil }
            return set.quantity
        }
        return nil
    }

    /// RFC 3339 UTC with milliseconds, for a refusal that names a time. Half a millisecond more
    /// keeps a formatter that truncates from showing the millisecond before (binary fractions).
    static func iso(_ milliseconds: Int64) -> String {
        Date(timeIntervalSince1970: (Double(milliseconds) + 0.5) / 1000).formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
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
                SELECT NULL, coalesce(json_agg(json_build_array(id, name, kind, pickup, ships, latitude, longitude, safety_stock_default,
                                                          daily_capacity, priority, pickup_window_days))::text, '[]')
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
            guard entry.count == 11, let id = entry[0] as? String, let name = entry[1] as? String,
                let kind = (entry[2] as? String).flatMap(Location.Kind.init(rawValue:)), let pickup = entry[3] as? Bool,
                let ships = entry[4] as? Bool, let latitude = (entry[5] as? NSNumber)?.doubleValue,
                let longitude = (entry[6] as? NSNumber)?.doubleValue, let safetyDefault = (entry[7] as? NSNumber)?.int64Value,
                entry[8] is NSNull || entry[8] is NSNumber, let priority = (entry[9] as? NSNumber)?.int64Value,
                let window = (entry[10] as? NSNumber)?.int64Value
            else {
                throw StoreError.corrupt("an availability location could not be read")
            }
            result[id] = Location(
                id: id, name: name, kind: kind, latitude: latitude, longitude: longitude,
                // A null capacity is a location without a daily limit.
                capabilities: .init(pickup: pickup, ships: ships), dailyCapacity: (entry[8] as? NSNumber)?.int64Value, priority: priority,
                pickupWindowDays: window, active: true, safetyStockDefault: safetyDefault)
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
    static let effectiveHeld =
        "(p.held - \(ExpiredHolds.unitsSQL(sku: "p.sku", location: "p.location_id", nowMs: "(SELECT \(Clock.nowMsSQL))")))::bigint"

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
