import OmnistockCore

/// The small world the simulation runs in: three SKUs, stores and warehouses in France, one
/// warehouse in Athens (too far from France to serve it) and one closed store, with pickup
/// windows, capacities and safety stocks chosen so that every rule has a chance to bite.
enum Estate {
    static let skus = ["A", "B", "C"]
    /// Identifiers no rule accepts, and a well-formed one nobody defined.
    static let badIdentifier = "not an id"
    static let unknownLocation = "NOWHERE"

    /// Where each location is, for the reference model: sites of one region are within
    /// sourcing reach of each other (every French site is under 600 km from every other) and
    /// of destinations in it; Athens is more than 1,800 km from every French site.
    enum Region { case france, greece, america }

    struct Site {
        var location: Location
        var region: Region
    }

    static func site(
        _ id: String, _ kind: Location.Kind, _ latitude: Double, _ longitude: Double, region: Region, pickup: Bool, ships: Bool,
        capacity: Int64, window: Int64, safety: Int64, active: Bool = true, priority: Int64 = 100
    ) -> Site {
        Site(
            location: Location(
                id: id, name: id, kind: kind, latitude: latitude, longitude: longitude, capabilities: .init(pickup: pickup, ships: ships),
                dailyCapacity: capacity, priority: priority, pickupWindowDays: window, active: active, safetyStockDefault: safety),
            region: region)
    }

    static let sites: [String: Site] = [
        // Paris, a pickup point that ships, with a one-day pickup window.
        "S1": site("S1", .store, 48.86, 2.34, region: .france, pickup: true, ships: true, capacity: 40, window: 1, safety: 0, priority: 10),
        // Paris, a pickup point that does not ship, keeping one unit of every SKU back.
        "S2": site("S2", .store, 48.87, 2.33, region: .france, pickup: true, ships: false, capacity: 40, window: 2, safety: 1),
        // Lille, ships, but takes three orders a day.
        "S3": site("S3", .store, 50.63, 3.06, region: .france, pickup: true, ships: true, capacity: 3, window: 3, safety: 0),
        // Orléans, the warehouse: ships, no pickup, keeps two units back.
        "W1": site("W1", .warehouse, 47.90, 1.90, region: .france, pickup: false, ships: true, capacity: 1_000, window: 7, safety: 2, priority: 50),
        // Athens: ships, but too far from any French address or store.
        "W2": site("W2", .warehouse, 37.98, 23.73, region: .greece, pickup: false, ships: true, capacity: 1_000, window: 7, safety: 0),
        // Paris, closed.
        "X1": site("X1", .store, 48.85, 2.35, region: .france, pickup: true, ships: true, capacity: 40, window: 1, safety: 0, active: false),
    ]

    static let locations: [String: Location] = sites.mapValues(\.location)
    static let locationIds = locations.keys.sorted()

    struct Destination {
        var name: String
        var latitude: Double
        var longitude: Double
        var region: Region
    }

    static let destinations = [
        Destination(name: "Paris", latitude: 48.85, longitude: 2.35, region: .france),
        Destination(name: "Lyon", latitude: 45.76, longitude: 4.84, region: .france),
        Destination(name: "Athens", latitude: 37.98, longitude: 23.70, region: .greece),
        Destination(name: "New York", latitude: 40.71, longitude: -74.0, region: .america),
    ]

    /// The region of a point the simulation ships to or picks up at.
    static func region(latitude: Double, longitude: Double) -> Region? {
        destinations.first { $0.latitude == latitude && $0.longitude == longitude }?.region
            ?? sites.values.first { $0.location.latitude == latitude && $0.location.longitude == longitude }?.region
    }
}
