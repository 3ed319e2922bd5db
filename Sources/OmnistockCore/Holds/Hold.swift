/// Checkout holds: stock set aside while a shopper pays, as pending transfers that are posted
/// (converted into an order), voided (released) or expire.
///
/// A hold counts against availability from the moment it is accepted until it ends. It ends
/// exactly at `expiresAtMs` whether or not the expiry has been written to the ledger yet: readers
/// and deciders compare `expiresAtMs` with the clock, and the sweeper only records the fact.

/// Where the goods of a hold will go, when the caller lets the engine choose the locations.
public enum Fulfilment: Equatable, Hashable, Sendable {
    /// Click & collect: every line is held at this pickup point.
    case pickup(locationId: String)
    /// Shipping to a point: the engine sources each line among the locations that ship.
    case ship(latitude: Double, longitude: Double)
}

extension Fulfilment {
    /// The pickup point, for click & collect.
    public var pickupLocationId: String? {
        if case .pickup(let id) = self { return id }
        return nil
    }
}

extension Fulfilment: Codable {
    enum CodingKeys: String, CodingKey { case type, locationId, address }
    struct Address: Codable, Equatable { var latitude: Double; var longitude: Double }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        switch try container.decode(String.self, forKey: .type) {
        case "pickup":
            self = .pickup(locationId: try container.decode(String.self, forKey: .locationId))
        case "ship":
            let address = try container.decode(Address.self, forKey: .address)
            self = .ship(latitude: address.latitude, longitude: address.longitude)
        default:
            throw DecodingError.dataCorruptedError(forKey: .type, in: container, debugDescription: "type must be 'pickup' or 'ship'")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .pickup(let locationId):
            try container.encode("pickup", forKey: .type)
            try container.encode(locationId, forKey: .locationId)
        case .ship(let latitude, let longitude):
            try container.encode("ship", forKey: .type)
            try container.encode(Address(latitude: latitude, longitude: longitude), forKey: .address)
        }
    }
}

/// One line of a hold request: a SKU and a quantity, at a location or left to the fulfilment.
public struct RequestedLine: Equatable, Sendable {
    public var sku: String
    public var quantity: Int64
    public var locationId: String?

    public init(sku: String, quantity: Int64, locationId: String? = nil) {
        self.sku = sku
        self.quantity = quantity
        self.locationId = locationId
    }
}

/// What a caller asks for when it places a hold.
public struct HoldRequest: Equatable, Sendable {
    public var lines: [RequestedLine]
    public var fulfilment: Fulfilment?
    public var ttlSeconds: Int64
    /// Hold the lines that can be held and report the others, instead of all or nothing.
    public var allowPartial: Bool
    /// The caller's own reference (a cart id), shown back and searchable in the ledger.
    public var reference: String?

    public init(
        lines: [RequestedLine], fulfilment: Fulfilment? = nil, ttlSeconds: Int64 = Limits.holdTTLSecondsDefault,
        allowPartial: Bool = false, reference: String? = nil
    ) {
        self.lines = lines
        self.fulfilment = fulfilment
        self.ttlSeconds = ttlSeconds
        self.allowPartial = allowPartial
        self.reference = reference
    }

    /// The locations the request names itself (lines and pickup point), for access checks.
    public var namedLocations: [String] {
        var ids = Set(lines.compactMap(\.locationId))
        if case .pickup(let id) = fulfilment { ids.insert(id) }
        return ids.sorted()
    }
}

/// A held line: a quantity of one SKU set aside at one location.
public struct HoldLine: Equatable, Hashable, Codable, Sendable {
    /// Stable within the hold ("1", "2", …); orders refer to lines by it.
    public var id: String
    public var sku: String
    public var locationId: String
    public var quantity: Int64

    public init(id: String, sku: String, locationId: String, quantity: Int64) {
        self.id = id
        self.sku = sku
        self.locationId = locationId
        self.quantity = quantity
    }

    public var key: StockKey { StockKey(sku: sku, locationId: locationId) }
}

/// A requested line a partial hold could not serve, and what was there for it.
public struct UnfilledLine: Equatable, Hashable, Codable, Sendable {
    /// The index of the line in the request.
    public var line: Int
    public var sku: String
    /// The location asked for, when the line named one.
    public var locationId: String?
    public var requested: Int64
    public var available: Int64

    public init(line: Int, sku: String, locationId: String?, requested: Int64, available: Int64) {
        self.line = line
        self.sku = sku
        self.locationId = locationId
        self.requested = requested
        self.available = available
    }
}

public enum HoldStatus: String, Codable, CaseIterable, Sendable {
    case active
    case released
    case expired
    /// Turned into an order: its stock is allocated to the order now.
    case converted
}

