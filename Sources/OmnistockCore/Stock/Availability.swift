/// The positions an availability read found, by index: each row names its SKU by its index
/// in `skus` and its location by its index in `locations`, so copying rows out of the live
/// model under its lock copies no string and counts no reference.
public struct StockRead: Sendable {
    public struct Row: Sendable {
        public var sku: Int32
        public var location: Int32
        public var position: StockPosition

        public init(sku: Int32, location: Int32, position: StockPosition) {
            self.sku = sku
            self.location = location
            self.position = position
        }
    }

    public var skus: [String]
    public var locations: [Location?]
    public var rows: [Row]

    public init(skus: [String], locations: [Location?], rows: [Row]) {
        self.skus = skus
        self.locations = locations
        self.rows = rows
    }
}

/// What an availability read answers, per SKU asked in the order asked (SKUs with no row
/// answer with zeros). The channel rules live here: every active location counts towards
/// `available`; only locations that ship orders count towards `ship`; pickup points that have
/// the SKU are listed. When the shopper's position is known, every location carries its
/// distance and locations and pickup points come nearest first (ties by id); with a radius
/// too, only the locations within it (inclusive) are listed and counted in the totals.
public struct AvailabilitySummary: Sendable {
    public struct AtLocation: Sendable {
        /// The location's index in `locations`.
        public var location: Int32
        public var position: StockPosition
        public var available: Int64
        public var safetyStock: Int64
        /// Kilometres from the point asked about, when one was.
        public var distanceKilometres: Double?
    }

    public struct Item: Sendable {
        public var sku: String
        public var available: Int64
        public var ship: Int64
        public var locations: [AtLocation]
        /// The pickup points, as indices in `locations`.
        public var pickup: [Int]
    }

    public var locations: [Location?]
    public var items: [Item]

    /// A radius without a point is ignored (the edge refuses it). Each location's distance is
    /// computed once for the read, not once per SKU.
    public init(_ read: StockRead, near: (latitude: Double, longitude: Double)?, radiusKilometres: Double?) {
        locations = read.locations
        items = read.skus.map { Item(sku: $0, available: 0, ship: 0, locations: [], pickup: []) }
        var distances = [Double?](repeating: nil, count: near == nil ? 0 : read.locations.count)
        for row in read.rows {
            let location = read.locations[Int(row.location)]!
            guard location.active else { continue }
            var distance: Double?
            if let near {
                distance = distances[Int(row.location)] ?? Geo.shownDistanceKilometres(from: near, to: location)
                distances[Int(row.location)] = distance
            }
            // The radius is compared with the distance as shown, so what is listed agrees with it.
            if let distance, let radiusKilometres, distance > radiusKilometres { continue }
            let available = row.position.available(locationDefault: location.safetyStockDefault)
            let safetyStock = row.position.effectiveSafetyStock(locationDefault: location.safetyStockDefault)
            let index = Int(row.sku)
            items[index].locations.append(
                AtLocation(location: row.location, position: row.position, available: available, safetyStock: safetyStock, distanceKilometres: distance))
            items[index].available += available
            if location.capabilities.ships { items[index].ship += available }
        }
        let ranks = near == nil ? [] : Self.nearestFirst(distances, locations: read.locations)
        for index in items.indices { order(index, ranks: ranks) }
    }

    /// Each location's place, nearest first (ties by id), among those with a distance: ranked
    /// once per read, so each SKU's locations are then sorted by a number (comparing distances
    /// and ids per SKU was a measured part of a cart read).
    private static func nearestFirst(_ distances: [Double?], locations: [Location?]) -> [Int32] {
        let placed = distances.indices.filter { distances[$0] != nil }
        let ordered = placed.sorted { a, b in
            distances[a]! != distances[b]! ? distances[a]! < distances[b]! : locations[a]!.id < locations[b]!.id
        }
        var ranks = [Int32](repeating: 0, count: distances.count)
        for (rank, ordinal) in ordered.enumerated() { ranks[ordinal] = Int32(rank) }
        return ranks
    }

    /// Puts an item's locations nearest first (when ranked) and lists its pickup points.
    private mutating func order(_ index: Int, ranks: [Int32]) {
        let locations = self.locations
        if !ranks.isEmpty {
            items[index].locations.sort { ranks[Int($0.location)] < ranks[Int($1.location)] }
        }
        items[index].pickup = items[index].locations.indices.filter { at in
            let entry = items[index].locations[at]
            return locations[Int(entry.location)]!.capabilities.pickup && entry.available > 0
        }
    }
}
