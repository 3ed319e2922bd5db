/// The steps of an existing order (store work, shipping, cancellation, returns, expiry),
/// decided against its positions, and the evolve that folds every order event.
extension Orders {
    /// Decides a step of an existing order.
    ///
    /// - Parameters:
    ///   - positions: effective positions of the order's lines (and, for re-sourcing, of the
    ///     candidates in `input`; for returns, of the return location).
    ///   - input: what re-sourcing sees (not found only).
    ///   - locations: the locations the step needs (the pickup store for ready, the return location).
    public static func decide(
        _ action: OrderAction, order: Order, nowMs: Int64, positions: [StockKey: StockPosition], locations: [String: Location],
        input: SourcingInput? = nil, transferIds: [String] = []
    ) -> Result<OrderDecision, Rejections> {
        var step = StepDeciding(action: action, order: order, nowMs: nowMs, positions: positions)
        switch action {
        case .picking:
            return decidePicking(&step)
        case .ready:
            return decideReady(&step, locations: locations)
        case .collect(let codeMatches):
            return decideCollect(&step, codeMatches: codeMatches)
        case .unlock:
            return decideUnlock(&step)
        case .ship(let lineIds, let carrier, let tracking):
            return decideShip(&step, lineIds: lineIds, carrier: carrier, tracking: tracking)
        case .cancel(let reason):
            return decideCancel(&step, reason: reason)
        case .notFound(let lineId):
            return decideNotFound(&step, lineId: lineId, input: input, transferIds: transferIds)
        case .returned(let locationId, let lines):
            return decideReturned(&step, locationId: locationId, lines: lines, locations: locations)
        case .expire:
            return decideExpire(&step)
        }
    }

    /// A step being decided: the order as it stands, the order as the step leaves it, and the
    /// events recorded so far against positions that evolve as they are added.
    private struct StepDeciding {
        let action: OrderAction
        let order: Order
        let nowMs: Int64
        var next: Order
        var working: Working

        init(action: OrderAction, order: Order, nowMs: Int64, positions: [StockKey: StockPosition]) {
            self.action = action
            self.order = order
            self.nowMs = nowMs
            self.next = order
            self.next.updatedAtMs = nowMs
            self.working = Working(positions: positions)
        }

        /// The refusal of a step the order's status does not allow.
        func refuse() -> Result<OrderDecision, Rejections> {
            .failure(Rejections(.invalidTransition(status: order.status.rawValue, step: action.summary)))
        }

        /// Records the order as the step leaves it, with the bucket changes the step makes.
        mutating func record(_ step: OrderStep, _ changes: [PositionChange] = [], lineId: String? = nil, reason: String? = nil, assigned: [String] = []) {
            working.record(.order(OrderRecorded(
                step: step, order: next, changes: changes, assigned: assigned, lineId: lineId, reason: reason, occurredAtMs: nowMs)))
        }

        /// The events recorded, as the decision of the step.
        var decided: Result<OrderDecision, Rejections> { .success(OrderDecision(events: working.events)) }
    }

    /// The allocations a step gives back: what its lines no longer take from their positions.
    private static func releasing(_ lines: [OrderLine]) -> [PositionChange] {
        lines.map { PositionChange(sku: $0.sku, locationId: $0.locationId, allocated: -$0.quantity) }
    }

    private static func decidePicking(_ step: inout StepDeciding) -> Result<OrderDecision, Rejections> {
        if step.order.status == .picking { return .success(OrderDecision(events: [])) }
        guard step.order.status == .allocated else { return step.refuse() }
        step.next.status = .picking
        step.record(.picking)
        return step.decided
    }

