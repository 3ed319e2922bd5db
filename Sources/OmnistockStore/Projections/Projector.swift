import Foundation
import OmnistockCore

/// Folds ledger events into projection rows in memory: the one place where an event becomes
/// rows, through the core's own evolve functions.
///
/// Replay and verify fold the whole ledger into an empty projector; every writer folds its new
/// events into a projector seeded with the rows it locked (a `LedgerTransaction`). The row a
/// writer writes is therefore by construction the row a replay writes.
public struct Projector: Sendable {
    public private(set) var locations: [String: LocationRecord] = [:]
    public private(set) var positions: [StockKey: PositionRecord] = [:]
    public private(set) var holds: [String: HoldRecord] = [:]
    public private(set) var orders: [String: OrderRecord] = [:]
    public private(set) var transfers: [String: TransferRecord] = [:]
    public private(set) var assignments: Set<OrderAssignment> = []
    /// The KPI counters the folded events add up to: a writer's contributions, or the whole
    /// ledger's in a replay.
    public private(set) var kpis = KPITally()
    /// Each location's default safety stock, which decides whether its positions are sellable.
    /// A replay keeps it from the location events; a writer is given those of the locations
    /// whose positions it may change (`LocationDefaults`).
    private var safetyDefaults: [String: Int64] = [:]

    public init() {}

    /// A projector that starts from rows as they are stored (a writer's locked rows).
    init(
        positions: [StockKey: PositionRecord], holds: [String: HoldRecord], orders: [String: OrderRecord],
        transfers: [String: TransferRecord], locations: [String: LocationRecord], safetyDefaults: [String: Int64]
    ) {
        self.safetyDefaults = safetyDefaults
        self.positions = positions
        self.holds = holds
        self.orders = orders
        self.transfers = transfers
        self.locations = locations
    }

    /// The version the stream of `event` has in this state (0: the stream has no event yet).
    func version(ofStreamOf event: LedgerEvent) -> Int64 {
        switch event {
        case .locationDefined(let defined): locations[defined.location.id]?.version ?? 0
        case .stockMoved, .stockCounted, .countCorrected, .safetyStockSet, .positionShort: positions[event.stockKey!]?.version ?? 0
        case .holdPlaced, .holdExtended, .holdReleased, .holdExpired, .holdConverted: holds[event.holdId!]?.version ?? 0
        case .order(let recorded): orders[recorded.order.id]?.version ?? 0
        case .transfer(let recorded): transfers[recorded.transfer.id]?.version ?? 0
        }
    }

    /// Applies one recorded event: `streamVersion` is its version in its stream, `recordedAt`
    /// the time the ledger gives it.
    public mutating func apply(_ event: LedgerEvent, streamVersion: Int64, recordedAt: Date) {
        let atMs = Int64((recordedAt.timeIntervalSince1970 * 1_000).rounded())
        switch event {
        case .locationDefined(let defined):
            let previous = locations[defined.location.id]
            guard let location = LocationStream.evolve(previous?.location, event) else {
                preconditionFailure("a location.defined event produced no location")
            }
            locations[location.id] = LocationRecord(
                location: location, version: streamVersion, createdAt: previous?.createdAt ?? recordedAt, updatedAt: recordedAt)
            redefaulted(location, atMs: atMs)
        case .stockMoved, .stockCounted, .countCorrected, .safetyStockSet, .positionShort:
            let key = event.stockKey!
            let before = positions[key]
            let record = PositionRecord(key: key, position: StockLedger.evolve(before?.position ?? .empty, event), version: streamVersion)
            positions[key] = record
            countPosition(key, before: before, after: record, by: event, atMs: atMs)
        case .holdPlaced, .holdExtended, .holdReleased, .holdExpired, .holdConverted:
            let id = event.holdId!
            // Holds.evolve traps on an event of an unknown hold (anything but its placement).
            holds[id] = HoldRecord(hold: Holds.evolve(holds[id]?.hold, event), version: streamVersion)
            applyChanges(event, atMs: atMs)
        case .order(let recorded):
            let previous = orders[recorded.order.id]?.order
            orders[recorded.order.id] = OrderRecord(order: Orders.evolve(previous, event), version: streamVersion)
            applyChanges(event, atMs: atMs)
            assignments.formUnion(ProjectionWriter.assignments(event))
            KPIs.count(event, previous: previous, atMs: atMs, into: &kpis)
            return
        case .transfer(let recorded):
            let id = recorded.transfer.id
            transfers[id] = TransferRecord(transfer: Transfers.evolve(transfers[id]?.transfer, event), version: streamVersion)
            applyChanges(event, atMs: atMs)
        }
        KPIs.count(event, previous: nil, atMs: atMs, into: &kpis)
    }

    /// The levels one position's change moves (tracked once a stock event of its own stream
    /// was recorded, that is once its version is above 0).
    private mutating func countPosition(_ key: StockKey, before: PositionRecord?, after: PositionRecord, by event: LedgerEvent, atMs: Int64) {
        guard let locationDefault = safetyDefaults[key.locationId] else {
            preconditionFailure("a position of \(key.locationId) changed without its location's default safety stock")
        }
        kpis.position(
            key, before: before?.position ?? .empty, trackedBefore: (before?.version ?? 0) > 0, after: after.position,
            trackedAfter: after.version > 0, locationDefault: locationDefault, by: event, atMs: atMs)
    }

    /// A location's default safety stock set or changed: every position of it that uses the
    /// default may have become sellable or not. A writer that changes a default holds every
    /// position of the location (`LocationStore`).
    private mutating func redefaulted(_ location: Location, atMs: Int64) {
        let before = safetyDefaults[location.id]
        safetyDefaults[location.id] = location.safetyStockDefault
        guard let before, before != location.safetyStockDefault else { return }
        for (key, record) in positions where key.locationId == location.id && record.version > 0 {
            let was = KPIs.sellable(record.position, locationDefault: before)
            let now = KPIs.sellable(record.position, locationDefault: location.safetyStockDefault)
            guard was != now else { continue }
            kpis.add(KPIBucket(locationId: location.id, hourMs: KPIs.hourMs(atMs))) { $0.sellablePositions += now ? 1 : -1 }
        }
    }

    /// Holds, orders and transfers change the promised buckets of positions whose streams they
    /// do not belong to: their versions stay those of their own streams. Only `incoming` may
    /// reach a position the ledger never stocked (a transfer to a new store); its row has
    /// version 0 until the goods are recorded there.
    private mutating func applyChanges(_ event: LedgerEvent, atMs: Int64) {
        for change in event.positionChanges {
            let before = positions[change.key]
            var record = before ?? PositionRecord(key: change.key, position: .empty, version: 0)
            precondition(record.version > 0 || (change.held == 0 && change.allocated == 0), "a promise on a position the ledger never stocked")
            record.position = record.position.applying(change)
            positions[change.key] = record
            countPosition(change.key, before: before, after: record, by: event, atMs: atMs)
        }
    }
}
