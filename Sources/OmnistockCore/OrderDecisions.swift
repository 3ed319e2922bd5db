/// The pure rules of orders and transfers: creation (from a hold or sourced), store work,
/// no-shows, returns, and transfers, decided against the order and the positions as they stand.
///
/// Positions passed in are *effective* (expired holds not counted), as for holds.

/// What a caller asks for when it creates an order.
public struct OrderRequest: Equatable, Sendable {
    /// The retailer's own number: an order is created once per number.
    public var orderNumber: String
    /// Convert this hold (its lines become the order's), or source `lines`.
    public var holdId: String?
    public var lines: [RequestedLine]
    public var fulfilment: Fulfilment?
    public var reference: String?

    public init(orderNumber: String, holdId: String? = nil, lines: [RequestedLine] = [], fulfilment: Fulfilment? = nil, reference: String? = nil) {
        self.orderNumber = orderNumber
        self.holdId = holdId
        self.lines = lines
        self.fulfilment = fulfilment
        self.reference = reference
    }

    /// The locations the request names itself, for access checks.
    public var namedLocations: [String] {
        var ids = Set(lines.compactMap(\.locationId))
        if case .pickup(let id) = fulfilment { ids.insert(id) }
        return ids.sorted()
    }
}

/// A step asked of an existing order.
public enum OrderAction: Equatable, Sendable {
    case picking
    case ready
    case collect(codeMatches: Bool)
    case unlock
    case ship(lineIds: [String], carrier: String, tracking: String)
    case cancel(reason: String?)
    case notFound(lineId: String)
    case returned(locationId: String, lines: [ReturnLine])
    case expire

    /// The verb used when the step is refused ("It is collected; it cannot be picked now.").
    var summary: String {
        switch self {
        case .picking: "picked"
        case .ready: "made ready for pickup"
        case .collect: "collected"
        case .unlock: "unlocked"
        case .ship: "shipped"
        case .cancel: "cancelled"
        case .notFound: "changed"
        case .returned: "returned"
        case .expire: "expired"
        }
    }
}

/// What a step decided: events to record, and a refusal to answer after recording them (a
/// wrong pickup code is refused, and counted).
public struct OrderDecision: Equatable, Sendable {
    public var events: [LedgerEvent]
    public var refusal: Rejections?

    public init(events: [LedgerEvent], refusal: Rejections? = nil) {
        self.events = events
        self.refusal = refusal
    }
}

/// Events being decided against positions that evolve as they are added.
struct Working {
    var positions: [StockKey: StockPosition]
    var events: [LedgerEvent] = []

    mutating func record(_ event: LedgerEvent) {
        Orders.apply(event, to: &positions)
        events.append(event)
    }

    /// A stock movement recorded by the service: `quantity` units of `kind`, capped at what is
    /// on hand for kinds that remove (the ledger never goes negative; the goods are gone).
    mutating func move(_ key: StockKey, _ kind: MovementKind, _ quantity: Int64, reference: String, nowMs: Int64) {
        let position = positions[key] ?? .empty
        let units = kind.direction < 0 ? min(quantity, position.onHand) : quantity
        guard units > 0 else { return }
        let delta = kind.direction * units
        let shortBefore = position.shortfall
        record(.stockMoved(StockMoved(
            sku: key.sku, locationId: key.locationId, kind: kind, quantity: units, onHandDelta: delta,
            onHandAfter: position.onHand + delta, reason: nil, reference: reference, occurredAtMs: nowMs)))
        let after = positions[key]!
        if after.shortfall > shortBefore { record(StockLedger.short(key, after, nowMs)) }
    }
}

public enum Orders {
    /// Applies any event to the positions it touches: stock events to their own position,
    /// the promised-bucket changes of hold, order and transfer events to theirs.
    public static func apply(_ event: LedgerEvent, to positions: inout [StockKey: StockPosition]) {
        if let key = event.stockKey {
            positions[key] = StockLedger.evolve(positions[key] ?? .empty, event)
            return
        }
        for change in event.positionChanges {
            positions[change.key] = (positions[change.key] ?? .empty).applying(change)
        }
    }

