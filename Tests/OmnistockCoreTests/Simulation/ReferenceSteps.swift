import OmnistockCore

/// The model of the store's work on an order, and of transfers.
extension ReferenceModel {
    mutating func orderStep(_ id: String, _ action: OrderAction, _ outcome: Outcome, nowMs: Int64) -> [String] {
        let order = orders[id]!
        let open: Set<OrderStatus> = [.allocated, .picking]
        switch action {
        case .picking:
            let expectation: Expectation =
                order.status == .picking ? .acceptNothing : order.status == .allocated ? .accept : .refuse(["invalid-transition"])
            return judged(expectation, outcome) { $0.orders[id]!.status = .picking }
        case .ready:
            return ready(order, outcome, nowMs: nowMs)
        case .collect(let matches):
            return collect(order, matches: matches, outcome, nowMs: nowMs)
        case .unlock:
            let expectation: Expectation =
                order.status != .ready ? .refuse(["invalid-transition"]) : order.locked || order.wrongCodes > 0 ? .accept : .acceptNothing
            return judged(expectation, outcome) {
                $0.orders[id]!.locked = false
                $0.orders[id]!.wrongCodes = 0
            }
        case .ship(let lineIds, let carrier, let tracking):
            var faults = Set<String>()
            if order.store != nil || !open.contains(order.status) { faults.insert("invalid-transition") }
            if !Self.isText(carrier) || !Self.isText(tracking) { faults.formUnion(Self.textFaults) }
            if lineIds.isEmpty { faults.insert("missing-field") }
            if Set(lineIds).count != lineIds.count { faults.insert("duplicate") }
            for lineId in lineIds {
                guard let line = order.lines.first(where: { $0.id == lineId }) else {
                    faults.insert("unknown-order-line")
                    continue
                }
                if line.status != .allocated { faults.insert("invalid-transition") }
            }
            return judged(faults.isEmpty ? .accept : .refuse(faults), outcome) { model in
                for line in model.endLines(id, [.allocated], as: .shipped, only: Set(lineIds)) {
                    model.remove(StockKey(sku: line.sku, locationId: line.locationId), line.quantity, atMs: nowMs)
                }
                model.orders[id]!.status = .picking
                Self.settle(&model.orders[id]!)
            }
        case .cancel(let reason):
            var faults = Set<String>()
            if ![.allocated, .picking, .ready].contains(order.status) || order.lines.contains(where: { $0.status == .shipped }) {
                faults.insert("invalid-transition")
            }
            if let reason, !Self.isText(reason) { faults.formUnion(Self.textFaults) }
            return judged(faults.isEmpty ? .accept : .refuse(faults), outcome) { model in
                model.endLines(id, [.allocated, .inTransit], as: .cancelled)
                model.orders[id]!.status = .cancelled
            }
        case .notFound(let lineId):
            return notFound(order, lineId: lineId, outcome, nowMs: nowMs)
        case .returned(let locationId, let lines):
            return returned(order, locationId: locationId, lines: lines, outcome, nowMs: nowMs)
        case .expire:
            return ["the simulation expires orders by the sweep only"]
        }
    }

    /// Compares, then books a step whose effect the model knows in full.
    private mutating func judged(_ expectation: Expectation, _ outcome: Outcome, _ book: (inout ReferenceModel) -> Void) -> [String] {
        if let disagreement = expectation.disagreement(with: outcome) { return [disagreement] }
        if case .accept = expectation { book(&self) }
        return []
    }

    /// A pickup is ready once nothing is on its way to the store; it waits the store's
    /// pickup window.
    private mutating func ready(_ order: RefOrder, _ outcome: Outcome, nowMs: Int64) -> [String] {
        let expectation: Expectation
        if order.store == nil || ![.allocated, .picking, .ready].contains(order.status) {
            expectation = .refuse(["invalid-transition"])
        } else if order.status == .ready {
            expectation = .acceptNothing
        } else if order.lines.contains(where: { $0.status == .inTransit }) {
            expectation = .refuse(["lines-in-transit"])
        } else {
            expectation = .accept
        }
        let window = order.store.flatMap { Self.site($0)?.location.pickupWindowDays } ?? Limits.pickupWindowDaysDefault
        return judged(expectation, outcome) { model in
            model.orders[order.id]!.status = .ready
            model.orders[order.id]!.pickupExpiresAtMs = nowMs + window * Self.day
        }
    }

