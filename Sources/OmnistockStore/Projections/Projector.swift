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

    public init() {}

    /// A projector that starts from rows as they are stored (a writer's locked rows).
    init(
        positions: [StockKey: PositionRecord], holds: [String: HoldRecord], orders: [String: OrderRecord],
        transfers: [String: TransferRecord], locations: [String: LocationRecord]
    ) {
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
        switch event {
        case .locationDefined(let defined):
            let previous = locations[defined.location.id]
            guard let location = LocationStream.evolve(previous?.location, event) else {
                preconditionFailure("a location.defined event produced no location")
            }
            locations[location.id] = LocationRecord(
                location: location, version: streamVersion, createdAt: previous?.createdAt ?? recordedAt, updatedAt: recordedAt)
        case .stockMoved, .stockCounted, .countCorrected, .safetyStockSet, .positionShort:
            let key = event.stockKey!
            let previous = positions[key]?.position ?? .empty
            positions[key] = PositionRecord(key: key, position: StockLedger.evolve(previous, event), version: streamVersion)
        case .holdPlaced, .holdExtended, .holdReleased, .holdExpired, .holdConverted:
            let id = event.holdId!
            // Holds.evolve traps on an event of an unknown hold (anything but its placement).
            holds[id] = HoldRecord(hold: Holds.evolve(holds[id]?.hold, event), version: streamVersion)
            applyChanges(event)
        case .order(let recorded):
            orders[recorded.order.id] = OrderRecord(order: Orders.evolve(orders[recorded.order.id]?.order, event), version: streamVersion)
            applyChanges(event)
            assignments.formUnion(ProjectionWriter.assignments(event))
        case .transfer(let recorded):
            let id = recorded.transfer.id
            transfers[id] = TransferRecord(transfer: Transfers.evolve(transfers[id]?.transfer, event), version: streamVersion)
            applyChanges(event)
        }
    }

    /// Holds, orders and transfers change the promised buckets of positions whose streams they
    /// do not belong to: their versions stay those of their own streams. Only `incoming` may
    /// reach a position the ledger never stocked (a transfer to a new store); its row has
    /// version 0 until the goods are recorded there.
    private mutating func applyChanges(_ event: LedgerEvent) {
        for change in event.positionChanges {
            var record = positions[change.key] ?? PositionRecord(key: change.key, position: .empty, version: 0)
            precondition(record.version > 0 || (change.held == 0 && change.allocated == 0), "a promise on a position the ledger never stocked")
            record.position = record.position.applying(change)
            positions[change.key] = record
        }
    }
}