    /// The UTC day of a time, as days since 1970: what daily capacity counts by.
    public static func day(ofMs ms: Int64) -> Int64 { ms >= 0 ? ms / Limits.dayMilliseconds : (ms + 1) / Limits.dayMilliseconds - 1 }

    // MARK: Creation

    /// The faults of a creation request that depend on nothing stored.
    public static func validate(_ request: OrderRequest) -> [Rejection] {
        var faults: [Rejection] = []
        if let fault = Identifier.check(request.orderNumber, field: "orderNumber") { faults.append(fault) }
        if let reference = request.reference, let fault = Text.check(reference, field: "reference", lengthMax: Limits.referenceLengthMax) {
            faults.append(fault)
        }
        if let holdId = request.holdId {
            if let fault = Identifier.check(holdId, field: "holdId") { faults.append(fault) }
            if !request.lines.isEmpty {
                faults.append(.notAllowed(field: "lines", reason: "an order from a hold takes the hold's lines"))
            }
            if let fulfilment = request.fulfilment { faults += fulfilmentFaults(fulfilment) }
            return faults
        }
        guard let fulfilment = request.fulfilment else { return faults + [.missingField(field: "fulfilment")] }
        faults += validate(lines: request.lines, fulfilment: fulfilment)
        for (index, line) in request.lines.enumerated() {
            if let id = line.locationId, let fault = Identifier.check(id, field: "locationId") { faults.append(.inLine(path: "lines/\(index)", fault)) }
        }
        return faults
    }

    /// The faults of an order's lines and fulfilment alone (a sourcing preview has nothing
    /// else). The lines follow the rules of hold lines, except that a line may be pinned to a
    /// location while the fulfilment chooses the others, and that orders have their own limit
    /// on the number of lines.
    public static func validate(lines: [RequestedLine], fulfilment: Fulfilment) -> [Rejection] {
        var faults: [Rejection] = []
        if lines.count > Limits.orderLinesMax { faults.append(.tooMany(field: "lines", countMax: Limits.orderLinesMax)) }
        if lines.isEmpty { faults.append(.missingField(field: "lines")) }
        // A pinned location is checked by the caller that allows pins (a creation).
        faults += Holds.validate(lines: lines.map { RequestedLine(sku: $0.sku, quantity: $0.quantity) }, fulfilment: fulfilment)
        faults += Holds.validate(fulfilment: fulfilment)
        return faults
    }

    static func fulfilmentFaults(_ fulfilment: Fulfilment) -> [Rejection] {
        Holds.validate(fulfilment: fulfilment)
    }

    /// Converts an active hold into an order: its held units become allocated, in one step.
    public static func decide(
        convert hold: Hold, request: OrderRequest, orderId: String, nowMs: Int64
    ) -> Result<[LedgerEvent], Rejections> {
        let faults = validate(request)
        if !faults.isEmpty { return .failure(Rejections(faults)) }
        let status = hold.status(atMs: nowMs)
        guard status == .active else { return .failure(Rejections(.holdNotActive(holdId: hold.id, status: status))) }
        let fulfilment: Fulfilment
        switch (hold.fulfilment, request.fulfilment) {
        case (.some(let held), .some(let asked)) where held != asked:
            return .failure(Rejections(.notAllowed(field: "fulfilment", reason: "the hold was placed for another fulfilment")))
        case (.some(let held), _):
            fulfilment = held
        case (nil, .some(let asked)):
            fulfilment = asked
        case (nil, nil):
            return .failure(Rejections(.missingField(field: "fulfilment")))
        }
        if case .pickup(let storeId) = fulfilment, hold.lines.contains(where: { $0.locationId != storeId }) {
            return .failure(Rejections(.notAllowed(field: "fulfilment", reason: "the hold's lines are not all at the pickup point")))
        }
        let lines = hold.lines.enumerated().map { index, line in
            OrderLine(id: String(index + 1), sku: line.sku, quantity: line.quantity, locationId: line.locationId, status: .allocated)
        }
        let order = Order(
            id: orderId, orderNumber: request.orderNumber, status: .allocated, holdId: hold.id, reference: request.reference ?? hold.reference,
            fulfilment: fulfilment, lines: lines, createdAtMs: nowMs)
        return .success([
            .holdConverted(HoldConverted(holdId: hold.id, orderId: orderId, lines: hold.lines, occurredAtMs: nowMs)),
            .order(OrderRecorded(
                step: .created, order: order,
                changes: lines.map { PositionChange(sku: $0.sku, locationId: $0.locationId, allocated: $0.quantity) },
                assigned: Array(Set(lines.map(\.locationId) + [fulfilment.pickupLocationId].compactMap { $0 })).sorted(), occurredAtMs: nowMs)),
        ])
    }

