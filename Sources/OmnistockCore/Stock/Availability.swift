/// Availability of one SKU across the estate, per location and per channel.
///
/// The channel rules live here: every active location counts towards `available`; only
/// locations that ship orders count towards `ship`; pickup points that have the SKU are listed.
/// When the shopper's position is known, every location carries its distance and locations and
/// pickup points come nearest first (ties by id); with a radius too, only the locations within
/// it (inclusive) are listed and counted in the totals.
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
    /// A radius without a point is ignored (the edge refuses it).
    public static func summarize(
        sku: String, positions: [(location: Location, position: StockPosition)],
        near: (latitude: Double, longitude: Double)?, radiusKilometres: Double?
    ) -> SkuAvailability {
        summarizeOne(sku: sku, positions: positions, near: near, radiusKilometres: radiusKilometres, distances: [:])
    }

    /// Each SKU asked, in the order asked, from the rows of a read (SKUs with no row answer
    /// with zeros); each location's distance is computed once for the read, not once per SKU.
    public static func summarize(
        skus: [String], rows: [(sku: String, location: Location, position: StockPosition)],
        near: (latitude: Double, longitude: Double)?, radiusKilometres: Double?
    ) -> [SkuAvailability] {
        var bySku: [String: [(location: Location, position: StockPosition)]] = [:]
        var distances: [String: Double] = [:]
        for row in rows {
            bySku[row.sku, default: []].append((row.location, row.position))
            if let near, distances[row.location.id] == nil {
                distances[row.location.id] = Geo.shownDistanceKilometres(from: near, to: row.location)
            }
        }
        return skus.map { sku in
            summarizeOne(sku: sku, positions: bySku[sku] ?? [], near: near, radiusKilometres: radiusKilometres, distances: distances)
        }
    }

    /// One SKU; `distances` holds the shown distances from `near` already computed, by location id.
    private static func summarizeOne(
        sku: String, positions: [(location: Location, position: StockPosition)],
        near: (latitude: Double, longitude: Double)?, radiusKilometres: Double?, distances: [String: Double]
    ) -> SkuAvailability {
        var result = SkuAvailability(sku: sku, available: 0, ship: 0, locations: [], pickup: [])
        for (location, position) in positions where location.active {
            let distance = near.map { distances[location.id] ?? Geo.shownDistanceKilometres(from: $0, to: location) }
            // The radius is compared with the distance as shown, so what is listed agrees with it.
            if let distance, let radiusKilometres, distance > radiusKilometres { continue }
            let available = position.available(locationDefault: location.safetyStockDefault)
            let entry = AtLocation(location: location, position: position, available: available, distanceKilometres: distance)
            result.locations.append(entry)
            result.available += available
            if location.capabilities.ships { result.ship += available }
            if location.capabilities.pickup, available > 0 { result.pickup.append(entry) }
        }
        if near != nil {
            let nearestFirst = { (a: AtLocation, b: AtLocation) in
                (a.distanceKilometres ?? 0, a.location.id) < (b.distanceKilometres ?? 0, b.location.id)
            }
            // Sorted by index and then gathered: an entry is large (a location and a position),
            // and sorting the entries themselves moved them about (5% of a cart read, perf).
            result.locations = Self.sorted(result.locations, by: nearestFirst)
            result.pickup = Self.sorted(result.pickup, by: nearestFirst)
        }
        return result
    }

    private static func sorted(_ entries: [AtLocation], by before: (AtLocation, AtLocation) -> Bool) -> [AtLocation] {
        entries.indices.sorted { before(entries[$0], entries[$1]) }.map { entries[$0] }
    }
}
