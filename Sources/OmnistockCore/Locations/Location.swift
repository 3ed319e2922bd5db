/// A store or a warehouse: where stock lives and what it may be asked to do.
public struct Location: Equatable, Hashable, Codable, Sendable {
    public enum Kind: String, Codable, CaseIterable, Sendable {
        case store
        case warehouse
    }

    public struct Capabilities: Equatable, Hashable, Codable, Sendable {
        /// A click & collect pickup point.
        public var pickup: Bool
        /// Ships orders: ship-from-store, or warehouse shipping.
        public var ships: Bool

        public init(pickup: Bool, ships: Bool) {
            self.pickup = pickup
            self.ships = ships
        }
    }

    public var id: String
    public var name: String
    public var kind: Kind
    public var latitude: Double
    public var longitude: Double
    public var capabilities: Capabilities
    /// Orders sourcing may give the location per UTC day; nil when it has no such limit (a
    /// warehouse that ships whatever it is sent).
    public var dailyCapacity: Int64?
    public var priority: Int64
    public var pickupWindowDays: Int64
    public var active: Bool
    /// The safety stock of every position here that does not set its own.
    public var safetyStockDefault: Int64

    public init(
        id: String, name: String, kind: Kind, latitude: Double, longitude: Double,
        capabilities: Capabilities, dailyCapacity: Int64?, priority: Int64, pickupWindowDays: Int64, active: Bool,
        safetyStockDefault: Int64 = 0
    ) {
        self.id = id
        self.name = name
        self.kind = kind
        self.latitude = latitude
        self.longitude = longitude
        self.capabilities = capabilities
        self.dailyCapacity = dailyCapacity
        self.priority = priority
        self.pickupWindowDays = pickupWindowDays
        self.active = active
        self.safetyStockDefault = safetyStockDefault
    }

    enum CodingKeys: String, CodingKey {
        case id, name, kind, latitude, longitude, capabilities, dailyCapacity, priority, pickupWindowDays, active
        case safetyStockDefault
    }

    /// Decodes a definition; events recorded before `safetyStockDefault` existed mean 0. A
    /// definition without `dailyCapacity` has no daily limit (encoding leaves it out then);
    /// events recorded before it became optional always carry it and still mean their figure.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            id: try container.decode(String.self, forKey: .id), name: try container.decode(String.self, forKey: .name),
            kind: try container.decode(Kind.self, forKey: .kind), latitude: try container.decode(Double.self, forKey: .latitude),
            longitude: try container.decode(Double.self, forKey: .longitude),
            capabilities: try container.decode(Capabilities.self, forKey: .capabilities),
            dailyCapacity: try container.decodeIfPresent(Int64.self, forKey: .dailyCapacity),
            priority: try container.decode(Int64.self, forKey: .priority),
            pickupWindowDays: try container.decode(Int64.self, forKey: .pickupWindowDays),
            active: try container.decode(Bool.self, forKey: .active),
            safetyStockDefault: try container.decodeIfPresent(Int64.self, forKey: .safetyStockDefault) ?? 0)
    }

    /// Every fault of a proposed location at once; empty when it is valid.
    public func faults() -> [Rejection] {
        var faults: [Rejection] = []
        if let fault = Identifier.check(id, field: "locationId") { faults.append(fault) }
        if let fault = Text.check(name, field: "name") { faults.append(fault) }
        if !(latitude.isFinite && abs(latitude) <= Limits.latitudeDegreesMax) {
            faults.append(.outOfRange(field: "latitude", lower: "-90", upper: "90"))
        }
        if !(longitude.isFinite && abs(longitude) <= Limits.longitudeDegreesMax) {
            faults.append(.outOfRange(field: "longitude", lower: "-180", upper: "180"))
        }
        if let dailyCapacity, !(0...Limits.dailyCapacityMax).contains(dailyCapacity) {
            faults.append(.outOfRange(field: "dailyCapacity", lower: "0", upper: "\(Limits.dailyCapacityMax)"))
        }
        if !(Limits.priorityMin...Limits.priorityMax).contains(priority) {
            faults.append(.outOfRange(field: "priority", lower: "\(Limits.priorityMin)", upper: "\(Limits.priorityMax)"))
        }
        if !(0...Limits.stockQuantityMax).contains(safetyStockDefault) {
            faults.append(.outOfRange(field: "safetyStockDefault", lower: "0", upper: "\(Limits.stockQuantityMax)"))
        }
        if !(Limits.pickupWindowDaysMin...Limits.pickupWindowDaysMax).contains(pickupWindowDays) {
            faults.append(.outOfRange(
                field: "pickupWindowDays", lower: "\(Limits.pickupWindowDaysMin)", upper: "\(Limits.pickupWindowDaysMax)"))
        }
        return faults
    }
}

/// Commands and events of the location stream, with its pure decide and evolve.
public enum LocationStream {
    /// The ledger stream of one location.
    public static func name(_ locationId: String) -> String { "location-\(locationId)" }

    /// Defines a location: creates it, or replaces its attributes (a PUT).
    ///
    /// An identical definition produces no event, so repeating a PUT leaves the ledger as it was.
    public static func decide(current: Location?, define proposed: Location) -> Result<[LedgerEvent], Rejections> {
        let faults = proposed.faults()
        if !faults.isEmpty { return .failure(Rejections(faults)) }
        if current == proposed { return .success([]) }
        return .success([.locationDefined(LocationDefined(location: proposed, created: current == nil))])
    }

    /// Applies one event of a location's stream to its state.
    public static func evolve(_ current: Location?, _ event: LedgerEvent) -> Location? {
        switch event {
        case .locationDefined(let defined):
            precondition(current == nil || current?.id == defined.location.id, "an event was applied to another location's stream")
            return defined.location
        case .stockMoved, .stockCounted, .countCorrected, .safetyStockSet, .positionShort, .holdPlaced, .holdExtended, .holdReleased,
            .holdExpired, .holdConverted, .order, .transfer:
            preconditionFailure("an event of another stream was applied to a location stream")
        }
    }
}
