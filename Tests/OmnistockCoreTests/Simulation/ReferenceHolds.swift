import OmnistockCore

/// The model of checkout holds: placed against what is available, all or nothing unless
/// partial; extended within their lifetime; released; expired exactly at their expiry.
extension ReferenceModel {
    /// The faults of a hold request that need no stock to see.
    static func requestFaults(_ request: HoldRequest) -> Set<String> {
        var faults = Set<String>()
        if request.lines.isEmpty { faults.insert("missing-field") }
        if request.lines.count > Limits.holdLinesMax { faults.insert("too-many") }
        for line in request.lines {
            if !isIdentifier(line.sku) { faults.insert("invalid-identifier") }
            if !(1...Limits.holdLineQuantityMax).contains(line.quantity) { faults.insert("out-of-range") }
            switch (line.locationId, request.fulfilment) {
            case (nil, nil): faults.insert("missing-field")
            case (.some(let id), nil): if !isIdentifier(id) { faults.insert("invalid-identifier") }
            case (.some, .some): faults.insert("not-allowed")
            case (nil, .some): break
            }
        }
        switch request.fulfilment {
        case .pickup(let id): if !isIdentifier(id) { faults.insert("invalid-identifier") }
        case .ship(let latitude, let longitude): if abs(latitude) > 90 || abs(longitude) > 180 { faults.insert("out-of-range") }
        case nil: break
        }
        if !(Limits.holdTTLSecondsMin...Limits.holdTTLSecondsMax).contains(request.ttlSeconds) { faults.insert("out-of-range") }
        return faults
    }

    mutating func placeHold(_ request: HoldRequest, _ outcome: Outcome, nowMs: Int64) -> [String] {
        let faults = Self.requestFaults(request)
        if !faults.isEmpty { return Expectation.refuse(faults).disagreement(with: outcome).map { [$0] } ?? [] }
        if case .ship(let latitude, let longitude) = request.fulfilment {
            return placeShipped(request, region: Estate.region(latitude: latitude, longitude: longitude), outcome, nowMs: nowMs)
        }
        // Named lines and pickups: each line at its location, or at the pickup point.
        if let store = request.fulfilment?.pickupLocationId, let fault = Self.pickupFault(store) {
            return Expectation.refuse([fault]).disagreement(with: outcome).map { [$0] } ?? []
        }
        var locationFaults = Set<String>()
        for id in request.lines.compactMap(\.locationId) {
            if let site = Self.site(id) {
                if !site.location.active { locationFaults.insert("location-inactive") }
            } else {
                locationFaults.insert("unknown-location")
            }
        }
        if !locationFaults.isEmpty { return Expectation.refuse(locationFaults).disagreement(with: outcome).map { [$0] } ?? [] }
        let keyed = request.lines.map { StockKey(sku: $0.sku, locationId: $0.locationId ?? request.fulfilment!.pickupLocationId!) }
        var placed: [RefUnits] = []
        var unfilled: [Int] = []
        if request.allowPartial {
            var taken: [StockKey: Int64] = [:]
            for (index, line) in request.lines.enumerated() {
                let key = keyed[index]
                if available(key, nowMs: nowMs, extra: taken) >= line.quantity {
                    taken[key, default: 0] += line.quantity
                    placed.append(RefUnits(sku: line.sku, locationId: key.locationId, quantity: line.quantity))
                } else {
                    unfilled.append(index)
                }
            }
        } else {
            var demand: [StockKey: Int64] = [:]
            for (index, line) in request.lines.enumerated() { demand[keyed[index], default: 0] += line.quantity }
            if demand.contains(where: { $0.value > available($0.key, nowMs: nowMs) }) {
                unfilled = Array(request.lines.indices)
            } else {
                placed = request.lines.enumerated().map {
                    RefUnits(sku: $0.element.sku, locationId: keyed[$0.offset].locationId, quantity: $0.element.quantity)
                }
            }
        }
        let expectation: Expectation = placed.isEmpty ? .refuse(["insufficient-stock"]) : .accept
        if let disagreement = expectation.disagreement(with: outcome) { return [disagreement] }
        guard case .accepted(let events) = outcome, case .holdPlaced(let event) = events.first, events.count == 1 else { return [] }
        var complaints: [String] = []
        let lines = event.lines.map { RefUnits(sku: $0.sku, locationId: $0.locationId, quantity: $0.quantity) }
        if lines != placed { complaints.append("the hold holds \(lines), the model expected \(placed)") }
        if event.unfilled.map(\.line) != unfilled {
            complaints.append("unfilled lines \(event.unfilled.map(\.line)), the model expected \(unfilled)")
        }
        return complaints + book(event, request: request, nowMs: nowMs)
    }