    /// Creates an order by sourcing its lines: allocated wherever the rules place them, all or
    /// nothing. Lines of a pickup order the store lacks leave their source at once by transfer.
    ///
    /// - Parameter transferIds: fresh ids, at least one per line (transfers are per source).
    public static func decide(
        create request: OrderRequest, orderId: String, transferIds: [String], nowMs: Int64, input: SourcingInput
    ) -> Result<[LedgerEvent], Rejections> {
        let faults = validate(request)
        if !faults.isEmpty { return .failure(Rejections(faults)) }
        guard let fulfilment = request.fulfilment else { return .failure(Rejections(.missingField(field: "fulfilment"))) }
        // Pinned lines take their location's stock first; the fulfilment sources the others.
        var seen = input
        var pinned: [SourcedLine] = []
        var refusals: [Rejection] = []
        for (index, line) in request.lines.enumerated() {
            guard let id = line.locationId else { continue }
            guard let location = input.locations[id] else {
                // Unknown, or outside a bound caller's locations (the store filters them).
                refusals.append(.inLine(path: "lines/\(index)", .unknownLocation(locationId: id)))
                continue
            }
            guard location.active else {
                refusals.append(.inLine(path: "lines/\(index)", .locationInactive(locationId: id)))
                continue
            }
            // A pinned line leaves its location (shipped, or sent to the pickup store) unless it
            // is the pickup store itself: the location must ship.
            guard fulfilment.pickupLocationId == id || location.capabilities.ships else {
                refusals.append(.inLine(path: "lines/\(index)", .locationLacksCapability(locationId: id, capability: "ship orders")))
                continue
            }
            let key = StockKey(sku: line.sku, locationId: id)
            let available = seen.available(key)
            guard available >= line.quantity else {
                refusals.append(.inLine(path: "lines/\(index)", .insufficientStock(sku: line.sku, locationId: id, requested: line.quantity, available: available)))
                continue
            }
            seen.positions[key] = (seen.positions[key] ?? .empty).applying(PositionChange(sku: line.sku, locationId: id, allocated: line.quantity))
            let travels = fulfilment.pickupLocationId.map { $0 != id } ?? false
            pinned.append(SourcedLine(line: index, sku: line.sku, quantity: line.quantity, locationId: id, viaTransfer: travels))
        }
        let demands = request.lines.enumerated().filter { $0.element.locationId == nil }.map {
            Sourcing.Demand(line: $0.offset, sku: $0.element.sku, quantity: $0.element.quantity)
        }
        var outcome = SourcingOutcome(lines: [], unfilled: [], locations: [], candidates: [])
        if !demands.isEmpty || fulfilment.pickupLocationId != nil {
            switch Sourcing.source(demands, fulfilment: fulfilment, input: seen) {
            case .failure(let rejections): return .failure(rejections)
            case .success(let value): outcome = value
            }
        }
        refusals += outcome.unfilled.map {
            .inLine(path: "lines/\($0.line)", .insufficientStock(sku: $0.sku, locationId: nil, requested: $0.requested, available: $0.available))
        }
        if !refusals.isEmpty { return .failure(Rejections(refusals)) }
        outcome.lines = (pinned + outcome.lines).sorted { ($0.line, $0.locationId) < ($1.line, $1.locationId) }
        var working = Working(positions: input.positions)
        let order = Order(
            id: orderId, orderNumber: request.orderNumber, status: .allocated, holdId: nil, reference: request.reference,
            fulfilment: fulfilment, lines: [], createdAtMs: nowMs)
        let (created, changes) = addLines(outcome.lines, to: order, replacing: nil, transferIds: transferIds, working: &working, nowMs: nowMs)
        working.record(.order(OrderRecorded(
            // The pickup store works on the order too (it hands it over), so it counts as assigned.
            step: .created, order: created, changes: changes,
            assigned: Array(Set(outcome.lines.map(\.locationId) + [fulfilment.pickupLocationId].compactMap { $0 })).sorted(),
            occurredAtMs: nowMs)))
        return .success(working.events)
    }

