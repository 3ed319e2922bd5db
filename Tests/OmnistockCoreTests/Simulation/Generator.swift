import OmnistockCore

/// Draws random steps, often with invalid arguments, so that refusals are exercised as much as
/// acceptances. It reads the model only to aim at entities that exist.
struct Generator {
    var random: SplitMix64
    /// Ids in creation order (dictionaries have no stable order across runs).
    var holdIds: [String] = []
    var orderIds: [String] = []
    var transferIds: [String] = []
    private var orderNumber = 0

    init(seed: UInt64) { random = SplitMix64(seed: seed) }

    mutating func step(_ model: ReferenceModel, nowMs: Int64) -> Step {
        let roll = random.below(100)
        switch roll {
        case 0..<14: return .move(movementLines(nowMs: nowMs))
        case 14..<18: return .count(count(nowMs: nowMs))
        case 18..<20: return .safetyStock(key(), quantity: random.chance(30) ? nil : random.chance(95) ? random.int(0...3) : -1)
        case 20..<35: return .placeHold(holdRequest())
        case 35..<39: if let id = live(holdIds, { model.holds[$0]!.status == .active }) { return .extendHold(holdId: id, ttlSeconds: ttl()) }
        case 39..<43: if let id = live(holdIds, { model.holds[$0]!.status == .active }) { return .releaseHold(holdId: id) }
        case 43..<45: return .sweepHolds
        case 45..<53: if let id = live(holdIds, { model.holds[$0]!.status == .active }) { return convert(model.holds[id]!, model) }
        case 53..<59: return .createOrder(orderRequest())
        case 59..<80: if let id = live(orderIds, { model.orders[$0]!.status.isOpen }) { return .orderStep(orderId: id, action(model.orders[id]!)) }
        case 80..<82: return .sweepNoShows
        case 82..<87: return .dispatch(transferRequest())
        case 87..<91:
            if let id = live(transferIds, { !model.transfers[$0]!.received }) {
                return .receive(transferId: id, lines: received(model.transfers[id]!))
            }
        default: break
        }
        return .advance(milliseconds: advance())
    }

    /// Mostly one of the latest entities still open, otherwise any recent one.
    private mutating func live(_ ids: [String], _ isOpen: (String) -> Bool) -> String? {
        let open = ids.suffix(40).filter(isOpen)
        return !open.isEmpty && random.chance(75) ? random.pick(open) : recent(ids)
    }

    /// Mostly one of the latest entities (the ones with work left), sometimes any.
    private mutating func recent(_ ids: [String]) -> String? {
        guard !ids.isEmpty else { return nil }
        return random.chance(80) ? ids[ids.count - 1 - random.below(min(ids.count, 12))] : random.pick(ids)
    }

    /// Minutes mostly, hours sometimes, days now and then (pickup windows are days).
    private mutating func advance() -> Int64 {
        switch random.below(100) {
        case 0..<60: random.int(1...15) * 60_000
        case 60..<92: random.int(1...6) * 3_600_000
        default: random.int(1...3) * 86_400_000
        }
    }

    private mutating func sku() -> String { random.chance(4) ? Estate.badIdentifier : random.pick(Estate.skus) }

    private mutating func location() -> String {
        switch random.below(100) {
        case 0..<4: Estate.unknownLocation
        case 4..<6: Estate.badIdentifier
        default: random.pick(Estate.locationIds)
        }
    }

    private mutating func key() -> StockKey { StockKey(sku: sku(), locationId: location()) }

    private mutating func quantity(_ range: ClosedRange<Int64>) -> Int64 {
        switch random.below(100) {
        case 0..<2: 0
        case 2..<3: Limits.stockQuantityMax + 1
        default: random.int(range)
        }
    }

    private mutating func movementLines(nowMs: Int64) -> [MovementLine] {
        (0..<random.below(3) + (random.chance(2) ? 0 : 1)).map { _ in
            let kind: MovementKind =
                switch random.below(100) {
                case 0..<45: .receipt
                case 45..<60: .adjustment
                case 60..<75: .sale
                case 75..<81: .damage
                case 81..<84: .returnToVendor
                case 84..<90: .loss
                default: random.pick(MovementKind.allCases)
                }
            var quantity = quantity(kind == .receipt ? 1...30 : 1...6)
            if kind == .adjustment, random.chance(50) { quantity = -quantity }
            var occurredAtMs: Int64?
            switch random.below(100) {
            case 0..<10: occurredAtMs = nowMs - random.int(1...7_200_000)
            case 10..<12: occurredAtMs = nowMs + 600_000
            case 12..<13: occurredAtMs = nowMs - 100 * 86_400_000
            default: break
            }
            return MovementLine(
                sku: sku(), locationId: location(), kind: kind, quantity: quantity, reason: random.chance(3) ? Estate.badIdentifier : nil,
                occurredAtMs: occurredAtMs)
        }
    }