    /// A shipped hold is sourced among the locations that may ship to the address; with
    /// enough of every SKU across them, it holds everything.
    private mutating func placeShipped(_ request: HoldRequest, region: Estate.Region?, _ outcome: Outcome, nowMs: Int64) -> [String] {
        let candidates = shippers(to: region, nowMs: nowMs, countCapacity: false)
        var demand: [String: Int64] = [:]
        for line in request.lines { demand[line.sku, default: 0] += line.quantity }
        func total(_ sku: String) -> Int64 { candidates.reduce(0) { $0 + available(StockKey(sku: sku, locationId: $1), nowMs: nowMs) } }
        let allFit = demand.allSatisfy { $0.value <= total($0.key) }
        let someFit = request.lines.contains { $0.quantity <= total($0.sku) }
        let expectation: Expectation = allFit || (request.allowPartial && someFit) ? .accept : .refuse(["insufficient-stock"])
        if let disagreement = expectation.disagreement(with: outcome) { return [disagreement] }
        guard case .accepted(let events) = outcome, case .holdPlaced(let event) = events.first, events.count == 1 else { return [] }
        var complaints: [String] = []
        var placed: [StockKey: Int64] = [:]
        var placedPerSku: [String: Int64] = [:]
        for line in event.lines {
            if !candidates.contains(line.locationId) { complaints.append("a shipped hold holds at \(line.locationId), which may not ship there") }
            placed[line.key, default: 0] += line.quantity
            placedPerSku[line.sku, default: 0] += line.quantity
        }
        for (key, quantity) in placed where quantity > available(key, nowMs: nowMs) {
            complaints.append("a shipped hold holds \(quantity) of \(key.sku)@\(key.locationId), where \(available(key, nowMs: nowMs)) are available")
        }
        var expected = demand
        for unfilled in event.unfilled { expected[request.lines[unfilled.line].sku, default: 0] -= request.lines[unfilled.line].quantity }
        if allFit && !event.unfilled.isEmpty { complaints.append("lines \(event.unfilled.map(\.line)) left unfilled with enough stock for all") }
        if expected.filter({ $0.value != 0 }) != placedPerSku { complaints.append("a shipped hold holds \(placedPerSku) per SKU for \(expected)") }
        return complaints + book(event, request: request, nowMs: nowMs)
    }

    private mutating func book(_ event: HoldPlaced, request: HoldRequest, nowMs: Int64) -> [String] {
        let lines = event.lines.map { RefUnits(sku: $0.sku, locationId: $0.locationId, quantity: $0.quantity) }
        holds[event.holdId] = RefHold(
            id: event.holdId, lines: lines, fulfilment: request.fulfilment, placedAtMs: nowMs, expiresAtMs: nowMs + request.ttlSeconds * 1000,
            status: .active)
        activeHolds.insert(event.holdId)
        for line in lines { touch(line.key) { $0.held += line.quantity } }
        return event.expiresAtMs == nowMs + request.ttlSeconds * 1000
            ? [] : ["the hold expires at \(event.expiresAtMs), not \(request.ttlSeconds) s from now"]
    }

    /// The status of a hold at a time: an active hold past its expiry has expired.
    func status(_ hold: RefHold, nowMs: Int64) -> HoldStatus {
        hold.status == .active && nowMs >= hold.expiresAtMs ? .expired : hold.status
    }

    mutating func end(_ id: String, as status: HoldStatus) {
        holds[id]!.status = status
        activeHolds.remove(id)
        for line in holds[id]!.lines { touch(line.key) { $0.held -= line.quantity } }
    }

    mutating func extendHold(_ id: String, _ ttl: Int64, _ outcome: Outcome, nowMs: Int64) -> [String] {
        let hold = holds[id]!
        let wanted = nowMs + ttl * 1000
        let expectation: Expectation
        if !(Limits.holdTTLSecondsMin...Limits.holdTTLSecondsMax).contains(ttl) {
            expectation = .refuse(["out-of-range"])
        } else if status(hold, nowMs: nowMs) != .active {
            expectation = .refuse(["hold-not-active"])
        } else if wanted > hold.placedAtMs + Limits.holdLifetimeSecondsMax * 1000 {
            // A hold lives a bounded time in all, so extensions cannot lock stock for ever.
            expectation = .refuse(["out-of-range"])
        } else {
            expectation = wanted > hold.expiresAtMs ? .accept : .acceptNothing
        }
        if let disagreement = expectation.disagreement(with: outcome) { return [disagreement] }
        if case .accept = expectation { holds[id]!.expiresAtMs = wanted }
        return []
    }

    /// Releasing is idempotent; a hold that has expired unrecorded is recorded as expired; a
    /// converted hold belongs to its order.
    mutating func releaseHold(_ id: String, _ outcome: Outcome, nowMs: Int64) -> [String] {
        let hold = holds[id]!
        let expectation: Expectation =
            switch (hold.status, status(hold, nowMs: nowMs)) {
            case (.converted, _): .refuse(["hold-not-active"])
            case (.active, _): .accept
            case (.released, _), (.expired, _): .acceptNothing
            }
        if let disagreement = expectation.disagreement(with: outcome) { return [disagreement] }
        guard hold.status == .active else { return [] }
        let ended: HoldStatus = status(hold, nowMs: nowMs) == .active ? .released : .expired
        let recorded = outcome.events.map(\.type)
        end(id, as: ended)
        return recorded == [ended == .released ? HoldReleased.type : HoldExpired.type] ? [] : ["a \(ended) hold recorded \(recorded)"]
    }

    mutating func sweepHolds(_ outcome: Outcome, nowMs: Int64) -> [String] {
        let due = activeHolds.filter { nowMs >= holds[$0]!.expiresAtMs }
        let expired = Set(outcome.events.compactMap(\.holdId))
        guard due == expired, outcome.events.allSatisfy({ $0.type == HoldExpired.type }) else {
            return ["the sweep expired \(expired.sorted()), the model expected \(due.sorted())"]
        }
        for id in due { end(id, as: .expired) }
        return []
    }
}