    /// Adds sourced lines to an order: allocations where the stock stays, transfers (recorded in
    /// `working`) for lines that travel to the pickup store. Returns the order and the
    /// allocation changes the order's own event must carry.
    static func addLines(
        _ sourced: [SourcedLine], to order: Order, replacing: String?, transferIds: [String], working: inout Working, nowMs: Int64
    ) -> (Order, [PositionChange]) {
        var next = order
        var changes: [PositionChange] = []
        var number = next.nextLineNumber
        var transfers: [String: Transfer] = [:]
        var usedIds = 0
        for line in sourced {
            var orderLine = OrderLine(
                id: String(number), sku: line.sku, quantity: line.quantity, locationId: line.locationId, status: .allocated, replaces: replacing)
            number += 1
            if line.viaTransfer, let storeId = order.pickupLocationId {
                if transfers[line.locationId] == nil {
                    precondition(usedIds < transferIds.count, "too few transfer ids for the lines to source")
                    transfers[line.locationId] = Transfer(
                        id: transferIds[usedIds], status: .inTransit, fromLocationId: line.locationId, toLocationId: storeId, orderId: order.id,
                        reference: order.orderNumber, lines: [], dispatchedAtMs: nowMs)
                    usedIds += 1
                }
                orderLine.status = .inTransit
                orderLine.transferId = transfers[line.locationId]!.id
                if let index = transfers[line.locationId]!.lines.firstIndex(where: { $0.sku == line.sku }) {
                    transfers[line.locationId]!.lines[index].quantity += line.quantity
                } else {
                    transfers[line.locationId]!.lines.append(TransferLine(sku: line.sku, quantity: line.quantity))
                }
            } else {
                changes.append(PositionChange(sku: line.sku, locationId: line.locationId, allocated: line.quantity))
            }
            next.lines.append(orderLine)
        }
        for transfer in transfers.values.sorted(by: { $0.id < $1.id }) {
            dispatch(transfer, working: &working, nowMs: nowMs)
        }
        return (next, changes)
    }

    /// Records a transfer leaving its source: on-hand there drops, `incoming` at the destination grows.
    static func dispatch(_ transfer: Transfer, working: inout Working, nowMs: Int64) {
        for line in transfer.lines {
            working.move(StockKey(sku: line.sku, locationId: transfer.fromLocationId), .transferOut, line.quantity, reference: transfer.id, nowMs: nowMs)
        }
        working.record(.transfer(TransferRecorded(
            step: .dispatched, transfer: transfer,
            changes: transfer.lines.map { PositionChange(sku: $0.sku, locationId: transfer.toLocationId, incoming: $0.quantity) },
            occurredAtMs: nowMs)))
    }

    // MARK: Steps

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
            order.cancelReason = "stock"
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

// MARK: - Transfers

public struct TransferRequest: Equatable, Sendable {
    public var fromLocationId: String
    public var toLocationId: String
    public var lines: [TransferLine]
    public var reference: String?

