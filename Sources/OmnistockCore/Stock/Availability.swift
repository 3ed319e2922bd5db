/// Availability of one SKU across the estate, per location and per channel.
///
/// The channel rules live here: every active location counts towards `available`; only
/// locations that ship orders count towards `ship`; pickup points that have the SKU are listed,
/// nearest first when the shopper's position is known, within the radius when one is given.
public struct SkuAvailability: Equatable, Sendable {
    public struct AtLocation: Equatable, Sendable {
        public var location: Location
        public var position: StockPosition
        public var available: Int64
        /// Kilometres from the point asked about, when one was.
        public var distanceKilometres: Double?
    }

    public var sku: String
    public var available: Int64
    public var ship: Int64
    public var locations: [AtLocation]
    public var pickup: [AtLocation]

    /// Sums one SKU's positions at active locations into per-location and per-channel figures.
    public static func summarize(
        sku: String, positions: [(location: Location, position: StockPosition)],
        near: (latitude: Double, longitude: Double)?, radiusKilometres: Double?
    ) -> SkuAvailability {
        var result = SkuAvailability(sku: sku, available: 0, ship: 0, locations: [], pickup: [])
        for (location, position) in positions where location.active {
            let available = position.available(locationDefault: location.safetyStockDefault)
            let distance = near.map {
                // Rounded to ten metres: more precision says nothing about a shop's door.
                (Geo.distanceKilometres(latitude1: $0.latitude, longitude1: $0.longitude, latitude2: location.latitude, longitude2: location.longitude) * 100).rounded() / 100
            }
            let entry = AtLocation(location: location, position: position, available: available, distanceKilometres: distance)
            result.locations.append(entry)
            result.available += available
            if location.capabilities.ships { result.ship += available }
            if location.capabilities.pickup, available > 0, radiusKilometres.map({ (distance ?? 0) <= $0 }) ?? true {
                result.pickup.append(entry)
            }
        }
        if near != nil {
            result.pickup.sort { ($0.distanceKilometres ?? 0, $0.location.id) < ($1.distanceKilometres ?? 0, $1.location.id) }
        }
        return result
    }
}
