import Foundation
import Logging
import OmnistockCore
import PostgresNIO

/// The SQL that writes projection rows. A `LedgerTransaction` and `replay`/`verify` use these
/// same statements, into the live tables or into scratch copies, so a rebuilt projection is
/// written exactly as a live one.
///
/// Each function returns one INSERT with its values bound in the caller's `QueryBuilder`, so a
/// writer can send the writes of every table it touched as one statement (data-modifying
/// `WITH` parts run whether or not the statement reads them).
public enum ProjectionWriter {
    /// The tables a set of rows is written to (the live ones, or the verifier's copies).
    struct Tables: Sendable {
        var locations = "locations"
        var positions = "stock_positions"
        var holds = "holds"
        var activeHoldLines = "active_hold_lines"
        var orders = "orders"
        var transfers = "transfers"
        var assignments = "order_assignments"
        var kpiCounters = "kpi_counters"
        var kpiReadyMinutes = "kpi_ready_minutes"

        static let live = Tables()

        static func prefixed(_ prefix: String) -> Tables {
            Tables(
                locations: prefix + "locations", positions: prefix + "stock_positions", holds: prefix + "holds",
                activeHoldLines: prefix + "active_hold_lines", orders: prefix + "orders", transfers: prefix + "transfers",
                assignments: prefix + "order_assignments", kpiCounters: prefix + "kpi_counters", kpiReadyMinutes: prefix + "kpi_ready_minutes")
        }
    }

    /// Inserts or replaces location rows.
    static func locationsSQL(_ records: [LocationRecord], table: String, into query: inout QueryBuilder) throws -> String {
        let locations = records.map(\.location)
        // Arrays of optionals do not bind; -1 stands for "no daily limit" (capacities are >= 0).
        let capacities = locations.map { $0.dailyCapacity ?? -1 }
        return """
            INSERT INTO \(table) (id, name, kind, latitude, longitude, pickup, ships, daily_capacity, priority,
                                  pickup_window_days, active, safety_stock_default, version, created_at, updated_at)
            SELECT * FROM unnest(\(try query.bind(locations.map(\.id)))::text[], \(try query.bind(locations.map(\.name)))::text[],
                                 \(try query.bind(locations.map(\.kind.rawValue)))::text[], \(try query.bind(locations.map(\.latitude)))::float8[],
                                 \(try query.bind(locations.map(\.longitude)))::float8[], \(try query.bind(locations.map(\.capabilities.pickup)))::bool[],
                                 \(try query.bind(locations.map(\.capabilities.ships)))::bool[], array_replace(\(try query.bind(capacities))::bigint[], -1, NULL),
                                 \(try query.bind(locations.map(\.priority)))::bigint[], \(try query.bind(locations.map(\.pickupWindowDays)))::bigint[],
                                 \(try query.bind(locations.map(\.active)))::bool[], \(try query.bind(locations.map(\.safetyStockDefault)))::bigint[],
                                 \(try query.bind(records.map(\.version)))::bigint[], \(try query.bind(records.map(\.createdAt)))::timestamptz[],
                                 \(try query.bind(records.map(\.updatedAt)))::timestamptz[])
            ON CONFLICT (id) DO UPDATE SET
                name = excluded.name, kind = excluded.kind, latitude = excluded.latitude, longitude = excluded.longitude,
                pickup = excluded.pickup, ships = excluded.ships, daily_capacity = excluded.daily_capacity,
                priority = excluded.priority, pickup_window_days = excluded.pickup_window_days, active = excluded.active,
                safety_stock_default = excluded.safety_stock_default, version = excluded.version,
                created_at = excluded.created_at, updated_at = excluded.updated_at
            """
    }

    /// Inserts or replaces stock position rows.
    static func positionsSQL(_ records: [PositionRecord], table: String, into query: inout QueryBuilder) throws -> String {
        // Arrays of optionals do not bind; -1 stands for "no own safety stock" (quantities are >= 0).
        let safety = records.map { $0.position.safetyStock ?? -1 }
        let counted = records.map { $0.position.lastCountedAtMs ?? -1 }
        return """
            INSERT INTO \(table) (sku, location_id, on_hand, held, allocated, safety_stock, incoming, last_counted_at_ms, version)
            SELECT sku, location_id, on_hand, held, allocated, nullif(safety_stock, -1), incoming, nullif(counted, -1), version
              FROM unnest(\(try query.bind(records.map(\.key.sku)))::text[], \(try query.bind(records.map(\.key.locationId)))::text[],
                          \(try query.bind(records.map(\.position.onHand)))::bigint[], \(try query.bind(records.map(\.position.held)))::bigint[],
                          \(try query.bind(records.map(\.position.allocated)))::bigint[], \(try query.bind(safety))::bigint[],
                          \(try query.bind(records.map(\.position.incoming)))::bigint[], \(try query.bind(counted))::bigint[],
                          \(try query.bind(records.map(\.version)))::bigint[])
                   AS r(sku, location_id, on_hand, held, allocated, safety_stock, incoming, counted, version)
            ON CONFLICT (sku, location_id) DO UPDATE SET
                on_hand = excluded.on_hand, held = excluded.held, allocated = excluded.allocated,
                safety_stock = excluded.safety_stock, incoming = excluded.incoming,
                last_counted_at_ms = excluded.last_counted_at_ms, version = excluded.version
            """
    }

