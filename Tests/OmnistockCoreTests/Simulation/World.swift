import OmnistockCore

/// The core's state, built only by folding accepted events through the core's own evolve
/// functions, as the store's projections are. Replaying the ledger from nothing must give it back.
struct CoreState: Equatable {
    struct Change: Equatable {
        var atMs: Int64
        var delta: Int64
    }

    var positions: [StockKey: StockPosition] = [:]
    var holds: [String: Hold] = [:]
    var orders: [String: Order] = [:]
    var transfers: [String: Transfer] = [:]
    /// Holds recorded as active (the only ones an expiry or a release can still end).
    var activeHolds = Set<String>()
    /// On-hand changes per position with when they occurred: what a count reconciles against.
    var onHandChanges: [StockKey: [Change]] = [:]
    /// Orders assigned per UTC day and location: what daily capacity counts.
    var assignments: [Int64: [String: Int64]] = [:]

    /// Why applying the event would trap in the core's evolve (a broken invariant), or nil.
    /// Checked before folding, so a bug is reported with its seed instead of crashing the run.
    func trap(_ event: LedgerEvent) -> String? {
        if let key = event.stockKey {
            let position = positions[key] ?? .empty
            let onHand = position.onHand + event.onHandDelta
            if onHand < 0 { return "on-hand would become \(onHand) at \(key.sku)@\(key.locationId)" }
            if let recorded = Self.onHandAfter(event), recorded != onHand {
                return "\(event.type) records on-hand \(recorded) where the position would hold \(onHand) at \(key.sku)@\(key.locationId)"
            }
            if case .safetyStockSet(let set) = event, (set.quantity ?? 0) < 0 { return "safety stock would become negative" }
        }
        var buckets: [StockKey: StockPosition] = [:]
        for change in event.positionChanges {
            var position = buckets[change.key] ?? positions[change.key] ?? .empty
            position.held += change.held
            position.allocated += change.allocated
            position.incoming += change.incoming
            if position.held < 0 || position.allocated < 0 || position.incoming < 0 {
                return "\(event.type) would make a bucket negative at \(change.sku)@\(change.locationId): \(position)"
            }
            buckets[change.key] = position
        }
        return lifecycleTrap(event)
    }

    private func lifecycleTrap(_ event: LedgerEvent) -> String? {
        switch event {
        case .holdPlaced(let placed):
            return holds[placed.holdId] == nil ? nil : "hold \(placed.holdId) placed twice"
        case .holdExtended(let extended):
            guard let hold = holds[extended.holdId], hold.recordedStatus == .active else { return "an ended hold \(extended.holdId) extended" }
            return extended.expiresAtMs > hold.expiresAtMs ? nil : "an extension of \(extended.holdId) did not extend"
        case .holdReleased, .holdExpired, .holdConverted:
            let id = event.holdId!
            return holds[id]?.recordedStatus == .active ? nil : "\(event.type) of hold \(id), which is not active"
        case .order(let recorded):
            return (orders[recorded.order.id] == nil) == (recorded.step == .created)
                ? nil : "\(event.type) of order \(recorded.order.id) out of order"
        case .transfer(let recorded):
            let fresh = transfers[recorded.transfer.id] == nil
            return fresh == (recorded.step == .dispatched) ? nil : "\(event.type) of transfer \(recorded.transfer.id) out of order"
        case .locationDefined:
            return "the simulation defines no location"
        case .stockMoved, .stockCounted, .countCorrected, .safetyStockSet, .positionShort:
            return nil
        }
    }

    private static func onHandAfter(_ event: LedgerEvent) -> Int64? {
        switch event {
        case .stockMoved(let moved): moved.onHandAfter
        case .stockCounted(let counted): counted.onHandAfter
        case .countCorrected(let corrected): corrected.onHandAfter
        case .locationDefined, .safetyStockSet, .positionShort, .holdPlaced, .holdExtended, .holdReleased, .holdExpired, .holdConverted,
            .order, .transfer:
            nil
        }
    }

