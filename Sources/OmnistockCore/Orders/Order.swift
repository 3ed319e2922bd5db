/// Orders: what happens to stock after the checkout says "paid".
///
/// An order owns allocations: units set aside at a location until they leave it (collected,
/// shipped), come back (cancelled, expired) or turn out not to be there (not found). Every step
/// is one ledger event that carries the order as it stands after the step and the changes it
/// makes to the promised buckets of positions, so a replay needs no other input and a reader of
/// the feed sees the whole order at each step. Changes to on-hand stock are never hidden in an
/// order event: they are `stock.moved` events of the position's own stream, next to it, so
/// counts and histories reconcile against them like any other movement.

public enum OrderStatus: String, Codable, CaseIterable, Sendable {
    case allocated
    case picking
    /// Pickup orders only: waiting at the store for the customer.
    case ready
    case collected
    case shipped
    case cancelled
    /// A pickup not collected within the store's pickup window.
    case expired

    /// Whether the order can still change hands (nothing has been handed over or ended).
    public var isOpen: Bool { self == .allocated || self == .picking || self == .ready }
    /// The statuses of a store's queue when none is asked for.
    public static let open: [OrderStatus] = [.allocated, .picking, .ready]
}

public enum OrderLineStatus: String, Codable, CaseIterable, Sendable {
    case allocated
    /// Sent from another location to the pickup store by a transfer, not received yet.
    case inTransit = "in-transit"
    case shipped
    case collected
    case cancelled
    /// The store could not find it; the lines that replace it name it in `replaces`.
    case notFound = "not-found"
    case expired
}

public struct OrderLine: Equatable, Codable, Sendable {
    /// Stable within the order ("1", "2", …); replacements get the next free number.
    public var id: String
    public var sku: String
    public var quantity: Int64
    public var locationId: String
    public var status: OrderLineStatus
    /// The transfer bringing the line to the pickup store, when another location serves it.
    public var transferId: String?
    /// The line this one replaces after it was not found.
    public var replaces: String?
    /// Units brought back after hand-over: restocked, and set aside as damaged.
    public var returned: Int64
    public var damaged: Int64
    /// Why a line ended without being handed over ("not-found", "customer", …).
    public var reason: String?

    public init(
        id: String, sku: String, quantity: Int64, locationId: String, status: OrderLineStatus, transferId: String? = nil,
        replaces: String? = nil, returned: Int64 = 0, damaged: Int64 = 0, reason: String? = nil
    ) {
        self.id = id
        self.sku = sku
        self.quantity = quantity
        self.locationId = locationId
        self.status = status
        self.transferId = transferId
        self.replaces = replaces
        self.returned = returned
        self.damaged = damaged
        self.reason = reason
    }

    public var key: StockKey { StockKey(sku: sku, locationId: locationId) }
    /// Units handed over and not yet brought back.
    public var returnable: Int64 {
        status == .collected || status == .shipped ? quantity - returned - damaged : 0
    }
}

public struct Shipment: Equatable, Codable, Sendable {
    public var carrier: String
    public var tracking: String
    public var lines: [String]
    public var shippedAtMs: Int64

    public init(carrier: String, tracking: String, lines: [String], shippedAtMs: Int64) {
        self.carrier = carrier
        self.tracking = tracking
        self.lines = lines
        self.shippedAtMs = shippedAtMs
    }
}

public struct ReturnLine: Equatable, Codable, Sendable {
    public var sku: String
    public var quantity: Int64
    /// Back on the shelf (true) or set aside as damaged (false).
    public var restock: Bool

    public init(sku: String, quantity: Int64, restock: Bool) {
        self.sku = sku
        self.quantity = quantity
        self.restock = restock
    }
}

public struct OrderReturn: Equatable, Codable, Sendable {
    public var locationId: String
    public var lines: [ReturnLine]
    public var returnedAtMs: Int64

    public init(locationId: String, lines: [ReturnLine], returnedAtMs: Int64) {
        self.locationId = locationId
        self.lines = lines
        self.returnedAtMs = returnedAtMs
    }
}

/// An order as the ledger makes it.
public struct Order: Equatable, Codable, Sendable {
    public var id: String
    public var orderNumber: String
    public var status: OrderStatus
    public var holdId: String?
    public var reference: String?
    public var fulfilment: Fulfilment
    public var lines: [OrderLine]
    /// Wrong pickup codes since the order was ready or last unlocked.
    public var wrongPickupCodes: Int
    /// Locked for collection after too many wrong codes, until unlocked.
    public var pickupLocked: Bool
    public var createdAtMs: Int64
    public var updatedAtMs: Int64
    public var readyAtMs: Int64?
    /// When an uncollected pickup expires: ready time plus the store's pickup window.
    public var pickupExpiresAtMs: Int64?
    public var endedAtMs: Int64?
    public var shipments: [Shipment]
    public var returns: [OrderReturn]
    public var cancelReason: String?