    /// Writes position rows into an empty `table` with COPY: the bulk write of a replay or a
    /// verify, where every position is new. COPY skips what the live upsert pays for per row (the
    /// arrays' unnesting and ON CONFLICT's speculative insert): 200,000 positions took 1.1 s in
    /// statements of 10,000 rows. The values are the ones `positionsSQL` writes, nulls included,
    /// and `verify` compares rows written this way with the live ones.
    static func copyPositions(_ records: [PositionRecord], table: String, on connection: PostgresConnection, logger: Logger) async throws {
        let columns = ["sku", "location_id", "on_hand", "held", "allocated", "safety_stock", "incoming", "last_counted_at_ms", "version"]
        try await copy(records, into: table, columns: columns, on: connection, logger: logger) { record, buffer in
            let p = record.position
            copyText(record.key.sku, into: &buffer)
            copyText(record.key.locationId, into: &buffer)
            copyNumber(p.onHand, into: &buffer)
            copyNumber(p.held, into: &buffer)
            copyNumber(p.allocated, into: &buffer)
            copyNumber(p.safetyStock, into: &buffer)
            copyNumber(p.incoming, into: &buffer)
            copyNumber(p.lastCountedAtMs, into: &buffer)
            copyNumber(record.version, into: &buffer, last: true)
        }
    }

    /// Writes hold rows into an empty `holdsTable`, and the active ones' lines into an empty
    /// `linesTable`, with COPY, for the reason of `copyPositions` (175,000 holds with their lines
    /// took 1.9 s in statements of 10,000): the values of `holdsSQL` and `activeLinesSQL`.
    static func copyHolds(
        _ records: [HoldRecord], holdsTable: String, linesTable: String, on connection: PostgresConnection, logger: Logger
    ) async throws {
        let columns = [
            "id", "status", "reference", "fulfilment", "allow_partial", "line_skus", "line_locations", "line_quantities", "unfilled",
            "placed_at_ms", "expires_at_ms", "ended_at_ms", "updated_at_ms", "version",
        ]
        try await copy(records, into: holdsTable, columns: columns, on: connection, logger: logger) { record, buffer in
            let hold = record.hold
            let texts = try holdTexts(hold)
            copyText(hold.id, into: &buffer)
            copyText(hold.recordedStatus.rawValue, into: &buffer)
            // holdsSQL stores an empty reference or fulfilment as NULL.
            copyText(hold.reference.flatMap { $0.isEmpty ? nil : $0 }, into: &buffer)
            copyText(texts.fulfilment.flatMap { $0.isEmpty ? nil : $0 }, into: &buffer)
            copyText(hold.allowPartial ? "t" : "f", into: &buffer)
            copyText(arrayLiteral(hold.lines.map(\.sku)), into: &buffer)
            copyText(arrayLiteral(hold.lines.map(\.locationId)), into: &buffer)
            copyText("{" + hold.lines.map { String($0.quantity) }.joined(separator: ",") + "}", into: &buffer)
            copyText(texts.unfilled, into: &buffer)
            copyNumber(hold.placedAtMs, into: &buffer)
            copyNumber(hold.expiresAtMs, into: &buffer)
            copyNumber(hold.endedAtMs, into: &buffer)
            copyNumber(hold.updatedAtMs, into: &buffer)
            copyNumber(record.version, into: &buffer, last: true)
        }
        let lines = records.lazy.map(\.hold).filter { $0.recordedStatus == .active }.flatMap { hold in
            hold.lines.enumerated().map { (hold, $0.offset + 1, $0.element) }
        }
        let lineColumns = ["hold_id", "line_no", "sku", "location_id", "quantity", "expires_at_ms"]
        try await copy(lines, into: linesTable, columns: lineColumns, on: connection, logger: logger) { line, buffer in
            let (hold, number, requested) = line
            copyText(hold.id, into: &buffer)
            copyNumber(Int64(number), into: &buffer)
            copyText(requested.sku, into: &buffer)
            copyText(requested.locationId, into: &buffer)
            copyNumber(requested.quantity, into: &buffer)
            copyNumber(hold.expiresAtMs, into: &buffer, last: true)
        }
    }