/// A hold as the ledger makes it.
public struct Hold: Equatable, Sendable {
    public var id: String
    /// The status as recorded; an active hold past its expiry is expired (see `status(atMs:)`).
    public var recordedStatus: HoldStatus
    public var reference: String?
    public var fulfilment: Fulfilment?
    public var allowPartial: Bool
    public var lines: [HoldLine]
    public var unfilled: [UnfilledLine]
    public var placedAtMs: Int64
    public var expiresAtMs: Int64
    /// When it was released, expired or converted.
    public var endedAtMs: Int64?
    /// When its last event was decided (for an expiry: when it was recorded).
    public var updatedAtMs: Int64

    public init(
        id: String, recordedStatus: HoldStatus, reference: String?, fulfilment: Fulfilment?, allowPartial: Bool, lines: [HoldLine],
        unfilled: [UnfilledLine], placedAtMs: Int64, expiresAtMs: Int64, endedAtMs: Int64?, updatedAtMs: Int64? = nil
    ) {
        self.id = id
        self.recordedStatus = recordedStatus
        self.reference = reference
        self.fulfilment = fulfilment
        self.allowPartial = allowPartial
        self.lines = lines
        self.unfilled = unfilled
        self.placedAtMs = placedAtMs
        self.expiresAtMs = expiresAtMs
        self.endedAtMs = endedAtMs
        self.updatedAtMs = updatedAtMs ?? endedAtMs ?? placedAtMs
    }

    /// The status at a time: expiry is exact, whether or not the sweeper has recorded it.
    public func status(atMs nowMs: Int64) -> HoldStatus {
        recordedStatus == .active && nowMs >= expiresAtMs ? .expired : recordedStatus
    }

    /// When an expired hold ended: the recorded time, or its expiry when not yet recorded.
    public func endedAt(atMs nowMs: Int64) -> Int64? {
        endedAtMs ?? (status(atMs: nowMs) == .expired ? expiresAtMs : nil)
    }

    /// The stream of a hold in the ledger.
    public static func stream(_ id: String) -> String { "hold-\(id)" }

    /// The positions the hold's lines sit on, in lock order.
    public var keys: [StockKey] { Array(Set(lines.map(\.key))).sorted() }
}

// MARK: - Events

/// A hold was accepted: its lines count as held from now until it ends.
public struct HoldPlaced: Equatable, Codable, Sendable {
    public static let type = "hold.placed"
    public var holdId: String
    public var reference: String?
    public var fulfilment: Fulfilment?
    public var allowPartial: Bool
    public var lines: [HoldLine]
    public var unfilled: [UnfilledLine]
    public var expiresAtMs: Int64
    public var occurredAtMs: Int64

    public init(
        holdId: String, reference: String?, fulfilment: Fulfilment?, allowPartial: Bool, lines: [HoldLine], unfilled: [UnfilledLine],
        expiresAtMs: Int64, occurredAtMs: Int64
    ) {
        self.holdId = holdId
        self.reference = reference
        self.fulfilment = fulfilment
        self.allowPartial = allowPartial
        self.lines = lines
        self.unfilled = unfilled
        self.expiresAtMs = expiresAtMs
        self.occurredAtMs = occurredAtMs
    }
}

/// A hold was given a later expiry.
public struct HoldExtended: Equatable, Codable, Sendable {
    public static let type = "hold.extended"
    public var holdId: String
    public var previousExpiresAtMs: Int64
    public var expiresAtMs: Int64
    /// The locations the hold holds stock at, so feeds scoped to locations show extensions too.
    public var locationIds: [String]
    public var occurredAtMs: Int64

    public init(holdId: String, previousExpiresAtMs: Int64, expiresAtMs: Int64, locationIds: [String], occurredAtMs: Int64) {
        self.holdId = holdId
        self.locationIds = locationIds
        self.previousExpiresAtMs = previousExpiresAtMs
        self.expiresAtMs = expiresAtMs
        self.occurredAtMs = occurredAtMs
    }
}

/// A hold ended before its expiry (the cart was abandoned or emptied): its stock is free again.
public struct HoldReleased: Equatable, Codable, Sendable {
    public static let type = "hold.released"
    public var holdId: String
    public var lines: [HoldLine]
    public var occurredAtMs: Int64

    public init(holdId: String, lines: [HoldLine], occurredAtMs: Int64) {
        self.holdId = holdId
        self.lines = lines
        self.occurredAtMs = occurredAtMs
    }
}

/// A hold reached its expiry. It stopped counting at `expiresAtMs`; this records the fact, so
/// `occurredAtMs` is the expiry itself and `recordedAtMs` when the ledger learned it.
public struct HoldExpired: Equatable, Codable, Sendable {
    public static let type = "hold.expired"
    public var holdId: String
    public var lines: [HoldLine]
    public var occurredAtMs: Int64
    public var recordedAtMs: Int64

    public init(holdId: String, lines: [HoldLine], occurredAtMs: Int64, recordedAtMs: Int64) {
        self.holdId = holdId
        self.lines = lines
        self.occurredAtMs = occurredAtMs
        self.recordedAtMs = recordedAtMs
    }
}