    public init(fromLocationId: String, toLocationId: String, lines: [TransferLine], reference: String? = nil) {
        self.fromLocationId = fromLocationId
        self.toLocationId = toLocationId
        self.lines = lines
        self.reference = reference
    }
}

public enum Transfers {
    /// The faults of a transfer request that depend on nothing stored.
    public static func validate(_ request: TransferRequest) -> [Rejection] {
        var faults: [Rejection] = []
        if let fault = Identifier.check(request.fromLocationId, field: "fromLocationId") { faults.append(fault) }
        if let fault = Identifier.check(request.toLocationId, field: "toLocationId") { faults.append(fault) }
        if request.fromLocationId == request.toLocationId {
            faults.append(.notAllowed(field: "toLocationId", reason: "a transfer goes to another location"))
        }
        if let reference = request.reference, let fault = Text.check(reference, field: "reference", lengthMax: Limits.referenceLengthMax) {
            faults.append(fault)
        }
        faults += linesFaults(request.lines.map { ($0.sku, $0.quantity) }, lower: 1, upper: { _ in Limits.stockQuantityMax })
        return faults
    }

    static func linesFaults(_ lines: [(sku: String, quantity: Int64)], lower: Int64, upper: (String) -> Int64) -> [Rejection] {
        var faults: [Rejection] = []
        if lines.isEmpty && lower > 0 { faults.append(.missingField(field: "lines")) }
        if lines.count > Limits.transferLinesMax { faults.append(.tooMany(field: "lines", countMax: Limits.transferLinesMax)) }
        var seen = Set<String>()
        for (index, line) in lines.enumerated() {
            var lineFaults: [Rejection] = []
            if let fault = Identifier.check(line.sku, field: "sku") { lineFaults.append(fault) }
            if !seen.insert(line.sku).inserted { lineFaults.append(.duplicate(field: "sku", value: line.sku)) }
            let bound = upper(line.sku)
            if !(lower...max(lower, bound)).contains(line.quantity) || bound < lower {
                lineFaults.append(.outOfRange(field: "quantity", lower: "\(lower)", upper: "\(bound)"))
            }
            faults += lineFaults.map { .inLine(path: "lines/\(index)", $0) }
        }
        return faults
    }

    /// Sends stock from one location to another: it leaves the source now (never more than the
    /// source has free) and shows as `incoming` at the destination until received.
    public static func decide(
        dispatch request: TransferRequest, transferId: String, nowMs: Int64, locations: [String: Location], positions: [StockKey: StockPosition]
    ) -> Result<[LedgerEvent], Rejections> {
        var faults = validate(request)
        if faults.isEmpty {
            for (field, id) in [("fromLocationId", request.fromLocationId), ("toLocationId", request.toLocationId)] {
                guard let location = locations[id] else {
                    faults.append(.inLine(path: "", .unknownLocation(locationId: id)))
                    continue
                }
                if !location.active { faults.append(.inLine(path: field, .locationInactive(locationId: id))) }
            }
        }
        if !faults.isEmpty { return .failure(Rejections(faults)) }
        let input = SourcingInput(locations: locations, positions: positions, ordersToday: [:])
        var short: [Rejection] = []
        for (index, line) in request.lines.enumerated() {
            let available = input.available(StockKey(sku: line.sku, locationId: request.fromLocationId))
            if available < line.quantity {
                short.append(.inLine(path: "lines/\(index)", .insufficientStock(
                    sku: line.sku, locationId: request.fromLocationId, requested: line.quantity, available: available)))
            }
        }
        if !short.isEmpty { return .failure(Rejections(short)) }
        var working = Working(positions: positions)
        Orders.dispatch(
            Transfer(
                id: transferId, status: .inTransit, fromLocationId: request.fromLocationId, toLocationId: request.toLocationId, orderId: nil,
                reference: request.reference, lines: request.lines.map { TransferLine(sku: $0.sku, quantity: $0.quantity) },
                dispatchedAtMs: nowMs),
            working: &working, nowMs: nowMs)
        return .success(working.events)
    }