    /// Streams `rows` into `table` with COPY's text format, `encode` writing each row (its
    /// columns, the last one ending the row), in sends of at most `Limits.rebuildCopyBufferBytesMax`.
    private static func copy<Rows: Sequence>(
        _ rows: Rows, into table: String, columns: [String], on connection: PostgresConnection, logger: Logger,
        _ encode: (Rows.Element, inout ByteBuffer) throws -> Void
    ) async throws {
        try await connection.copyFrom(table: table, columns: columns, logger: logger) { writer in
            var buffer = ByteBuffer()
            buffer.reserveCapacity(Limits.rebuildCopyBufferBytesMax + 4096)
            for row in rows {
                try encode(row, &buffer)
                if buffer.readableBytes >= Limits.rebuildCopyBufferBytesMax {
                    try await writer.write(buffer)
                    buffer.clear()
                }
            }
            if buffer.readableBytes > 0 { try await writer.write(buffer) }
        }
    }

    /// A text[] literal whose elements are all quoted, so that an identifier spelled NULL stays
    /// a string (as `string_to_array` keeps it).
    private static func arrayLiteral(_ elements: [String]) -> String {
        var literal = "{"
        for (index, element) in elements.enumerated() {
            if index > 0 { literal += "," }
            let plain = !element.utf8.contains { $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "\"") }
            literal += "\"" + (plain ? element : element.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")) + "\""
        }
        return literal + "}"
    }

    /// A number column of COPY's text format (`\N` for none), and the tab or newline after it.
    private static func copyNumber(_ value: Int64?, into buffer: inout ByteBuffer, last: Bool = false) {
        if let value { buffer.writeString(String(value)) } else { buffer.writeStaticString("\\N") }
        buffer.writeInteger(last ? UInt8(ascii: "\n") : UInt8(ascii: "\t"))
    }