    /// The right code hands every allocated line over; a wrong one counts, and enough of them
    /// lock the order until it is unlocked.
    private mutating func collect(_ order: RefOrder, matches: Bool, _ outcome: Outcome, nowMs: Int64) -> [String] {
        let id = order.id
        guard order.status == .ready else { return judged(.refuse(["invalid-transition"]), outcome) { _ in } }
        guard !order.locked else { return judged(.refuse(["pickup-locked"]), outcome) { _ in } }
        guard matches else {
            if let disagreement = Expectation.recordAndRefuse("pickup-code-wrong").disagreement(with: outcome) { return [disagreement] }
            orders[id]!.wrongCodes += 1
            orders[id]!.locked = orders[id]!.wrongCodes >= Limits.pickupCodeAttemptsMax
            return []
        }
        return judged(.accept, outcome) { model in
            for line in model.endLines(id, [.allocated], as: .collected) {
                model.remove(StockKey(sku: line.sku, locationId: line.locationId), line.quantity, atMs: nowMs)
            }
            model.orders[id]!.status = .collected
        }
    }

    /// A line not on the shelf is lost there, and served again from elsewhere (never from where
    /// the SKU was already not found for this order), or cancelled when nowhere can.
    private mutating func notFound(_ order: RefOrder, lineId: String, _ outcome: Outcome, nowMs: Int64) -> [String] {
        var faults = Set<String>()
        let line = order.lines.first { $0.id == lineId }
        if line == nil { faults.insert("unknown-order-line") }
        if ![.allocated, .picking].contains(order.status) || (line.map { $0.status != .allocated } ?? false) { faults.insert("invalid-transition") }
        if let disagreement = (faults.isEmpty ? Expectation.accept : .refuse(faults)).disagreement(with: outcome) { return [disagreement] }
        guard faults.isEmpty, let line, case .order(let recorded) = outcome.events.first(where: { if case .order = $0 { true } else { false } })
        else { return [] }
        let excluded = Set(order.lines.filter { $0.sku == line.sku && ($0.status == .notFound || $0.id == lineId) }.map(\.locationId))
        let sources = self.sources(for: order.fulfilment, demand: [line.sku: line.quantity], nowMs: nowMs, excluding: excluded, taken: [:])
        let resourced = sources.supply[line.sku]! >= line.quantity
        let added = recorded.order.lines.filter { $0.replaces == lineId }
        var complaints: [String] = []
        if resourced == added.isEmpty {
            complaints.append(
                resourced
                    ? "line \(lineId) was cancelled though \(sources.supply[line.sku]!) could serve it"
                    : "line \(lineId) was served again from nowhere that has it")
        }
        let before = Set(order.lines.map(\.locationId))
        endLines(order.id, [.allocated], as: resourced ? .notFound : .cancelled, only: [lineId])
        if resourced {
            complaints += bookSourced(added, sources, order: order, events: outcome.events, nowMs: nowMs)
            orders[order.id]!.lines += added.map(Self.refLine)
            assign(Set(added.map(\.locationId)).subtracting(before), nowMs: nowMs)
        }
        remove(StockKey(sku: line.sku, locationId: line.locationId), line.quantity, atMs: nowMs)
        Self.settle(&orders[order.id]!)
        return complaints
    }

    /// Goods handed over come back at any active location: restocked there, or set aside as
    /// damaged; never more of a SKU than was handed over and not yet returned.
    private mutating func returned(_ order: RefOrder, locationId: String, lines: [ReturnLine], _ outcome: Outcome, nowMs: Int64) -> [String] {
        var faults = Set<String>()
        if !order.lines.contains(where: { $0.status == .collected || $0.status == .shipped }) { faults.insert("invalid-transition") }
        if !Self.isIdentifier(locationId) {
            faults.insert("invalid-identifier")
        } else if let site = Self.site(locationId) {
            if !site.location.active { faults.insert("location-inactive") }
        } else {
            faults.insert("unknown-location")
        }
        if lines.isEmpty { faults.insert("missing-field") }
        var asked: [String: Int64] = [:]
        for line in lines {
            if !Self.isIdentifier(line.sku) { faults.insert("invalid-identifier") }
            let left = order.lines.filter { $0.sku == line.sku }.reduce(Int64(0)) { $0 + $1.returnable } - (asked[line.sku] ?? 0)
            if line.quantity < 1 || line.quantity > left { faults.insert("out-of-range") } else { asked[line.sku, default: 0] += line.quantity }
        }
        return judged(faults.isEmpty ? .accept : .refuse(faults), outcome) { model in
            for line in lines {
                var left = line.quantity
                for index in model.orders[order.id]!.lines.indices where left > 0 && model.orders[order.id]!.lines[index].sku == line.sku {
                    let take = min(left, model.orders[order.id]!.lines[index].returnable)
                    model.orders[order.id]!.lines[index].returned += take
                    left -= take
                }
                if line.restock { model.changeOnHand(StockKey(sku: line.sku, locationId: locationId), by: line.quantity, atMs: nowMs) }
            }
        }
    }

