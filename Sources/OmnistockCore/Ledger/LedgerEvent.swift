/// The events of the ledger: every change the service records, as closed, typed values.
///
/// Each case has a stable type name (what the event feed shows and filters on) and a payload
/// that is `Codable` with the standard library alone; the store chooses the encoding.
public enum LedgerEvent: Equatable, Sendable {
    case locationDefined(LocationDefined)
    case stockMoved(StockMoved)
    case stockCounted(StockCounted)
    case countCorrected(CountCorrected)
    case safetyStockSet(SafetyStockSet)
    case positionShort(PositionShort)
    case holdPlaced(HoldPlaced)
    case holdExtended(HoldExtended)
    case holdReleased(HoldReleased)
    case holdExpired(HoldExpired)
    case holdConverted(HoldConverted)
    case order(OrderRecorded)
    case transfer(TransferRecorded)

    /// The stable type name written to the ledger.
    public var type: String {
        switch self {
        case .locationDefined: LocationDefined.type
        case .stockMoved: StockMoved.type
        case .stockCounted: StockCounted.type
        case .countCorrected: CountCorrected.type
        case .safetyStockSet: SafetyStockSet.type
        case .positionShort: PositionShort.type
        case .holdPlaced: HoldPlaced.type
        case .holdExtended: HoldExtended.type
        case .holdReleased: HoldReleased.type
        case .holdExpired: HoldExpired.type
        case .holdConverted: HoldConverted.type
        case .order(let event): event.step.type
        case .transfer(let event): event.step.type
        }
    }

    /// The hold an event of a hold's stream concerns (nil for the others).
    public var holdId: String? {
        switch self {
        case .holdPlaced(let event): event.holdId
        case .holdExtended(let event): event.holdId
        case .holdReleased(let event): event.holdId
        case .holdExpired(let event): event.holdId
        case .holdConverted(let event): event.holdId
        case .locationDefined, .stockMoved, .stockCounted, .countCorrected, .safetyStockSet, .positionShort, .order, .transfer: nil
        }
    }

    /// The stock position an event concerns, for the events of stock streams.
    public var stockKey: StockKey? {
        switch self {
        case .locationDefined: nil
        case .stockMoved(let event): StockKey(sku: event.sku, locationId: event.locationId)
        case .stockCounted(let event): StockKey(sku: event.sku, locationId: event.locationId)
        case .countCorrected(let event): StockKey(sku: event.sku, locationId: event.locationId)
        case .safetyStockSet(let event): StockKey(sku: event.sku, locationId: event.locationId)
        case .positionShort(let event): StockKey(sku: event.sku, locationId: event.locationId)
        case .holdPlaced, .holdExtended, .holdReleased, .holdExpired, .holdConverted, .order, .transfer: nil
        }
    }

    /// The stream (what the event concerns) the event belongs to.
    public var stream: String {
        switch self {
        case .locationDefined(let event): LocationStream.name(event.location.id)
        case .holdPlaced, .holdExtended, .holdReleased, .holdExpired, .holdConverted: Hold.stream(holdId!)
        case .order(let event): Order.stream(event.order.id)
        case .transfer(let event): Transfer.stream(event.transfer.id)
        case .stockMoved, .stockCounted, .countCorrected, .safetyStockSet, .positionShort: stockKey!.stream
        }
    }

    /// The locations the event concerns, so feeds can be scoped to a caller's locations.
    public var locationIds: [String] {
        switch self {
        case .locationDefined(let event): [event.location.id]
        case .holdPlaced(let event): Array(Set(event.lines.map(\.locationId))).sorted()
        case .holdReleased(let event): Array(Set(event.lines.map(\.locationId))).sorted()
        case .holdExpired(let event): Array(Set(event.lines.map(\.locationId))).sorted()
        case .holdExtended(let event): event.locationIds
        case .holdConverted(let event): Array(Set(event.lines.map(\.locationId))).sorted()
        case .order(let event):
            // A return concerns the store that took it back too (its stock grows by it), which
            // need not be any of the order's own locations.
            Array(Set(event.order.locationIds + event.changes.map(\.locationId) + event.returnedAt)).sorted()
        case .transfer(let event): [event.transfer.fromLocationId, event.transfer.toLocationId].sorted()
        case .stockMoved, .stockCounted, .countCorrected, .safetyStockSet, .positionShort: [stockKey!.locationId]
        }
    }
}

extension LedgerEvent {
    /// The changes an event makes to the promised buckets (held, allocated, incoming) of
    /// positions whose streams it does not belong to; on-hand changes are stock events.
    public var positionChanges: [PositionChange] {
        switch self {
        case .holdPlaced(let event): event.lines.map { PositionChange(sku: $0.sku, locationId: $0.locationId, held: $0.quantity) }
        case .holdReleased(let event): event.lines.map { PositionChange(sku: $0.sku, locationId: $0.locationId, held: -$0.quantity) }
        case .holdExpired(let event): event.lines.map { PositionChange(sku: $0.sku, locationId: $0.locationId, held: -$0.quantity) }
        case .holdConverted(let event): event.lines.map { PositionChange(sku: $0.sku, locationId: $0.locationId, held: -$0.quantity) }
        case .order(let event): event.changes
        case .transfer(let event): event.changes
        case .locationDefined, .stockMoved, .stockCounted, .countCorrected, .safetyStockSet, .positionShort, .holdExtended: []
        }
    }
}

/// A location was created or its attributes replaced; carries the whole new definition, so a
/// replay needs no other event to rebuild it.
public struct LocationDefined: Equatable, Codable, Sendable {
    public static let type = "location.defined"
    public var location: Location
    /// True when this event created the location.
    public var created: Bool

    public init(location: Location, created: Bool) {
        self.location = location
        self.created = created
    }
}
