/// A stock position: what one location holds of one SKU, and what is promised from it.
///
/// `available = onHand − held − allocated − safetyStock`, never below zero. When a physical
/// fact (a POS sale, a count) leaves less on hand than is promised, the position is *short*: the
/// shortfall is shown, never hidden, and re-sourcing can start from it.
public struct StockPosition: Equatable, Hashable, Codable, Sendable {
    public var onHand: Int64
    /// Units held by checkout holds that have not expired.
    public var held: Int64
    /// Units ordered and not yet gone from the location.
    public var allocated: Int64
    /// The position's own safety stock, or nil to use the location's default.
    public var safetyStock: Int64?
    /// Units on their way here by transfer.
    public var incoming: Int64
    /// When the latest count of this position was taken (ms since 1970): a movement that
    /// occurred before it was already seen by that count.
    public var lastCountedAtMs: Int64?

    public static let empty = StockPosition(onHand: 0, held: 0, allocated: 0, safetyStock: nil, incoming: 0)

    public init(onHand: Int64, held: Int64, allocated: Int64, safetyStock: Int64?, incoming: Int64, lastCountedAtMs: Int64? = nil) {
        self.onHand = onHand
        self.held = held
        self.allocated = allocated
        self.safetyStock = safetyStock
        self.incoming = incoming
        self.lastCountedAtMs = lastCountedAtMs
    }

    /// The safety stock in force, given the location's default.
    public func effectiveSafetyStock(locationDefault: Int64) -> Int64 { safetyStock ?? locationDefault }

    /// What can still be promised.
    public func available(locationDefault: Int64) -> Int64 {
        max(0, onHand - held - allocated - effectiveSafetyStock(locationDefault: locationDefault))
    }

    /// How much more is promised than is on hand.
    public var shortfall: Int64 { max(0, held + allocated - onHand) }

    /// The position after a change to its promised buckets; a negative bucket is a bug, so it traps.
    public func applying(_ change: PositionChange) -> StockPosition {
        var next = self
        next.held += change.held
        next.allocated += change.allocated
        next.incoming += change.incoming
        next.checkInvariants()
        return next
    }

    /// The invariants every position keeps; a violation is a bug in `evolve`, so it traps.
    func checkInvariants() {
        precondition(onHand >= 0, "on-hand stock became negative")
        precondition(held >= 0 && allocated >= 0 && incoming >= 0, "a promised bucket became negative")
        precondition((safetyStock ?? 0) >= 0, "safety stock became negative")
    }
}

/// Where a position lives: the pair that names a stock stream and a projection row.
public struct StockKey: Hashable, Comparable, Sendable {
    public var sku: String
    public var locationId: String

    public init(sku: String, locationId: String) {
        self.sku = sku
        self.locationId = locationId
    }

    /// Rows are locked in this order by every writer, so concurrent batches cannot deadlock.
    public static func < (lhs: StockKey, rhs: StockKey) -> Bool {
        (lhs.sku, lhs.locationId) < (rhs.sku, rhs.locationId)
    }

    /// The ledger stream of this position.
    public var stream: String { "stock-\(locationId)/\(sku)" }
}

/// The kinds of stock movement an integration reports.
public enum MovementKind: String, Codable, CaseIterable, Sendable {
    /// Goods arrived (an ASN, a delivery): adds.
    case receipt
    /// A correction, signed: adds or removes.
    case adjustment
    /// Sold at the till: removes.
    case sale
    /// Damaged, unsellable: removes.
    case damage
    /// Sent back to the supplier: removes.
    case returnToVendor = "return-to-vendor"
    /// Lost: not found on the shelf when an order needed it. Removes.
    case loss
    /// Handed over for an order (collected or shipped): removes. Recorded by orders only.
    case fulfilment
    /// Sent away by a transfer: removes. Recorded by transfers only.
    case transferOut = "transfer-out"
    /// Arrived by a transfer: adds. Recorded by transfers only.
    case transferIn = "transfer-in"
    /// Brought back by a customer and restocked: adds. Recorded by order returns only.
    case customerReturn = "return"