    // MARK: Transfers

    /// Stock sent between two active locations leaves the source now (never more than it has
    /// free) and is incoming at the destination until received.
    mutating func dispatch(_ request: TransferRequest, _ outcome: Outcome, nowMs: Int64) -> [String] {
        var faults = Set<String>()
        if !Self.isIdentifier(request.fromLocationId) || !Self.isIdentifier(request.toLocationId) { faults.insert("invalid-identifier") }
        if request.fromLocationId == request.toLocationId { faults.insert("not-allowed") }
        if request.lines.isEmpty { faults.insert("missing-field") }
        if Set(request.lines.map(\.sku)).count != request.lines.count { faults.insert("duplicate") }
        for line in request.lines {
            if !Self.isIdentifier(line.sku) { faults.insert("invalid-identifier") }
            if !(1...Limits.stockQuantityMax).contains(line.quantity) { faults.insert("out-of-range") }
        }
        if faults.isEmpty {
            for id in [request.fromLocationId, request.toLocationId] {
                guard let site = Self.site(id) else {
                    faults.insert("unknown-location")
                    continue
                }
                if !site.location.active { faults.insert("location-inactive") }
            }
        }
        if faults.isEmpty {
            for line in request.lines where available(StockKey(sku: line.sku, locationId: request.fromLocationId), nowMs: nowMs) < line.quantity {
                faults.insert("insufficient-stock")
            }
        }
        if let disagreement = (faults.isEmpty ? Expectation.accept : .refuse(faults)).disagreement(with: outcome) { return [disagreement] }
        guard faults.isEmpty, case .transfer(let recorded) = outcome.events.last else { return [] }
        var sent: [String: Int64] = [:]
        for line in request.lines {
            sent[line.sku] = line.quantity
            changeOnHand(StockKey(sku: line.sku, locationId: request.fromLocationId), by: -line.quantity, atMs: nowMs)
            touch(StockKey(sku: line.sku, locationId: request.toLocationId)) { $0.incoming += line.quantity }
        }
        let id = recorded.transfer.id
        transfers[id] = RefTransfer(id: id, from: request.fromLocationId, to: request.toLocationId, sent: sent, orderId: nil)
        return []
    }

    /// What arrived joins the destination's stock and stops being incoming; the rest is lost.
    /// Lines of the pickup order the transfer serves are allocated at the store when they
    /// arrived whole, and cancelled when they did not.
    mutating func receive(_ id: String, _ lines: [ReceivedLine], _ outcome: Outcome, nowMs: Int64) -> [String] {
        let transfer = transfers[id]!
        var faults = Set<String>()
        if transfer.received { faults.insert("invalid-transition") }
        if Set(lines.map(\.sku)).count != lines.count { faults.insert("duplicate") }
        for line in lines {
            if !Self.isIdentifier(line.sku) { faults.insert("invalid-identifier") }
            if line.quantity < 0 || line.quantity > (transfer.sent[line.sku] ?? 0) { faults.insert("out-of-range") }
            if transfer.sent[line.sku] == nil { faults.insert("not-allowed") }
        }
        return judged(faults.isEmpty ? .accept : .refuse(faults), outcome) { model in
            model.transfers[id]!.received = true
            var arrived: [String: Int64] = [:]
            for line in lines { arrived[line.sku, default: 0] += line.quantity }
            for (sku, quantity) in transfer.sent.sorted(by: { $0.key < $1.key }) {
                let key = StockKey(sku: sku, locationId: transfer.to)
                model.touch(key) { $0.incoming -= quantity }
                if let got = arrived[sku], got > 0 { model.changeOnHand(key, by: got, atMs: nowMs) }
            }
            guard let orderId = transfer.orderId, model.orders[orderId]!.lines.contains(where: { $0.transferId == id && $0.status == .inTransit })
            else { return }
            for index in model.orders[orderId]!.lines.indices {
                let line = model.orders[orderId]!.lines[index]
                guard line.transferId == id, line.status == .inTransit else { continue }
                if arrived[line.sku, default: 0] >= line.quantity {
                    arrived[line.sku]! -= line.quantity
                    model.orders[orderId]!.lines[index].status = .allocated
                    model.orders[orderId]!.lines[index].locationId = transfer.to
                    model.touch(StockKey(sku: line.sku, locationId: transfer.to)) { $0.allocated += line.quantity }
                } else {
                    model.orders[orderId]!.lines[index].status = .cancelled
                }
            }
            Self.settle(&model.orders[orderId]!)
        }
    }
}