    private static func decideReady(_ step: inout StepDeciding, locations: [String: Location]) -> Result<OrderDecision, Rejections> {
        let order = step.order
        guard let storeId = order.pickupLocationId else { return step.refuse() }
        if order.status == .ready { return .success(OrderDecision(events: [])) }
        guard order.status == .allocated || order.status == .picking else { return step.refuse() }
        if order.lines.contains(where: { $0.status == .inTransit }) { return .failure(Rejections(.linesInTransit(orderId: order.id))) }
        let windowDays = locations[storeId]?.pickupWindowDays ?? Limits.pickupWindowDaysDefault
        step.next.status = .ready
        step.next.readyAtMs = step.nowMs
        step.next.pickupExpiresAtMs = step.nowMs + windowDays * Limits.dayMilliseconds
        step.record(.ready)
        return step.decided
    }

    /// A right code hands the allocated lines over; a wrong one is recorded (it counts towards
    /// the lock) and refused after recording.
    private static func decideCollect(_ step: inout StepDeciding, codeMatches: Bool) -> Result<OrderDecision, Rejections> {
        let order = step.order
        guard order.status == .ready else { return step.refuse() }
        if order.pickupLocked { return .failure(Rejections(.pickupLocked(orderId: order.id))) }
        guard codeMatches else {
            step.next.wrongPickupCodes += 1
            step.next.pickupLocked = step.next.wrongPickupCodes >= Limits.pickupCodeAttemptsMax
            step.record(.pickupCodeRefused)
            return .success(OrderDecision(
                events: step.working.events,
                refusal: Rejections(.pickupCodeWrong(attemptsLeft: max(0, Limits.pickupCodeAttemptsMax - step.next.wrongPickupCodes)))))
        }
        let handed = order.lines.filter { $0.status == .allocated }
        for index in step.next.lines.indices where step.next.lines[index].status == .allocated { step.next.lines[index].status = .collected }
        step.next.status = .collected
        step.next.endedAtMs = step.nowMs
        step.record(.collected, releasing(handed))
        for line in handed { step.working.move(line.key, .fulfilment, line.quantity, reference: order.id, nowMs: step.nowMs) }
        return step.decided
    }

    private static func decideUnlock(_ step: inout StepDeciding) -> Result<OrderDecision, Rejections> {
        guard step.order.status == .ready else { return step.refuse() }
        guard step.order.pickupLocked || step.order.wrongPickupCodes > 0 else { return .success(OrderDecision(events: [])) }
        step.next.pickupLocked = false
        step.next.wrongPickupCodes = 0
        step.record(.pickupUnlocked)
        return step.decided
    }

    private static func decideShip(
        _ step: inout StepDeciding, lineIds: [String], carrier: String, tracking: String
    ) -> Result<OrderDecision, Rejections> {
        let order = step.order
        guard case .ship = order.fulfilment, order.status == .allocated || order.status == .picking else { return step.refuse() }
        let named: Set<String>
        switch validateShipment(order, lineIds: lineIds, carrier: carrier, tracking: tracking) {
        case .failure(let rejections): return .failure(rejections)
        case .success(let ids): named = ids
        }
        var shipped: [OrderLine] = []
        for index in step.next.lines.indices where named.contains(step.next.lines[index].id) {
            step.next.lines[index].status = .shipped
            shipped.append(step.next.lines[index])
        }
        step.next.shipments.append(Shipment(carrier: carrier, tracking: tracking, lines: lineIds, shippedAtMs: step.nowMs))
        step.next.status = .picking
        settle(&step.next, nowMs: step.nowMs)
        step.record(.shipped, releasing(shipped))
        for line in shipped { step.working.move(line.key, .fulfilment, line.quantity, reference: order.id, nowMs: step.nowMs) }
        return step.decided
    }