    /// Folds one event, through the same evolve functions the store's projections use.
    mutating func fold(_ event: LedgerEvent) {
        switch event {
        case .holdPlaced, .holdExtended, .holdReleased, .holdExpired, .holdConverted:
            let id = event.holdId!
            let hold = Holds.evolve(holds[id], event)
            holds[id] = hold
            if hold.recordedStatus == .active { activeHolds.insert(id) } else { activeHolds.remove(id) }
        case .order(let recorded):
            orders[recorded.order.id] = Orders.evolve(orders[recorded.order.id], event)
            let day = Orders.day(ofMs: recorded.occurredAtMs)
            for id in recorded.assigned { assignments[day, default: [:]][id, default: 0] += 1 }
        case .transfer(let recorded):
            transfers[recorded.transfer.id] = Transfers.evolve(transfers[recorded.transfer.id], event)
        case .stockMoved(let moved):
            onHandChanges[event.stockKey!, default: []].append(Change(atMs: moved.occurredAtMs, delta: moved.onHandDelta))
        case .stockCounted(let counted):
            onHandChanges[event.stockKey!, default: []].append(Change(atMs: counted.occurredAtMs, delta: counted.onHandDelta))
        case .countCorrected(let corrected):
            onHandChanges[event.stockKey!, default: []].append(Change(atMs: corrected.occurredAtMs, delta: corrected.onHandDelta))
        case .safetyStockSet, .positionShort, .locationDefined:
            break
        }
        Orders.apply(event, to: &positions)
    }

    static func replay(_ events: [LedgerEvent]) -> CoreState {
        var state = CoreState()
        for event in events { state.fold(event) }
        return state
    }

    /// Positions as they count at `nowMs`: holds past their expiry but not recorded as expired
    /// no longer hold anything (what the store computes before every decision).
    func effective(atMs nowMs: Int64) -> [StockKey: StockPosition] {
        var result = positions
        for id in activeHolds {
            guard let hold = holds[id], nowMs >= hold.expiresAtMs else { continue }
            for line in hold.lines { result[line.key]!.held -= line.quantity }
        }
        return result
    }

    /// On-hand at a position as of a time, from the changes that had occurred by then.
    func onHand(_ key: StockKey, asOfMs: Int64) -> Int64 {
        (onHandChanges[key] ?? []).filter { $0.atMs <= asOfMs }.reduce(0) { $0 + $1.delta }
    }
}

/// The core driven as the store drives it: each step decided against the state the ledger has
/// made, with the clock and fresh ids as arguments.
struct World {
    var nowMs: Int64
    var state = CoreState()
    var events: [LedgerEvent] = []
    /// The availability model an instance keeps in memory, moved by the same events.
    var live = LiveAvailability(position: 0, locations: Array(Estate.locations.values))
    private var nextHold = 1
    private var nextOrder = 1
    private var nextTransfer = 1

    init(nowMs: Int64) { self.nowMs = nowMs }

    var locations: [String: Location] { Estate.locations }