    private mutating func count(nowMs: Int64) -> Count {
        let countedAtMs: Int64 =
            switch random.below(100) {
            case 0..<70: nowMs - random.int(0...7_200_000)
            case 70..<82: nowMs - random.int(0...864_000_000)
            case 82..<92: nowMs + random.int(0...240_000)
            case 92..<96: nowMs + 600_000
            default: nowMs - 100 * 86_400_000
            }
        var lines = random.subset(Estate.skus, atMost: 3).map { CountLine(sku: $0, quantity: random.chance(3) ? -1 : random.int(0...20)) }
        if random.chance(5), let first = lines.first { lines.append(first) }
        if random.chance(3) { lines.append(CountLine(sku: Estate.badIdentifier, quantity: 1)) }
        return Count(locationId: location(), countedAtMs: countedAtMs, full: random.chance(20), lines: lines)
    }

    private mutating func ttl() -> Int64 {
        switch random.below(100) {
        case 0..<80: random.int(1...1_800)
        case 80..<90: random.int(1_801...86_400)
        case 90..<95: 0
        default: 100_000
        }
    }

    private mutating func destination() -> Fulfilment {
        let point = random.pick(Estate.destinations)
        return .ship(latitude: point.latitude, longitude: point.longitude)
    }

    private mutating func holdRequest() -> HoldRequest {
        let count = random.chance(3) ? 0 : random.below(3) + 1
        var lines = (0..<count).map { _ in RequestedLine(sku: sku(), quantity: random.chance(3) ? random.pick([0, 2_000_000]) : random.int(1...5)) }
        var fulfilment: Fulfilment?
        switch random.below(100) {
        case 0..<40: fulfilment = .pickup(locationId: location())
        case 40..<70: for index in lines.indices { lines[index].locationId = location() }
        case 70..<96: fulfilment = destination()
        default:
            // Both a location and a fulfilment, or neither.
            if random.chance(50) { fulfilment = .pickup(locationId: "S1") }
            if let first = lines.indices.first, fulfilment != nil { lines[first].locationId = "S1" }
        }
        return HoldRequest(lines: lines, fulfilment: fulfilment, ttlSeconds: ttl(), allowPartial: random.chance(25))
    }

    private mutating func nextNumber() -> String {
        orderNumber += 1
        return random.chance(3) ? Estate.badIdentifier : "N\(orderNumber)"
    }

    /// A conversion with the hold's own fulfilment, none, or another one.
    private mutating func convert(_ hold: RefHold, _ model: ReferenceModel) -> Step {
        var asked: Fulfilment?
        switch random.below(100) {
        case 0..<45: asked = nil
        case 45..<75: asked = hold.fulfilment
        default: asked = random.chance(50) ? .pickup(locationId: random.pick(Estate.locationIds)) : destination()
        }
        // A known defect (KnownIssues.conversionIgnoresCapabilities) is not asked for while it lasts.
        if KnownIssues.conversionIgnoresCapabilities, case .fulfilment(let fulfilment) = model.conversionFulfilment(hold, asked: asked),
            model.capabilityFault(hold, fulfilment) != nil
        {
            asked = hold.fulfilment
        }
        return .convertHold(holdId: hold.id, orderNumber: nextNumber(), fulfilment: asked)
    }

    private mutating func orderRequest() -> OrderRequest {
        let count = random.chance(3) ? 0 : random.below(3) + 1
        let lines = (0..<count).map { _ in
            RequestedLine(sku: sku(), quantity: random.chance(3) ? 0 : random.int(1...4), locationId: random.chance(12) ? location() : nil)
        }
        let fulfilment: Fulfilment? =
            switch random.below(100) {
            case 0..<55: .pickup(locationId: location())
            case 55..<97: destination()
            default: nil
            }
        return OrderRequest(orderNumber: nextNumber(), lines: lines, fulfilment: fulfilment)
    }