    /// The faults of a shipment, or the ids of the lines it ships. A named line that is not
    /// allocated refuses the shipment at once, whatever else is wrong with it.
    private static func validateShipment(
        _ order: Order, lineIds: [String], carrier: String, tracking: String
    ) -> Result<Set<String>, Rejections> {
        var faults: [Rejection] = []
        if let fault = Text.check(carrier, field: "carrier", lengthMax: Limits.referenceLengthMax) { faults.append(fault) }
        if let fault = Text.check(tracking, field: "tracking", lengthMax: Limits.referenceLengthMax) { faults.append(fault) }
        if lineIds.isEmpty { faults.append(.missingField(field: "lines")) }
        if lineIds.count > Limits.orderLinesMax { faults.append(.tooMany(field: "lines", countMax: Limits.orderLinesMax)) }
        var seen = Set<String>()
        for (index, id) in lineIds.enumerated() {
            if !seen.insert(id).inserted { faults.append(.duplicate(field: "lines", value: id)) }
            guard let line = order.lines.first(where: { $0.id == id }) else {
                faults.append(.inLine(path: "lines/\(index)", .unknownOrderLine(orderId: order.id, lineId: id)))
                continue
            }
            if line.status != .allocated {
                return .failure(Rejections(.invalidTransition(status: "line \(id) \(line.status.rawValue)", step: "shipped")))
            }
        }
        if !faults.isEmpty { return .failure(Rejections(faults)) }
        return .success(seen)
    }

    private static func decideCancel(_ step: inout StepDeciding, reason: String?) -> Result<OrderDecision, Rejections> {
        let order = step.order
        guard order.status.isOpen, !order.lines.contains(where: { $0.status == .shipped }) else { return step.refuse() }
        if let reason, let fault = Text.check(reason, field: "reason", lengthMax: Limits.referenceLengthMax) {
            return .failure(Rejections(fault))
        }
        let released = order.lines.filter { $0.status == .allocated }
        for index in step.next.lines.indices where step.next.lines[index].status == .allocated || step.next.lines[index].status == .inTransit {
            step.next.lines[index].status = .cancelled
            step.next.lines[index].reason = reason ?? "cancelled"
        }
        step.next.status = .cancelled
        step.next.cancelReason = reason ?? "cancelled"
        step.next.endedAtMs = step.nowMs
        step.record(.cancelled, releasing(released), reason: reason)
        return step.decided
    }

    /// A line not found on the shelf is lost there and sourced again elsewhere; when nothing
    /// can serve it, it is cancelled.
    private static func decideNotFound(
        _ step: inout StepDeciding, lineId: String, input: SourcingInput?, transferIds: [String]
    ) -> Result<OrderDecision, Rejections> {
        let order = step.order
        guard let index = order.lines.firstIndex(where: { $0.id == lineId }) else {
            return .failure(Rejections(.unknownOrderLine(orderId: order.id, lineId: lineId)))
        }
        guard order.status == .allocated || order.status == .picking else { return step.refuse() }
        let line = order.lines[index]
        guard line.status == .allocated else {
            return .failure(Rejections(.invalidTransition(status: "line \(line.id) \(line.status.rawValue)", step: "reported not found")))
        }
        guard let input else { preconditionFailure("re-sourcing needs its input") }
        step.next.lines[index].status = .notFound
        step.next.lines[index].reason = "not-found"
        var changes = [PositionChange(sku: line.sku, locationId: line.locationId, allocated: -line.quantity)]
        var assigned: [String] = []
        if let outcome = resource(line, of: order, input: input, positions: step.working.positions) {
            let (withLines, added) = addLines(
                outcome.lines, to: step.next, replacing: lineId, transferIds: transferIds, working: &step.working, nowMs: step.nowMs)
            step.next = withLines
            changes += added
            assigned = Array(Set(outcome.lines.map(\.locationId)).subtracting(order.lines.map(\.locationId))).sorted()
        } else {
            // Nothing can serve it: the line is cancelled, and so is an order left with nothing.
            step.next.lines[index].status = .cancelled
        }
        settle(&step.next, nowMs: step.nowMs)
        step.record(.lineNotFound, changes, lineId: lineId, reason: "not-found", assigned: assigned)
        step.working.move(line.key, .loss, line.quantity, reference: order.id, nowMs: step.nowMs)
        return step.decided
    }