    public init(
        id: String, orderNumber: String, status: OrderStatus, holdId: String?, reference: String?, fulfilment: Fulfilment,
        lines: [OrderLine], createdAtMs: Int64
    ) {
        self.id = id
        self.orderNumber = orderNumber
        self.status = status
        self.holdId = holdId
        self.reference = reference
        self.fulfilment = fulfilment
        self.lines = lines
        self.wrongPickupCodes = 0
        self.pickupLocked = false
        self.createdAtMs = createdAtMs
        self.updatedAtMs = createdAtMs
        self.shipments = []
        self.returns = []
    }

    /// The stream of an order in the ledger.
    public static func stream(_ id: String) -> String { "order-\(id)" }

    public var pickupLocationId: String? {
        if case .pickup(let id) = fulfilment { return id }
        return nil
    }

    /// Every location the order involves: its pickup point and where its lines are or were.
    /// A store queue and location-bound keys see an order through these.
    public var locationIds: [String] {
        var ids = Set(lines.map(\.locationId))
        if let pickup = pickupLocationId { ids.insert(pickup) }
        return ids.sorted()
    }

    /// The locations whose queue shows the order: its pickup point and where its lines are
    /// served from (lines not found or cancelled there, or sent on by transfer, no longer
    /// count); an order with no such line stays in the queues of all its lines, for the history.
    public var queueLocationIds: [String] {
        let served: Set<OrderLineStatus> = [.allocated, .shipped, .collected, .expired]
        var ids = Set(lines.filter { served.contains($0.status) }.map(\.locationId))
        if let pickup = pickupLocationId { ids.insert(pickup) }
        return ids.isEmpty ? locationIds : ids.sorted()
    }

    /// The next free line id.
    var nextLineNumber: Int { (lines.compactMap { Int($0.id) }.max() ?? 0) + 1 }
}

/// A change to the promised buckets of one position (never to on-hand: that is `stock.moved`).
public struct PositionChange: Equatable, Codable, Sendable {
    public var sku: String
    public var locationId: String
    public var held: Int64
    public var allocated: Int64
    public var incoming: Int64

    public init(sku: String, locationId: String, held: Int64 = 0, allocated: Int64 = 0, incoming: Int64 = 0) {
        self.sku = sku
        self.locationId = locationId
        self.held = held
        self.allocated = allocated
        self.incoming = incoming
    }

    public var key: StockKey { StockKey(sku: sku, locationId: locationId) }
}

public enum OrderStep: String, Codable, CaseIterable, Sendable {
    case created
    case picking
    /// What integrations turn into the "your order is ready" message.
    case ready
    case collected
    case pickupCodeRefused = "pickup-code-refused"
    case pickupUnlocked = "pickup-unlocked"
    case shipped
    case cancelled
    case lineNotFound = "line-not-found"
    case transferReceived = "transfer-received"
    case expired
    case returned

    public var type: String { "order.\(rawValue)" }
}

/// One step of an order: the order after it, and what it did to positions.
public struct OrderRecorded: Equatable, Codable, Sendable {
    public var step: OrderStep
    public var order: Order
    public var changes: [PositionChange]
    /// Locations given the order by this step (creation, re-sourcing): each counts once
    /// against its daily capacity, on the UTC day of `occurredAtMs`.
    public var assigned: [String]
    /// The line the step concerns (not found, received by transfer).
    public var lineId: String?
    public var reason: String?
    public var occurredAtMs: Int64

    public init(
        step: OrderStep, order: Order, changes: [PositionChange], assigned: [String] = [], lineId: String? = nil, reason: String? = nil,
        occurredAtMs: Int64
    ) {
        self.step = step
        self.order = order
        self.changes = changes
        self.assigned = assigned
        self.lineId = lineId
        self.reason = reason
        self.occurredAtMs = occurredAtMs
    }
}

/// A hold became an order: its held units are the order's allocations now.
public struct HoldConverted: Equatable, Codable, Sendable {
    public static let type = "hold.converted"
    public var holdId: String
    public var orderId: String
    public var lines: [HoldLine]
    public var occurredAtMs: Int64

    public init(holdId: String, orderId: String, lines: [HoldLine], occurredAtMs: Int64) {
        self.holdId = holdId
        self.orderId = orderId
        self.lines = lines
        self.occurredAtMs = occurredAtMs
    }
}

extension OrderRecorded {
    /// The store a `returned` step's return was taken back at (the order's last return); none
    /// for any other step.
    public var returnedAt: [String] {
        guard step == .returned, let taken = order.returns.last else { return [] }
        return [taken.locationId]
    }
}