    /// Whether the quantity is signed by the caller (adjustments) or implied by the kind.
    public var isSigned: Bool { self == .adjustment }
    /// Kinds only the service records (orders, transfers, returns), so each is tied to what
    /// caused it; a movements request may not use them.
    public var isRecordedByService: Bool {
        switch self {
        case .fulfilment, .transferOut, .transferIn, .customerReturn: true
        case .receipt, .adjustment, .sale, .damage, .returnToVendor, .loss: false
        }
    }
    /// The sign the kind gives an unsigned quantity.
    var direction: Int64 {
        switch self {
        case .receipt, .adjustment, .transferIn, .customerReturn: 1
        case .sale, .damage, .returnToVendor, .loss, .fulfilment, .transferOut: -1
        }
    }
}

/// One line of a movements request.
public struct MovementLine: Equatable, Sendable {
    public var sku: String
    public var locationId: String
    public var kind: MovementKind
    /// Unsigned for every kind but adjustments, which carry their sign.
    public var quantity: Int64
    public var reason: String?
    public var reference: String?
    /// When it happened, in milliseconds since 1970 (a POS sale uploaded late); defaults to now.
    public var occurredAtMs: Int64?

    public init(
        sku: String, locationId: String, kind: MovementKind, quantity: Int64, reason: String? = nil,
        reference: String? = nil, occurredAtMs: Int64? = nil
    ) {
        self.sku = sku
        self.locationId = locationId
        self.kind = kind
        self.quantity = quantity
        self.reason = reason
        self.reference = reference
        self.occurredAtMs = occurredAtMs
    }

    public var key: StockKey { StockKey(sku: sku, locationId: locationId) }

    /// The change to on-hand stock this line makes.
    public var delta: Int64 { kind.isSigned ? quantity : kind.direction * quantity }

    /// Every fault of the line on its own (what it asks of the ledger is checked by `decide`).
    public func faults() -> [Rejection] {
        var faults: [Rejection] = []
        if let fault = Identifier.check(sku, field: "sku") { faults.append(fault) }
        if let fault = Identifier.check(locationId, field: "locationId") { faults.append(fault) }
        let bound = Limits.stockQuantityMax
        if kind.isSigned {
            // `magnitude`, not `abs`: abs(Int64.min) does not exist and would trap.
            if quantity == 0 || quantity.magnitude > UInt64(bound) {
                faults.append(.outOfRange(field: "quantity", lower: "-\(bound) (not 0)", upper: "\(bound)"))
            }
        } else if !(1...bound).contains(quantity) {
            faults.append(.outOfRange(field: "quantity", lower: "1", upper: "\(bound)"))
        }
        if kind.isRecordedByService {
            faults.append(.notAllowed(field: "kind", reason: "'\(kind.rawValue)' is recorded by orders, transfers and returns themselves"))
        }
        if let reason, let fault = Identifier.check(reason, field: "reason") { faults.append(fault) }
        if let reference, let fault = Text.check(reference, field: "reference", lengthMax: Limits.referenceLengthMax) {
            faults.append(fault)
        }
        return faults
    }

    /// Faults of `occurredAt` against the clock: not in the future (beyond clock skew), not
    /// older than counts may be, so every movement can be reconciled by a count.
    public func timeFaults(nowMs: Int64) -> [Rejection] {
        guard let occurredAtMs else { return [] }
        if occurredAtMs > nowMs + Limits.countFutureSkewMillisecondsMax || occurredAtMs < nowMs - Limits.countAgeMillisecondsMax {
            return [.countTimeOutOfRange(field: "occurredAt")]
        }
        return []
    }
}

/// A physical count: at `countedAtMs` there were these quantities at the location.
public struct Count: Equatable, Sendable {
    public var locationId: String
    public var countedAtMs: Int64
    /// A full count: SKUs of the location that are not listed were counted as zero.
    public var full: Bool
    public var lines: [CountLine]

    public init(locationId: String, countedAtMs: Int64, full: Bool, lines: [CountLine]) {
        self.locationId = locationId
        self.countedAtMs = countedAtMs
        self.full = full
        self.lines = lines
    }
}

public struct CountLine: Equatable, Sendable {
    public var sku: String
    public var quantity: Int64

    public init(sku: String, quantity: Int64) {
        self.sku = sku
        self.quantity = quantity
    }
}