    /// A step that fits the order most of the time, and any step otherwise.
    private mutating func action(_ order: RefOrder) -> OrderAction {
        let roll = random.below(100)
        switch (order.status, order.store != nil) {
        case (.allocated, true), (.picking, true):
            if roll < 30 { return .picking }
            if roll < 65 { return .ready }
            if roll < 75 { return .notFound(lineId: lineId(order)) }
            if roll < 85 { return .cancel(reason: reason()) }
        case (.ready, _):
            if roll < 55 { return .collect(codeMatches: random.chance(70)) }
            if roll < 65 { return .unlock }
            if roll < 75 { return .cancel(reason: reason()) }
        case (.allocated, false), (.picking, false):
            if roll < 50 { return ship(order) }
            if roll < 65 { return .notFound(lineId: lineId(order)) }
            if roll < 75 { return .cancel(reason: reason()) }
            if roll < 85 { return .picking }
        case (.collected, _), (.shipped, _):
            if roll < 60 { return returned(order) }
        case (.cancelled, _), (.expired, _):
            break
        }
        switch random.below(8) {
        case 0: return .picking
        case 1: return .ready
        case 2: return .collect(codeMatches: random.chance(50))
        case 3: return .unlock
        case 4: return ship(order)
        case 5: return .cancel(reason: reason())
        case 6: return .notFound(lineId: lineId(order))
        default: return returned(order)
        }
    }

    private mutating func reason() -> String? {
        switch random.below(100) {
        case 0..<60: nil
        case 60..<95: "customer"
        default: " "
        }
    }

    private mutating func lineId(_ order: RefOrder) -> String {
        let allocated = order.lines.filter { $0.status == .allocated }.map(\.id)
        if !allocated.isEmpty, random.chance(80) { return random.pick(allocated) }
        return random.chance(80) && !order.lines.isEmpty ? random.pick(order.lines).id : "99"
    }

    private mutating func ship(_ order: RefOrder) -> OrderAction {
        let allocated = order.lines.filter { $0.status == .allocated }.map(\.id)
        var ids = random.chance(50) ? allocated : random.subset(allocated, atMost: allocated.count)
        switch random.below(100) {
        case 0..<8: ids = []
        case 8..<14: ids.append("99")
        case 14..<20: ids += ids.prefix(1)
        case 20..<26: ids = order.lines.map(\.id)
        default: if ids.isEmpty { ids = allocated }
        }
        return .ship(lineIds: ids, carrier: random.chance(4) ? "" : "DHL", tracking: "TRK-\(random.below(1_000))")
    }

    private mutating func returned(_ order: RefOrder) -> OrderAction {
        let handed = order.lines.filter { $0.returnable > 0 }
        let lines = (0..<random.below(2) + 1).map { _ -> ReturnLine in
            guard let line = handed.isEmpty ? nil : random.pick(handed) else { return ReturnLine(sku: sku(), quantity: 1, restock: true) }
            return ReturnLine(sku: random.chance(5) ? sku() : line.sku, quantity: random.int(0...line.returnable + 1), restock: random.chance(70))
        }
        return .returned(locationId: location(), lines: random.chance(3) ? [] : lines)
    }

    private mutating func transferRequest() -> TransferRequest {
        var lines = random.subset(Estate.skus, atMost: 2).map { TransferLine(sku: $0, quantity: quantity(1...5)) }
        if lines.isEmpty, random.chance(80) { lines = [TransferLine(sku: sku(), quantity: quantity(1...5))] }
        if random.chance(4), let first = lines.first { lines.append(first) }
        let from = location()
        return TransferRequest(fromLocationId: from, toLocationId: random.chance(5) ? from : location(), lines: lines)
    }

    /// What arrived: mostly what was sent, sometimes less, nothing, or something not sent.
    private mutating func received(_ transfer: RefTransfer) -> [ReceivedLine] {
        var lines: [ReceivedLine] = []
        for (sku, sent) in transfer.sent.sorted(by: { $0.key < $1.key }) {
            switch random.below(100) {
            case 0..<65: lines.append(ReceivedLine(sku: sku, quantity: sent))
            case 65..<85: lines.append(ReceivedLine(sku: sku, quantity: random.int(0...sent)))
            case 85..<93: break
            case 93..<97: lines.append(ReceivedLine(sku: sku, quantity: sent + 1))
            default: lines.append(ReceivedLine(sku: sku, quantity: -1))
            }
        }
        if random.chance(4) { lines.append(ReceivedLine(sku: random.pick(Estate.skus + [Estate.badIdentifier]), quantity: 1)) }
        return lines
    }
}
