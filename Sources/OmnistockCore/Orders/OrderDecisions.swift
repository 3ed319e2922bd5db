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
    /// The cancel reason of an order left with no line that anything could serve.
    public static let cancelledForStock = "stock"

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
    ///
    /// - Parameter locations: the hold's line locations and the pickup point, as they stand
    ///   now: a hold reserves stock, not the right to a fulfilment its locations cannot do.
    public static func decide(
        convert hold: Hold, request: OrderRequest, orderId: String, nowMs: Int64, locations: [String: Location]
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
        let locationFaults = conversionFaults(hold, fulfilment: fulfilment, locations: locations)
        if !locationFaults.isEmpty { return .failure(Rejections(locationFaults)) }
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

    /// Why the hold's locations cannot fulfil the order this way, by the rules a direct order
    /// follows: a pickup point must be active and one; a shipped line must come from an active
    /// location that ships, within sourcing's reach of the address. Capacity is not counted
    /// again: the hold was accepted before it, and its units are already promised.
    static func conversionFaults(_ hold: Hold, fulfilment: Fulfilment, locations: [String: Location]) -> [Rejection] {
        switch fulfilment {
        case .pickup(let storeId):
            guard let store = locations[storeId] else { return [.inLine(path: "fulfilment", .unknownLocation(locationId: storeId))] }
            guard store.active else { return [.inLine(path: "fulfilment", .locationInactive(locationId: storeId))] }
            guard store.capabilities.pickup else {
                return [.inLine(path: "fulfilment", .locationLacksCapability(locationId: storeId, capability: "be a pickup point"))]
            }
            return []
        case .ship(let latitude, let longitude):
            var faults: [Rejection] = []
            for (index, line) in hold.lines.enumerated() {
                let path = "lines/\(index)"
                guard let location = locations[line.locationId] else {
                    faults.append(.inLine(path: path, .unknownLocation(locationId: line.locationId)))
                    continue
                }
                let distance = Geo.distanceKilometres(
                    latitude1: latitude, longitude1: longitude, latitude2: location.latitude, longitude2: location.longitude)
                if !location.active {
                    faults.append(.inLine(path: path, .locationInactive(locationId: line.locationId)))
                } else if !location.capabilities.ships {
                    faults.append(.inLine(path: path, .locationLacksCapability(locationId: line.locationId, capability: "ship orders")))
                } else if distance > Limits.sourcingDistanceKilometresMax {
                    let reach = Int(Limits.sourcingDistanceKilometresMax)
                    faults.append(.inLine(path: path, .locationLacksCapability(locationId: line.locationId, capability: "ship farther than \(reach) km")))
                }
            }
            return faults
        }
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
}
