import OmnistockCore

/// The model of the inventory ledger: movements, counts and safety stock.
extension ReferenceModel {
    /// The faults of a movement line on its own.
    static func faults(of line: MovementLine, nowMs: Int64) -> Set<String> {
        var faults = Set<String>()
        if !isIdentifier(line.sku) || !isIdentifier(line.locationId) { faults.insert("invalid-identifier") }
        let bound = Limits.stockQuantityMax
        let inRange =
            line.kind == .adjustment ? line.quantity != 0 && line.quantity >= -bound && line.quantity <= bound : (1...bound).contains(line.quantity)
        if !inRange { faults.insert("out-of-range") }
        switch line.kind {
        case .fulfilment, .transferOut, .transferIn, .customerReturn: faults.insert("not-allowed")
        case .receipt, .adjustment, .sale, .damage, .returnToVendor, .loss: break
        }
        if let reason = line.reason, !isIdentifier(reason) { faults.insert("invalid-identifier") }
        if let at = line.occurredAtMs, at > nowMs + 5 * minute || at < nowMs - 90 * day { faults.insert("count-time-out-of-range") }
        if faults.isEmpty && site(line.locationId) == nil { faults.insert("unknown-location") }
        return faults
    }

    /// The signed change a line means: receipts add, adjustments carry their sign, the rest remove.
    func delta(of line: MovementLine) -> Int64 {
        switch line.kind {
        case .receipt: faultyReceipts ? line.quantity + 1 : line.quantity
        case .adjustment: line.quantity
        case .sale, .damage, .returnToVendor, .loss, .fulfilment, .transferOut: -line.quantity
        case .transferIn, .customerReturn: line.quantity
        }
    }

    /// All or nothing; lines for one position count together. A movement that happened before
    /// the position's latest count was already seen by it: recorded, and on-hand is unchanged.
    mutating func move(_ lines: [MovementLine], _ outcome: Outcome, nowMs: Int64) -> [String] {
        var faults = lines.isEmpty ? ["missing-field"] : Set<String>()
        for line in lines { faults.formUnion(Self.faults(of: line, nowMs: nowMs)) }
        var next = self
        if faults.isEmpty {
            for line in lines {
                let key = StockKey(sku: line.sku, locationId: line.locationId)
                let before = next.position(key)
                let delta = delta(of: line)
                let at = line.occurredAtMs ?? nowMs
                if let countedAt = before.lastCountedAtMs, at < countedAt {
                    guard before.onHand + delta.magnitudeInt64 <= Limits.stockQuantityMax else {
                        faults.insert("out-of-range")
                        continue
                    }
                    next.changeOnHand(key, by: delta, atMs: at)
                    next.changeOnHand(key, by: -delta, atMs: countedAt)
                    continue
                }
                let after = before.onHand + delta
                if after < 0 {
                    faults.insert("insufficient-on-hand")
                } else if after > Limits.stockQuantityMax {
                    faults.insert("out-of-range")
                } else {
                    next.changeOnHand(key, by: delta, atMs: at)
                }
            }
        }
        if let disagreement = (faults.isEmpty ? Expectation.accept : .refuse(faults)).disagreement(with: outcome) { return [disagreement] }
        if faults.isEmpty { self = next }
        return []
    }

    /// A count says how many there were at its time: the difference against what the model
    /// knew at that time is applied now (movements since survive), never below zero on hand.
    /// A full count counts every SKU the location has or had and the count does not list as zero.
    mutating func countStock(_ count: Count, _ outcome: Outcome, nowMs: Int64) -> [String] {
        var faults = Set<String>()
        if !Self.isIdentifier(count.locationId) {
            faults.insert("invalid-identifier")
        } else if Self.site(count.locationId) == nil {
            faults.insert("unknown-location")
        }
        if count.countedAtMs > nowMs + 5 * Self.minute || count.countedAtMs < nowMs - 90 * Self.day { faults.insert("count-time-out-of-range") }
        if count.lines.isEmpty && !count.full { faults.insert("missing-field") }
        var seen = Set<String>()
        for line in count.lines {
            if !Self.isIdentifier(line.sku) { faults.insert("invalid-identifier") }
            if !(0...Limits.stockQuantityMax).contains(line.quantity) { faults.insert("out-of-range") }
            if !seen.insert(line.sku).inserted { faults.insert("duplicate") }
        }
        if let disagreement = (faults.isEmpty ? Expectation.accept : .refuse(faults)).disagreement(with: outcome) { return [disagreement] }
        guard faults.isEmpty else { return [] }
        var counted = count.lines
        if count.full {
            let known = Set(positions.keys).union(history.keys).filter { $0.locationId == count.locationId }.map(\.sku)
            counted += Set(known).subtracting(seen).sorted().map { CountLine(sku: $0, quantity: 0) }
        }
        for line in counted {
            let key = StockKey(sku: line.sku, locationId: count.locationId)
            let knownThen = (history[key] ?? []).filter { $0.atMs <= count.countedAtMs }.reduce(Int64(0)) { $0 + $1.delta }
            let applied = max(line.quantity - knownThen, -position(key).onHand)
            changeOnHand(key, by: applied, atMs: count.countedAtMs)
            touch(key) { $0.lastCountedAtMs = max($0.lastCountedAtMs ?? count.countedAtMs, count.countedAtMs) }
        }
        return []
    }

    mutating func safetyStock(_ key: StockKey, _ quantity: Int64?, _ outcome: Outcome) -> [String] {
        var faults = Set<String>()
        if !Self.isIdentifier(key.sku) { faults.insert("invalid-identifier") }
        if !Self.isIdentifier(key.locationId) {
            faults.insert("invalid-identifier")
        } else if Self.site(key.locationId) == nil {
            faults.insert("unknown-location")
        }
        if let quantity, !(0...Limits.stockQuantityMax).contains(quantity) { faults.insert("out-of-range") }
        if let disagreement = (faults.isEmpty ? Expectation.accept : .refuse(faults)).disagreement(with: outcome) { return [disagreement] }
        if faults.isEmpty { touch(key) { $0.safetyStock = quantity } }
        return []
    }
}

extension Int64 {
    /// The magnitude as a signed value (the simulation's quantities are far from Int64.min).
    var magnitudeInt64: Int64 { self < 0 ? -self : self }
}