    /// Where a line not found can be served instead, in full; nil when nowhere can.
    private static func resource(
        _ line: OrderLine, of order: Order, input: SourcingInput, positions: [StockKey: StockPosition]
    ) -> SourcingOutcome? {
        // Where the SKU was already not found for this order is not tried again.
        let excluded = Set(order.lines.filter { $0.sku == line.sku && ($0.status == .notFound || $0.id == line.id) }.map(\.locationId))
        // Re-sourcing sees the position as it will be: the units reported missing are gone.
        var seen = input
        seen.positions = positions
        let demand = [Sourcing.Demand(line: 0, sku: line.sku, quantity: line.quantity)]
        switch Sourcing.source(demand, fulfilment: order.fulfilment, input: seen, excluding: excluded) {
        case .success(let outcome) where outcome.unfilled.isEmpty && !outcome.lines.isEmpty:
            return outcome
        case .success, .failure:
            // Short, or refused (the pickup store can no longer be one): nowhere serves it.
            return nil
        }
    }

    private static func decideReturned(
        _ step: inout StepDeciding, locationId: String, lines: [ReturnLine], locations: [String: Location]
    ) -> Result<OrderDecision, Rejections> {
        let order = step.order
        let returnable = order.lines.reduce(Int64(0)) { $0 + $1.returnable }
        guard order.lines.contains(where: { $0.status == .collected || $0.status == .shipped }) else { return step.refuse() }
        let faults = validateReturn(order, locationId: locationId, lines: lines, locations: locations)
        if !faults.isEmpty { return .failure(Rejections(faults)) }
        precondition(returnable > 0, "a return passed validation with nothing returnable")
        for line in lines {
            var left = line.quantity
            for index in step.next.lines.indices where left > 0 && step.next.lines[index].sku == line.sku {
                let take = min(left, step.next.lines[index].returnable)
                guard take > 0 else { continue }
                if line.restock { step.next.lines[index].returned += take } else { step.next.lines[index].damaged += take }
                left -= take
            }
        }
        step.next.returns.append(OrderReturn(locationId: locationId, lines: lines, returnedAtMs: step.nowMs))
        step.record(.returned)
        var restocked: [String: Int64] = [:]
        for line in lines where line.restock { restocked[line.sku, default: 0] += line.quantity }
        for (sku, quantity) in restocked.sorted(by: { $0.key < $1.key }) {
            step.working.move(StockKey(sku: sku, locationId: locationId), .customerReturn, quantity, reference: order.id, nowMs: step.nowMs)
        }
        return step.decided
    }

    /// The faults of a return: where it comes back to, and no more of each SKU than was
    /// handed over and not yet returned (lines of one SKU count together).
    private static func validateReturn(
        _ order: Order, locationId: String, lines: [ReturnLine], locations: [String: Location]
    ) -> [Rejection] {
        var faults: [Rejection] = []
        if let fault = Identifier.check(locationId, field: "locationId") {
            faults.append(fault)
        } else if let location = locations[locationId] {
            if !location.active { faults.append(.inLine(path: "", .locationInactive(locationId: locationId))) }
        } else {
            faults.append(.inLine(path: "", .unknownLocation(locationId: locationId)))
        }
        if lines.isEmpty { faults.append(.missingField(field: "lines")) }
        if lines.count > Limits.orderLinesMax { faults.append(.tooMany(field: "lines", countMax: Limits.orderLinesMax)) }
        var asked: [String: Int64] = [:]
        for (index, line) in lines.enumerated() {
            var lineFaults: [Rejection] = []
            if let fault = Identifier.check(line.sku, field: "sku") { lineFaults.append(fault) }
            let left = order.lines.filter { $0.sku == line.sku }.reduce(Int64(0)) { $0 + $1.returnable } - (asked[line.sku] ?? 0)
            if !(1...max(1, left)).contains(line.quantity) || left <= 0 {
                lineFaults.append(.outOfRange(field: "quantity", lower: "1", upper: "\(max(0, left)) (handed over and not yet returned)"))
            } else {
                asked[line.sku, default: 0] += line.quantity
            }
            faults += lineFaults.map { .inLine(path: "lines/\(index)", $0) }
        }
        return faults
    }

