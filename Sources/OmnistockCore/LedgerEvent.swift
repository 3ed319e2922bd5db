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
        }
    }

    /// The hold an event of a hold's stream concerns (nil for the others).
    public var holdId: String? {
        switch self {
        case .holdPlaced(let event): event.holdId
        case .holdExtended(let event): event.holdId
        case .holdReleased(let event): event.holdId
        case .holdExpired(let event): event.holdId
        default: nil
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
        case .holdPlaced, .holdExtended, .holdReleased, .holdExpired: nil
        }
    }

    /// The stream (what the event concerns) the event belongs to.
    public var stream: String {
        switch self {
        case .locationDefined(let event): LocationStream.name(event.location.id)
        case .holdPlaced, .holdExtended, .holdReleased, .holdExpired: Hold.stream(holdId!)
        default: stockKey!.stream
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
        default: [stockKey!.locationId]
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
