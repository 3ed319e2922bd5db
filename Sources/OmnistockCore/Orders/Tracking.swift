/// What the customer's tracking page shows of an order: its steps with their times, folded
/// from the order's own events, and nothing a customer should not see (no pickup code, no
/// refused codes, no stock positions, no reference or internal locations).
public struct OrderTracking: Equatable, Sendable {
    /// A step as the customer reads it.
    public enum Kind: String, Sendable, Equatable {
        case placed
        case picking
        case ready
        case collected
        case shipped
        case cancelled
        /// A line was not found at its store; `replacedBy` says where it comes from instead.
        case lineNotFound = "line-not-found"
        /// Goods sent from another store arrived at the pickup store.
        case transferReceived = "transfer-received"
        /// A pickup order was not collected in time.
        case expired
        case returned
    }

    public struct Step: Equatable, Sendable {
        public var kind: Kind
        public var atMs: Int64
        /// The line the step concerns (not found, received).
        public var lineId: String?
        public var sku: String?
        /// Shipped: the carrier and its tracking number.
        public var carrier: String?
        public var tracking: String?
        /// Cancelled: why; line not found: the line that replaces it, if it was re-sourced.
        public var reason: String?
        public var replacedBy: String?
    }

    /// The order as its last event left it.
    public var order: Order
    public var steps: [Step]
    /// The ledger position of the last event folded in.
    public var position: Int64

    public init(order: Order, steps: [Step], position: Int64) {
        self.order = order
        self.steps = steps
        self.position = position
    }

    /// The tracking of an order from its events in ledger order (positions increasing), or
    /// nil for no events. Steps past `Limits.trackingStepsMax` are not added: the page shows
    /// the first ones, and the order's status stays current.
    public static func fold(_ events: [(position: Int64, recorded: OrderRecorded)]) -> OrderTracking? {
        guard let first = events.first else { return nil }
        var tracking = OrderTracking(order: first.recorded.order, steps: [], position: first.position)
        for event in events { tracking.apply(event.recorded, position: event.position) }
        return tracking
    }

    /// Folds one more event of the order in (a live update from the ledger tail). Events at or
    /// before the position already folded are ignored, so a page read and a stream may overlap.
    public mutating func apply(_ recorded: OrderRecorded, position: Int64) {
        precondition(recorded.order.id == order.id, "a tracking folds the events of its own order")
        guard steps.isEmpty || position > self.position else { return }
        order = recorded.order
        self.position = position
        guard let step = Self.step(recorded), steps.count < Limits.trackingStepsMax else { return }
        steps.append(step)
    }

    /// The customer's step for an event; nil for what a customer does not see (a wrong pickup
    /// code, its unlock).
    static func step(_ recorded: OrderRecorded) -> Step? {
        let at = recorded.occurredAtMs
        let line = recorded.lineId.flatMap { id in recorded.order.lines.first { $0.id == id } }
        switch recorded.step {
        case .created: return Step(kind: .placed, atMs: at)
        case .picking: return Step(kind: .picking, atMs: at)
        case .ready: return Step(kind: .ready, atMs: at)
        case .collected: return Step(kind: .collected, atMs: at)
        case .shipped:
            let shipment = recorded.order.shipments.last
            return Step(kind: .shipped, atMs: at, carrier: shipment?.carrier, tracking: shipment?.tracking)
        case .cancelled: return Step(kind: .cancelled, atMs: at, reason: recorded.reason ?? recorded.order.cancelReason)
        case .lineNotFound:
            let replacement = recorded.lineId.flatMap { id in recorded.order.lines.first { $0.replaces == id }?.id }
            return Step(kind: .lineNotFound, atMs: at, lineId: recorded.lineId, sku: line?.sku, replacedBy: replacement)
        case .transferReceived: return Step(kind: .transferReceived, atMs: at, lineId: recorded.lineId, sku: line?.sku)
        case .expired: return Step(kind: .expired, atMs: at)
        case .returned: return Step(kind: .returned, atMs: at)
        case .pickupCodeRefused, .pickupUnlocked: return nil
        }
    }

    /// Whether a tracking link of this order still works at `nowMs`: while the order is open,
    /// and for `validAfterEndSeconds` after it ended.
    public func isValid(atMs nowMs: Int64, validAfterEndSeconds: Int64) -> Bool {
        guard let ended = order.endedAtMs else { return true }
        return nowMs < ended + validAfterEndSeconds * 1_000
    }
}
