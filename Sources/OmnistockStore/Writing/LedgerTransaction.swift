import Foundation
import Logging
import OmnistockCore
import PostgresNIO

/// The one write path: every writer (stock, locations, holds, orders, store steps, no-shows,
/// returns, transfers) opens one on the rows it locked, applies the events its decisions made,
/// and finishes it.
///
/// `apply` folds each event into the rows through the same `Projector` a replay uses and
/// tracks the stream versions the append must find. `finish` writes every touched projection
/// table in one statement, then appends the events last, so the ledger head (the lock that
/// serialises appends) is held only for the append and the commit, and notifies the ledger
/// tails of every instance, in the same transaction, with the new head position.
///
/// Every event is recorded at `nowMs`, the database clock the decisions used (read once the
/// writer held its locks): the ledger never dates an event by another clock than the one that
/// decided it.
public struct LedgerTransaction {
    public let connection: PostgresConnection
    /// The database clock the decisions of this transaction used, in ms since 1970.
    public let nowMs: Int64
    let logger: Logger
    private var state: Projector
    /// Stream versions as they stood when the rows were locked (0: no stream), for the streams
    /// this transaction appends to.
    private var opened: [String: Int64] = [:]
    /// Positions locked by the writer (created when new): only these may change.
    private let locked: Set<StockKey>
    private var touchedPositions = Set<StockKey>()
    private var touchedHolds = Set<String>()
    private var touchedOrders = Set<String>()
    private var touchedTransfers = Set<String>()
    private var touchedLocations = Set<String>()
    private var newAssignments: [OrderAssignment] = []
    public private(set) var events: [LedgerEvent] = []
    private var metadata: [EventMetadata] = []

    /// Opens the transaction on the rows a writer locked and read, as they are stored.
    ///
    /// - Parameter safetyDefaults: the default safety stock of every location whose positions
    ///   the events may change (`LocationDefaults.read`): it decides which positions are
    ///   sellable, a KPI level this transaction's events move.
    public init(
        on connection: PostgresConnection, nowMs: Int64, logger: Logger, positions: [StockKey: PositionRecord] = [:],
        holds: [HoldRecord] = [], orders: [OrderRecord] = [], transfers: [TransferRecord] = [], locations: [LocationRecord] = [],
        safetyDefaults: [String: Int64] = [:]
    ) {
        precondition(nowMs > 0, "a transaction decides at a time")
        self.connection = connection
        self.nowMs = nowMs
        self.logger = logger
        self.locked = Set(positions.keys)
        self.state = Projector(
            positions: positions,
            holds: Dictionary(holds.map { ($0.hold.id, $0) }, uniquingKeysWith: { first, _ in first }),
            orders: Dictionary(orders.map { ($0.order.id, $0) }, uniquingKeysWith: { first, _ in first }),
            transfers: Dictionary(transfers.map { ($0.transfer.id, $0) }, uniquingKeysWith: { first, _ in first }),
            locations: Dictionary(locations.map { ($0.location.id, $0) }, uniquingKeysWith: { first, _ in first }),
            safetyDefaults: safetyDefaults.merging(locations.map { ($0.location.id, $0.location.safetyStockDefault) }) { given, _ in given })
    }

    /// Opens the transaction on the rows a writer locked, with the default safety stock of the
    /// locations of those positions read in it (`LocationDefaults`).
    public static func open(
        on connection: PostgresConnection, nowMs: Int64, logger: Logger, positions: [StockKey: PositionRecord] = [:],
        holds: [HoldRecord] = [], orders: [OrderRecord] = [], transfers: [TransferRecord] = []
    ) async throws -> LedgerTransaction {
        let defaults = try await LocationDefaults.read(for: positions, on: connection, logger: logger)
        return LedgerTransaction(
            on: connection, nowMs: nowMs, logger: logger, positions: positions, holds: holds, orders: orders, transfers: transfers,
            safetyDefaults: defaults)
    }

    // MARK: - The rows as this transaction leaves them so far

    public func position(_ key: StockKey) -> PositionRecord? { state.positions[key] }
    public func hold(_ id: String) -> HoldRecord? { state.holds[id] }
    public func order(_ id: String) -> OrderRecord? { state.orders[id] }
    public func transfer(_ id: String) -> TransferRecord? { state.transfers[id] }
    public func location(_ id: String) -> LocationRecord? { state.locations[id] }

