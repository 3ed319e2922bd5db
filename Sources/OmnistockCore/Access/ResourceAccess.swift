/// Who may see and act on each resource, once, in terms of its locations: every writer and
/// every route asks these rules, whatever resource it serves.
extension Access {
    /// A hold is acted on (extended, released, converted) by a caller who may act at every
    /// location it holds stock at, and, for a pickup, at the pickup store.
    public static func authorize(_ principal: Principal, _ operation: Operation, hold: Hold, fulfilment: Fulfilment? = nil) -> Rejection? {
        var locations = Set(hold.lines.map(\.locationId))
        if case .pickup(let id)? = hold.fulfilment ?? fulfilment { locations.insert(id) }
        return authorize(principal, operation, locations: locations.sorted())
    }

    /// An order is seen by a caller bound to one of its locations (its pickup store first).
    public static func authorizeRead(_ principal: Principal, order: Order) -> Rejection? {
        let locations = [order.pickupLocationId].compactMap { $0 } + order.locationIds.filter { $0 != order.pickupLocationId }
        return authorize(principal, .readOrders, anyOf: locations)
    }

    /// A step is taken on an order by a caller who sees the order and may act where the step
    /// acts. A return is taken at any store: only the return location counts.
    public static func authorize(_ principal: Principal, _ operation: Operation, step action: OrderAction, order: Order) -> Rejection? {
        let acting = Orders.actingLocations(action, order: order)
        if case .returned = action { return authorize(principal, operation, locations: acting) }
        if let refusal = authorizeRead(principal, order: order) { return refusal }
        return authorize(principal, operation, locations: acting)
    }
}