    /// A pickup not collected in its window releases what it held; before then, nothing happens.
    private static func decideExpire(_ step: inout StepDeciding) -> Result<OrderDecision, Rejections> {
        let order = step.order
        guard order.status == .ready, let due = order.pickupExpiresAtMs, step.nowMs >= due else { return .success(OrderDecision(events: [])) }
        let released = order.lines.filter { $0.status == .allocated }
        for index in step.next.lines.indices where step.next.lines[index].status == .allocated {
            step.next.lines[index].status = .expired
            step.next.lines[index].reason = "not-collected"
        }
        step.next.status = .expired
        step.next.endedAtMs = step.nowMs
        step.record(.expired, releasing(released), reason: "not-collected")
        return step.decided
    }

    /// The order's status once no line waits any more: shipped when something left, cancelled
    /// when nothing did. An order with lines still to serve keeps its status.
    static func settle(_ order: inout Order, nowMs: Int64) {
        guard !order.lines.contains(where: { $0.status == .allocated || $0.status == .inTransit }) else { return }
        if order.lines.contains(where: { $0.status == .shipped }) {
            order.status = .shipped
        } else if !order.lines.contains(where: { $0.status == .collected }) {
            order.status = .cancelled
            order.cancelReason = Orders.cancelledForStock
        }
        order.endedAtMs = nowMs
    }

    /// The lines a ship request names when it names none: every allocated line at the given locations.
    public static func shippableLines(_ order: Order, scope: LocationScope) -> [String] {
        order.lines.filter { $0.status == .allocated && scope.contains($0.locationId) }.map(\.id)
    }

    /// The positions a step takes from or gives back to: what the store locks before deciding
    /// it. Steps that move no stock need none (the order's row serialises them); re-sourcing
    /// also needs the SKU at every candidate, which only the store can list.
    public static func positions(touchedBy action: OrderAction, order: Order) -> [StockKey] {
        switch action {
        case .picking, .ready, .unlock:
            return []
        case .collect(let codeMatches):
            // Only a collection that hands over takes stock.
            guard codeMatches, order.status == .ready, !order.pickupLocked else { return [] }
            return order.lines.filter { $0.status == .allocated }.map(\.key)
        case .ship(let lineIds, _, _):
            return order.lines.filter { lineIds.contains($0.id) }.map(\.key)
        case .cancel, .expire:
            return order.lines.filter { $0.status == .allocated }.map(\.key)
        case .notFound(let lineId):
            return order.lines.filter { $0.id == lineId }.map(\.key)
        case .returned(let locationId, let lines):
            guard Identifier.isValid(locationId) else { return [] }
            return lines.filter { Identifier.isValid($0.sku) }.map { StockKey(sku: $0.sku, locationId: locationId) }
        }
    }

    /// The locations a step acts on, for access checks.
    public static func actingLocations(_ action: OrderAction, order: Order) -> [String] {
        switch action {
        case .picking, .ready, .collect, .unlock, .expire:
            // A pickup order is the pickup store's work; a ship order is the work of any of its
            // locations (the caller must see the order: one of its locations is theirs).
            if let store = order.pickupLocationId { return [store] }
            return []
        case .ship(let lineIds, _, _):
            return Array(Set(order.lines.filter { lineIds.contains($0.id) }.map(\.locationId))).sorted()
        case .cancel:
            return []
        case .notFound(let lineId):
            return order.lines.first(where: { $0.id == lineId }).map { [$0.locationId] } ?? []
        case .returned(let locationId, _):
            return [locationId]
        }
    }

    /// Applies an order event to the order it concerns: each event carries the order after it.
    public static func evolve(_ order: Order?, _ event: LedgerEvent) -> Order {
        guard case .order(let recorded) = event else { preconditionFailure("a non-order event was applied to an order") }
        precondition((order == nil) == (recorded.step == .created), "an order was created twice, or changed before it was created")
        return recorded.order
    }
}