    /// Every locked position's figures as they stand now in this transaction.
    public var positions: [StockKey: StockPosition] { state.positions.mapValues(\.position) }

    // MARK: - Applying

    /// Applies one decided event: the rows it changes, and its stream's expected version.
    public mutating func apply(_ event: LedgerEvent, metadata eventMetadata: EventMetadata) {
        let stream = event.stream
        let version = state.version(ofStreamOf: event)
        if opened[stream] == nil { opened[stream] = version }
        if let key = event.stockKey {
            precondition(locked.contains(key), "a position was changed without being locked")
            touchedPositions.insert(key)
        }
        for change in event.positionChanges {
            precondition(locked.contains(change.key), "a position was changed without being locked")
            touchedPositions.insert(change.key)
        }
        markTouched(event)
        state.apply(event, streamVersion: version + 1, recordedAt: Self.date(nowMs))
        events.append(event)
        metadata.append(eventMetadata)
    }

    /// Applies events that share their metadata (one request's).
    public mutating func apply(_ events: [LedgerEvent], metadata eventMetadata: EventMetadata) {
        for event in events { apply(event, metadata: eventMetadata) }
    }

    private mutating func markTouched(_ event: LedgerEvent) {
        switch event {
        case .locationDefined(let defined):
            touchedLocations.insert(defined.location.id)
        case .stockMoved, .stockCounted, .countCorrected, .safetyStockSet, .positionShort:
            break
        case .holdPlaced, .holdExtended, .holdReleased, .holdExpired, .holdConverted:
            touchedHolds.insert(event.holdId!)
        case .order(let recorded):
            touchedOrders.insert(recorded.order.id)
            newAssignments += ProjectionWriter.assignments(event)
        case .transfer(let recorded):
            touchedTransfers.insert(recorded.transfer.id)
        }
    }

    /// The time an event recorded at `ms` has when read back from the ledger: built as
    /// PostgresNIO builds a decoded `timestamptz` (microseconds after 2000-01-01), so the
    /// location rows a writer writes carry to the microsecond the times a replay writes.
    static func date(_ ms: Int64) -> Date {
        Date(timeInterval: Double((ms - postgresEpochMs) * 1000) / 1_000_000, since: postgresEpoch)
    }

    private static let postgresEpochMs: Int64 = 946_684_800_000
    private static let postgresEpoch = Date(timeIntervalSince1970: 946_684_800)

    // MARK: - Finishing

    /// Writes the projections, then appends the events and notifies, in this order. Returns
    /// where the events landed (empty when nothing was applied; vacant rows are still removed).
    @discardableResult
    public func finish(using ledger: EventStore) async throws -> [AppendedEvent] {
        try await finish(using: ledger, alongside: { _ in [] })
    }

    /// `finish`, with statements of the writer's own (the answers of its Idempotency-Keys) made
    /// parts of the projection statement: they run in the same round trip, before the append.
    @discardableResult
    func finish(using ledger: EventStore, alongside: (inout QueryBuilder) throws -> [String]) async throws -> [AppendedEvent] {
        var expected: [String: ExpectedVersion] = [:]
        for (stream, version) in opened { expected[stream] = version == 0 ? .noStream : .exact(version) }
        // The projection statements are written without waiting for their answers: the append
        // goes out behind them on the same connection, which runs them in order (one wait
        // for both; see `Answered`).
        let prepared: EventStore.PreparedAppend
        let projections: [Answered]
        if events.count >= Limits.appendEncodedAlongsideEventsMin {
            // The events are encoded in a child task while the projection statement runs: for a
            // 10,000-line movement request that is about 16 ms of encoding beside 60-70 ms of
            // the statement. A small batch is encoded here, where a task would cost more.
            let (events, metadata) = (self.events, self.metadata)
            async let encoded = Self.prepare(events, metadata: metadata, expected: expected)
            projections = try sendProjections(alongside: alongside)
            prepared = try await encoded
        } else {
            projections = try sendProjections(alongside: alongside)
            prepared = try EventStore.prepare(events, metadata: metadata, expected: expected)
        }
        let appended: [AppendedEvent]
        do {
            appended = try await ledger.append(prepared, recordedAtMs: nowMs, on: connection)
        } catch {
            // A projection statement that failed aborted the transaction, and the append
            // failed for that reason: the projection's error is the cause.
            if let cause = projections.lazy.compactMap(\.failure).first { throw cause }
            throw error
        }
        // Answered before the append (or now, when there was nothing to append).
        for projection in projections { try await projection.outcome() }
        assert(appended.count == events.count, "every applied event was appended")
        if let last = appended.last { LedgerReach.current?.reached(last.position) }
        return appended
    }