    /// A text column of COPY's text format, and the tab after it: backslash, tab, newline and
    /// carriage return are escaped (identifiers hold none of them, but the format is kept whole).
    private static func copyText(_ text: String?, into buffer: inout ByteBuffer) {
        guard let text else {
            buffer.writeStaticString("\\N\t")
            return
        }
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\\"): buffer.writeStaticString("\\\\")
            case UInt8(ascii: "\t"): buffer.writeStaticString("\\t")
            case UInt8(ascii: "\n"): buffer.writeStaticString("\\n")
            case UInt8(ascii: "\r"): buffer.writeStaticString("\\r")
            default: buffer.writeInteger(byte)
            }
        }
        buffer.writeInteger(UInt8(ascii: "\t"))
    }

    /// The JSON text stored for a hold's fulfilment and unfilled lines (deterministic: sorted keys).
    static func holdTexts(_ hold: Hold) throws -> (fulfilment: String?, unfilled: String) {
        let fulfilment = hold.fulfilment.map(fulfilmentDocument)
        let unfilled = hold.unfilled.isEmpty ? "[]" : try document(hold.unfilled)
        return (fulfilment, unfilled)
    }

    /// A fulfilment's JSON text, as `document` writes it (by hand: every click & collect hold).
    static func fulfilmentDocument(_ fulfilment: Fulfilment) -> String {
        var writer = JSONWriter(capacity: 96)
        writer.fulfilment(fulfilment)
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    /// Inserts or replaces hold rows. Lines travel as `;`-joined text (identifiers never
    /// contain `;`) because arrays of arrays do not bind.
    static func holdsSQL(_ records: [HoldRecord], table: String, into query: inout QueryBuilder) throws -> String {
        var fulfilments: [String] = []
        var unfilled: [String] = []
        for record in records {
            let texts = try holdTexts(record.hold)
            // Arrays of optionals do not bind; "" stands for none (a fulfilment is never empty).
            fulfilments.append(texts.fulfilment ?? "")
            unfilled.append(texts.unfilled)
        }
        let holds = records.map(\.hold)
        return """
            INSERT INTO \(table) (id, status, reference, fulfilment, allow_partial, line_skus, line_locations, line_quantities,
                                  unfilled, placed_at_ms, expires_at_ms, ended_at_ms, updated_at_ms, version)
            SELECT id, status, nullif(reference, ''), nullif(fulfilment, ''), allow_partial, string_to_array(skus, ';'),
                   string_to_array(locations, ';'), string_to_array(quantities, ';')::bigint[], unfilled, placed, expires,
                   nullif(ended, -1), updated, version
              FROM unnest(\(try query.bind(holds.map(\.id)))::text[], \(try query.bind(holds.map(\.recordedStatus.rawValue)))::text[],
                          \(try query.bind(holds.map { $0.reference ?? "" }))::text[], \(try query.bind(fulfilments))::text[],
                          \(try query.bind(holds.map(\.allowPartial)))::bool[],
                          \(try query.bind(holds.map { $0.lines.map(\.sku).joined(separator: ";") }))::text[],
                          \(try query.bind(holds.map { $0.lines.map(\.locationId).joined(separator: ";") }))::text[],
                          \(try query.bind(holds.map { $0.lines.map { String($0.quantity) }.joined(separator: ";") }))::text[],
                          \(try query.bind(unfilled))::text[], \(try query.bind(holds.map(\.placedAtMs)))::bigint[],
                          \(try query.bind(holds.map(\.expiresAtMs)))::bigint[], \(try query.bind(holds.map { $0.endedAtMs ?? -1 }))::bigint[],
                          \(try query.bind(holds.map(\.updatedAtMs)))::bigint[], \(try query.bind(records.map(\.version)))::bigint[])
                   AS h(id, status, reference, fulfilment, allow_partial, skus, locations, quantities, unfilled, placed, expires,
                        ended, updated, version)
            ON CONFLICT (id) DO UPDATE SET
                status = excluded.status, reference = excluded.reference, fulfilment = excluded.fulfilment,
                allow_partial = excluded.allow_partial, line_skus = excluded.line_skus, line_locations = excluded.line_locations,
                line_quantities = excluded.line_quantities, unfilled = excluded.unfilled, placed_at_ms = excluded.placed_at_ms,
                expires_at_ms = excluded.expires_at_ms, ended_at_ms = excluded.ended_at_ms,
                updated_at_ms = excluded.updated_at_ms, version = excluded.version
            """
    }

    /// The insert of the active holds' lines (no rows when none is active). Lines of holds that
    /// existed before must be deleted first, in a statement of their own: one statement cannot
    /// delete and re-insert the same key.
    static func activeLinesSQL(_ holds: [Hold], table: String, into query: inout QueryBuilder) throws -> String {
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
        return """
            INSERT INTO \(table) (hold_id, line_no, sku, location_id, quantity, expires_at_ms)
            SELECT * FROM unnest(\(try query.bind(ids))::text[], \(try query.bind(numbers))::int4[], \(try query.bind(skus))::text[],
                                 \(try query.bind(locations))::text[], \(try query.bind(quantities))::bigint[], \(try query.bind(expiries))::bigint[])
            """
    }

    /// The JSON text a document column holds: sorted keys, so a rebuild writes the same text.
    static func document<Value: Encodable>(_ value: Value) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// Inserts or replaces order rows.
    static func ordersSQL(_ records: [OrderRecord], table: String, into query: inout QueryBuilder) throws -> String {
        let orders = records.map(\.order)
        let documents = orders.map(OrderJSON.document)
        return """
            INSERT INTO \(table) (id, order_number, hold_id, status, location_ids, created_at_ms, pickup_expires_at_ms, document, version)
            SELECT id, number, nullif(hold, ''), status, string_to_array(locations, ';'), created, nullif(expires, -1), document, version
              FROM unnest(\(try query.bind(orders.map(\.id)))::text[], \(try query.bind(orders.map(\.orderNumber)))::text[],
                          \(try query.bind(orders.map { $0.holdId ?? "" }))::text[], \(try query.bind(orders.map(\.status.rawValue)))::text[],
                          \(try query.bind(orders.map { $0.queueLocationIds.joined(separator: ";") }))::text[],
                          \(try query.bind(orders.map(\.createdAtMs)))::bigint[],
                          \(try query.bind(orders.map { $0.status == .ready ? ($0.pickupExpiresAtMs ?? -1) : -1 }))::bigint[],
                          \(try query.bind(documents))::text[], \(try query.bind(records.map(\.version)))::bigint[])
                   AS o(id, number, hold, status, locations, created, expires, document, version)
            ON CONFLICT (id) DO UPDATE SET
                status = excluded.status, location_ids = excluded.location_ids,
                pickup_expires_at_ms = excluded.pickup_expires_at_ms, document = excluded.document, version = excluded.version
            """
    }

    /// Inserts or replaces transfer rows.
    static func transfersSQL(_ records: [TransferRecord], table: String, into query: inout QueryBuilder) throws -> String {
        let transfers = records.map(\.transfer)
        let documents = try transfers.map { try document($0) }
        return """
            INSERT INTO \(table) (id, status, from_location_id, to_location_id, order_id, document, version)
            SELECT id, status, source, destination, nullif(order_id, ''), document, version
              FROM unnest(\(try query.bind(transfers.map(\.id)))::text[], \(try query.bind(transfers.map(\.status.rawValue)))::text[],
                          \(try query.bind(transfers.map(\.fromLocationId)))::text[], \(try query.bind(transfers.map(\.toLocationId)))::text[],
                          \(try query.bind(transfers.map { $0.orderId ?? "" }))::text[], \(try query.bind(documents))::text[],
                          \(try query.bind(records.map(\.version)))::bigint[])
                   AS t(id, status, source, destination, order_id, document, version)
            ON CONFLICT (id) DO UPDATE SET status = excluded.status, document = excluded.document, version = excluded.version
            """
    }

    /// Inserts order assignments (what daily capacity counts).
    static func assignmentsSQL(_ assignments: [OrderAssignment], table: String, into query: inout QueryBuilder) throws -> String {
        let rows = assignments.sorted()
        return """
            INSERT INTO \(table) (location_id, day, order_id)
            SELECT * FROM unnest(\(try query.bind(rows.map(\.locationId)))::text[], \(try query.bind(rows.map(\.day)))::bigint[],
                                 \(try query.bind(rows.map(\.orderId)))::text[])
            """
    }

    /// Adds KPI counters to their rows (creating those missing): a writer's contributions are
    /// added to what is stored, so transactions may commit in any order; a rebuild writes the
    /// whole ledger's sums into empty tables with the same statement.
    static func kpiCountersSQL(_ rows: [(KPIBucket, KPICounters)], table: String, into query: inout QueryBuilder) throws -> String {
        let names = KPICounters.names
        var arrays: [String] = [
            "\(try query.bind(rows.map(\.0.locationId)))::text[]", "\(try query.bind(rows.map(\.0.hourMs)))::bigint[]",
        ]
        for index in names.indices { arrays.append("\(try query.bind(rows.map { $0.1.all[index] }))::bigint[]") }
        return """
            INSERT INTO \(table) (location_id, hour_ms, \(names.joined(separator: ", ")))
            SELECT * FROM unnest(\(arrays.joined(separator: ", ")))
            ON CONFLICT (location_id, hour_ms) DO UPDATE SET
                \(names.map { "\($0) = \(table).\($0) + excluded.\($0)" }.joined(separator: ", "))
            """
    }

    /// Adds order-to-ready minutes to their rows, as `kpiCountersSQL` adds counters.
    static func kpiReadyMinutesSQL(_ rows: [(KPIReadyKey, Int64)], table: String, into query: inout QueryBuilder) throws -> String {
        """
        INSERT INTO \(table) (location_id, hour_ms, minute, orders)
        SELECT * FROM unnest(\(try query.bind(rows.map(\.0.bucket.locationId)))::text[], \(try query.bind(rows.map(\.0.bucket.hourMs)))::bigint[],
                             \(try query.bind(rows.map { Int64($0.0.minute) }))::bigint[], \(try query.bind(rows.map(\.1)))::bigint[])
        ON CONFLICT (location_id, hour_ms, minute) DO UPDATE SET orders = \(table).orders + excluded.orders
        """
    }

    /// The assignments an event makes (creation and re-sourcing).
    static func assignments(_ event: LedgerEvent) -> [OrderAssignment] {
        guard case .order(let recorded) = event else { return [] }
        let day = Orders.day(ofMs: recorded.occurredAtMs)
        return recorded.assigned.map { OrderAssignment(locationId: $0, day: day, orderId: recorded.order.id) }
    }

    /// Runs INSERT statements built in `query` as one statement (nothing when there is none).
    static func run(_ statements: [String], _ query: QueryBuilder, on connection: PostgresConnection, logger: Logger) async throws {
        guard let complete = statement(statements, query) else { return }
        try await connection.query(complete, logger: logger)
    }

    /// The one statement of `run`: the last statement, with the others as its parts.
    static func statement(_ statements: [String], _ query: QueryBuilder) -> PostgresQuery? {
        guard let last = statements.last else { return nil }
        var sql = ""
        if statements.count > 1 {
            sql = "WITH " + statements.dropLast().enumerated().map { "w\($0.offset) AS (\($0.element))" }.joined(separator: ",\n") + "\n"
        }
        var complete = query
        complete.sql = sql + last
        return complete.query
    }
}
