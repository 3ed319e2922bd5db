import OmnistockCore

/// Availability of one SKU across the estate, per location and per channel, with each location
/// whole: how the tests read the core's `AvailabilitySummary`, where the channel rules live.
struct SkuAvailability: Equatable, Sendable {
    struct AtLocation: Equatable, Sendable {
        var location: Location
        var position: StockPosition
        var available: Int64
        /// Kilometres from the point asked about, when one was.
        var distanceKilometres: Double?
    }

    var sku: String
    var available: Int64
    var ship: Int64
    var locations: [AtLocation]
    var pickup: [AtLocation]

    /// Sums one SKU's positions at active locations into per-location and per-channel figures.
    /// A radius without a point is ignored (the edge refuses it).
    static func summarize(
        sku: String, positions: [(location: Location, position: StockPosition)],
        near: (latitude: Double, longitude: Double)?, radiusKilometres: Double?
    ) -> SkuAvailability {
        let read = StockRead(
            skus: [sku], locations: positions.map(\.location),
            rows: positions.indices.map { StockRead.Row(sku: 0, location: Int32($0), position: positions[$0].position) })
        let summary = AvailabilitySummary(read, near: near, radiusKilometres: radiusKilometres)
        let item = summary.items[0]
        let entry = { (at: AvailabilitySummary.AtLocation) in
            AtLocation(
                location: summary.locations[Int(at.location)]!, position: at.position, available: at.available,
                distanceKilometres: at.distanceKilometres)
        }
        return SkuAvailability(
            sku: sku, available: item.available, ship: item.ship, locations: item.locations.map(entry),
            pickup: item.pickup.map { entry(item.locations[$0]) })
    }
}