    private static func prepare(
        _ events: [LedgerEvent], metadata: [EventMetadata], expected: [String: ExpectedVersion]
    ) async throws -> EventStore.PreparedAppend {
        try EventStore.prepare(events, metadata: metadata, expected: expected)
    }

    /// Every touched table in one statement, after the deletes that must come first: active
    /// lines of holds that existed before, and rows of positions no event ever stocked that this
    /// transaction leaves empty (locking creates them; they are not positions, and a rebuild
    /// would not have them). The statements are written in this order and not waited for.
    private func sendProjections(alongside: (inout QueryBuilder) throws -> [String]) throws -> [Answered] {
        let tables = ProjectionWriter.Tables.live
        let rows = touchedPositions.sorted().map { state.positions[$0]! }
        let vacant = locked.filter { key in state.positions[key].map(\.isVacant) ?? true }.sorted()
        var sent: [Answered] = []
        if !vacant.isEmpty {
            sent.append(connection.send(
                """
                DELETE FROM stock_positions
                 WHERE (sku, location_id) IN (SELECT * FROM unnest(\(vacant.map(\.sku))::text[], \(vacant.map(\.locationId))::text[]))
                   AND version = 0
                """,
                logger: logger))
        }
        let replaced = touchedHolds.filter { opened[Hold.stream($0)].map { $0 > 0 } ?? false }.sorted()
        if !replaced.isEmpty {
            sent.append(connection.send("DELETE FROM active_hold_lines WHERE hold_id = ANY(\(replaced)::text[])", logger: logger))
        }
        var query = QueryBuilder()
        var statements: [String] = []
        let positions = rows.filter { !$0.isVacant }
        if !positions.isEmpty { statements.append(try ProjectionWriter.positionsSQL(positions, table: tables.positions, into: &query)) }
        if !touchedLocations.isEmpty {
            let records = touchedLocations.sorted().map { state.locations[$0]! }
            statements.append(try ProjectionWriter.locationsSQL(records, table: tables.locations, into: &query))
        }
        if !touchedHolds.isEmpty {
            let holds = touchedHolds.sorted().map { state.holds[$0]! }
            statements.append(try ProjectionWriter.holdsSQL(holds, table: tables.holds, into: &query))
            if holds.contains(where: { $0.hold.recordedStatus == .active }) {
                statements.append(try ProjectionWriter.activeLinesSQL(holds.map(\.hold), table: tables.activeHoldLines, into: &query))
            }
        }
        if !touchedOrders.isEmpty {
            let orders = touchedOrders.sorted().map { state.orders[$0]! }
            statements.append(try ProjectionWriter.ordersSQL(orders, table: tables.orders, into: &query))
        }
        if !touchedTransfers.isEmpty {
            let transfers = touchedTransfers.sorted().map { state.transfers[$0]! }
            statements.append(try ProjectionWriter.transfersSQL(transfers, table: tables.transfers, into: &query))
        }
        if !newAssignments.isEmpty {
            statements.append(try ProjectionWriter.assignmentsSQL(newAssignments, table: tables.assignments, into: &query))
        }
        // Sorted, so that two writers adding to the same hours lock their rows in one order.
        let kpis = state.kpis
        if !kpis.counters.isEmpty {
            let rows = kpis.counters.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
            statements.append(try ProjectionWriter.kpiCountersSQL(rows, table: tables.kpiCounters, into: &query))
        }
        if !kpis.readyMinutes.isEmpty {
            let rows = kpis.readyMinutes.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
            statements.append(try ProjectionWriter.kpiReadyMinutesSQL(rows, table: tables.kpiReadyMinutes, into: &query))
        }
        // The writer's own statements first: the last statement is the one the others are
        // parts of, and theirs need nothing of the projections.
        statements.insert(contentsOf: try alongside(&query), at: 0)
        if let statement = ProjectionWriter.statement(statements, query) { sent.append(connection.send(statement, logger: logger)) }
        return sent
    }
}