    /// Decides a step; changes nothing (the caller checks the events, then applies them).
    mutating func decide(_ step: Step) -> Outcome {
        switch step {
        case .move(let lines):
            // Movements and counts are decided on the positions as stored, as the store does.
            return outcome(StockLedger.decide(movements: lines, positions: state.positions, locations: Set(locations.keys), nowMs: nowMs))
        case .count(let count):
            return outcome(decideCount(count))
        case .safetyStock(let key, let quantity):
            return outcome(
                StockLedger.decide(
                    safetyStock: quantity, key: key, current: state.positions[key], locationExists: locations[key.locationId] != nil, nowMs: nowMs))
        case .placeHold(let request):
            let id = Self.fresh(&nextHold, "H")
            let placed = Holds.decide(
                place: request, holdId: id, nowMs: nowMs, locations: locations, positions: state.effective(atMs: nowMs),
                shipCandidates: Estate.locationIds)
            return outcome(placed.map { [LedgerEvent.holdPlaced($0)] })
        case .extendHold(let id, let ttlSeconds):
            return outcome(Holds.decide(extend: state.holds[id]!, ttlSeconds: ttlSeconds, nowMs: nowMs))
        case .releaseHold(let id):
            return outcome(Holds.decide(release: state.holds[id]!, nowMs: nowMs))
        case .sweepHolds:
            return .accepted(state.activeHolds.sorted().flatMap { Holds.expire(state.holds[$0]!, nowMs: nowMs) })
        case .convertHold(let holdId, let number, let fulfilment):
            let request = OrderRequest(orderNumber: number, holdId: holdId, fulfilment: fulfilment)
            let id = Self.fresh(&nextOrder, "O")
            return outcome(Orders.decide(convert: state.holds[holdId]!, request: request, orderId: id, nowMs: nowMs, locations: locations))
        case .createOrder(let request):
            let id = Self.fresh(&nextOrder, "O")
            return outcome(Orders.decide(create: request, orderId: id, transferIds: transferIds(), nowMs: nowMs, input: sourcingInput()))
        case .orderStep(let id, let action):
            let decided = Orders.decide(
                action, order: state.orders[id]!, nowMs: nowMs, positions: state.effective(atMs: nowMs), locations: locations,
                input: sourcingInput(), transferIds: transferIds())
            switch decided {
            case .failure(let rejections): return .refused(rejections)
            case .success(let decision):
                guard let refusal = decision.refusal else { return .accepted(decision.events) }
                return decision.events.isEmpty ? .refused(refusal) : .recordedAndRefused(decision.events, refusal)
            }
        case .sweepNoShows:
            return .accepted(sweepNoShows())
        case .dispatch(let request):
            let id = Self.fresh(&nextTransfer, "T")
            return outcome(
                Transfers.decide(
                    dispatch: request, transferId: id, nowMs: nowMs, locations: locations, positions: state.effective(atMs: nowMs)))
        case .receive(let id, let lines):
            let transfer = state.transfers[id]!
            // A receipt is decided on the positions as stored, as the store does.
            return outcome(
                Transfers.decide(
                    receive: transfer, received: lines.map { ($0.sku, $0.quantity) }, order: transfer.orderId.flatMap { state.orders[$0] },
                    nowMs: nowMs, positions: state.positions))
        case .advance:
            return .accepted([])
        }
    }

    /// Appends accepted events to the ledger and folds them; returns why one would trap, if one would.
    mutating func apply(_ step: Step, _ newEvents: [LedgerEvent]) -> String? {
        for event in newEvents {
            if let trap = state.trap(event) { return trap }
            state.fold(event)
            events.append(event)
            _ = live.apply(event, at: Int64(events.count))
        }
        if case .advance(let milliseconds) = step { nowMs += milliseconds }
        return nil
    }

    private func decideCount(_ count: Count) -> Result<[LedgerEvent], Rejections> {
        let here = state.positions.filter { $0.key.locationId == count.locationId }
        let known = Set(here.keys).union(state.onHandChanges.keys.filter { $0.locationId == count.locationId })
        var asOf: [String: Int64] = [:]
        for key in known where state.onHandChanges[key] != nil { asOf[key.sku] = state.onHand(key, asOfMs: count.countedAtMs) }
        return StockLedger.decide(
            count: count, onHandAtCount: asOf, positions: Dictionary(uniqueKeysWithValues: here.map { ($0.key.sku, $0.value) }),
            locationExists: locations[count.locationId] != nil, nowMs: nowMs)
    }

    private func sweepNoShows() -> [LedgerEvent] {
        var swept: [LedgerEvent] = []
        for order in state.orders.values.sorted(by: { $0.id < $1.id }) where order.status == .ready {
            guard let due = order.pickupExpiresAtMs, nowMs >= due else { continue }
            if case .success(let decision) = Orders.decide(
                .expire, order: order, nowMs: nowMs, positions: state.effective(atMs: nowMs), locations: locations)
            {
                swept += decision.events
            }
        }
        return swept
    }

    private func sourcingInput() -> SourcingInput {
        SourcingInput(
            locations: locations, positions: state.effective(atMs: nowMs), ordersToday: state.assignments[Orders.day(ofMs: nowMs)] ?? [:])
    }

    /// Fresh transfer ids, one per location sourcing may use; the next step starts after them.
    private mutating func transferIds() -> [String] {
        (0..<locations.count).map { _ in Self.fresh(&nextTransfer, "T") }
    }

    private static func fresh(_ counter: inout Int, _ prefix: String) -> String {
        defer { counter += 1 }
        return "\(prefix)\(counter)"
    }

    private func outcome(_ result: Result<[LedgerEvent], Rejections>) -> Outcome {
        switch result {
        case .success(let events): .accepted(events)
        case .failure(let rejections): .refused(rejections)
        }
    }
}