    /// Receives a transfer: what arrived joins the destination's stock, what was sent stops being
    /// incoming, and the difference is recorded as lost. Lines of the pickup order it was made
    /// for are allocated at the store when they arrived whole; a line that arrived short is
    /// cancelled (its units, if any, are the store's stock).
    ///
    /// - Parameter received: units received per SKU; SKUs not named arrived as 0.
    public static func decide(
        receive transfer: Transfer, received: [(sku: String, quantity: Int64)], order: Order?, nowMs: Int64,
        positions: [StockKey: StockPosition]
    ) -> Result<[LedgerEvent], Rejections> {
        guard transfer.status == .inTransit else {
            return .failure(Rejections(.invalidTransition(status: transfer.status.rawValue, step: "received")))
        }
        let sent = Dictionary(uniqueKeysWithValues: transfer.lines.map { ($0.sku, $0.quantity) })
        var faults = linesFaults(received, lower: 0, upper: { sent[$0] ?? 0 })
        for (index, line) in received.enumerated() where sent[line.sku] == nil {
            faults.append(.inLine(path: "lines/\(index)", .notAllowed(field: "sku", reason: "the transfer did not send '\(line.sku)'")))
        }
        if !faults.isEmpty { return .failure(Rejections(faults)) }
        let arrived = Dictionary(received.map { ($0.sku, $0.quantity) }, uniquingKeysWith: +)
        var next = transfer
        next.status = .received
        next.receivedAtMs = nowMs
        for index in next.lines.indices {
            let got = arrived[next.lines[index].sku] ?? 0
            next.lines[index].received = got
            next.lines[index].lost = next.lines[index].quantity - got
        }
        var working = Working(positions: positions)
        working.record(.transfer(TransferRecorded(
            step: .received, transfer: next,
            changes: transfer.lines.map { PositionChange(sku: $0.sku, locationId: transfer.toLocationId, incoming: -$0.quantity) },
            occurredAtMs: nowMs)))
        for line in next.lines where (line.received ?? 0) > 0 {
            working.move(StockKey(sku: line.sku, locationId: transfer.toLocationId), .transferIn, line.received!, reference: transfer.id, nowMs: nowMs)
        }
        if let order, order.lines.contains(where: { $0.transferId == transfer.id && $0.status == .inTransit }) {
            var nextOrder = order
            nextOrder.updatedAtMs = nowMs
            var left = arrived
            var changes: [PositionChange] = []
            for index in nextOrder.lines.indices where nextOrder.lines[index].transferId == transfer.id && nextOrder.lines[index].status == .inTransit {
                let line = nextOrder.lines[index]
                let have = left[line.sku] ?? 0
                if have >= line.quantity {
                    left[line.sku] = have - line.quantity
                    nextOrder.lines[index].locationId = transfer.toLocationId
                    nextOrder.lines[index].status = .allocated
                    changes.append(PositionChange(sku: line.sku, locationId: transfer.toLocationId, allocated: line.quantity))
                } else {
                    nextOrder.lines[index].status = .cancelled
                    nextOrder.lines[index].reason = "lost-in-transfer"
                }
            }
            Orders.settle(&nextOrder, nowMs: nowMs)
            working.record(.order(OrderRecorded(
                step: .transferReceived, order: nextOrder, changes: changes, lineId: nil, reason: nil, occurredAtMs: nowMs)))
        }
        return .success(working.events)
    }

    /// Applies a transfer event to the transfer it concerns.
    public static func evolve(_ transfer: Transfer?, _ event: LedgerEvent) -> Transfer {
        guard case .transfer(let recorded) = event else { preconditionFailure("a non-transfer event was applied to a transfer") }
        precondition((transfer == nil) == (recorded.step == .dispatched), "a transfer was dispatched twice, or received before dispatch")
        return recorded.transfer
    }
}
