/// The pure rules of the inventory ledger: movements, counts and safety stock decided against
/// the current positions, and the events that evolve them.
public enum StockLedger {
    /// Decides a movements request: every line is validated first, then applied in order to the
    /// positions as they stand, so two lines for one position count together. All or nothing:
    /// any fault refuses the whole request, with every faulty line named.
    public static func decide(
        movements lines: [MovementLine], positions: [StockKey: StockPosition], locations: Set<String>, nowMs: Int64
    ) -> Result<[LedgerEvent], Rejections> {
        let faults = validate(movements: lines, locations: locations, nowMs: nowMs)
        if !faults.isEmpty { return .failure(Rejections(faults)) }
        var lineFaults: [Rejection] = []
        var working = positions
        var events: [LedgerEvent] = []
        for (index, line) in lines.enumerated() {
            let key = line.key
            var position = working[key] ?? .empty
            let occurredAtMs = line.occurredAtMs ?? nowMs
            if let countedAtMs = position.lastCountedAtMs, occurredAtMs < countedAtMs {
                // A movement that occurred before the latest count but arrives after it (a POS
                // upload running late) was already seen by that count: it is recorded, and a
                // correction dated at the count takes it back out, so on-hand now is unchanged
                // and the position as of any time stays right. The positive change goes first,
                // so no intermediate balance is negative.
                let moved = StockMoved(
                    sku: line.sku, locationId: line.locationId, kind: line.kind, quantity: line.quantity,
                    onHandDelta: line.delta, onHandAfter: 0, reason: line.reason, reference: line.reference,
                    occurredAtMs: occurredAtMs)
                let correction = CountCorrected(
                    sku: line.sku, locationId: line.locationId, countedAtMs: countedAtMs, movementOccurredAtMs: occurredAtMs,
                    onHandDelta: -line.delta, onHandAfter: 0, occurredAtMs: countedAtMs)
                for event in line.delta > 0 ? [LedgerEvent.stockMoved(moved), .countCorrected(correction)] : [.countCorrected(correction), .stockMoved(moved)] {
                    let stamped = event.withOnHandAfter(position.onHand + event.onHandDelta)
                    guard stamped.onHandDelta + position.onHand <= Limits.stockQuantityMax else {
                        lineFaults.append(.inLine(path: "movements/\(index)", .outOfRange(field: "quantity", lower: "0", upper: "\(Limits.stockQuantityMax) on hand")))
                        break
                    }
                    position = evolve(position, stamped)
                    events.append(stamped)
                }
                working[key] = position
                continue
            }
            let onHandAfter = position.onHand + line.delta
            guard onHandAfter >= 0, onHandAfter <= Limits.stockQuantityMax else {
                let fault: Rejection =
                    onHandAfter < 0
                    ? .insufficientOnHand(sku: line.sku, locationId: line.locationId, onHand: position.onHand, requested: -line.delta)
                    : .outOfRange(field: "quantity", lower: "0", upper: "\(Limits.stockQuantityMax) on hand")
                lineFaults.append(.inLine(path: "movements/\(index)", fault))
                continue
            }
            let moved = LedgerEvent.stockMoved(StockMoved(
                sku: line.sku, locationId: line.locationId, kind: line.kind, quantity: line.quantity,
                onHandDelta: line.delta, onHandAfter: onHandAfter, reason: line.reason, reference: line.reference,
                occurredAtMs: occurredAtMs))
            let shortBefore = position.shortfall
            position = evolve(position, moved)
            events.append(moved)
            // A sale or a loss may leave less on hand than is promised: accepted (the goods are
            // gone), and said out loud so re-sourcing can start.
            if position.shortfall > shortBefore {
                events.append(short(key, position, occurredAtMs))
            }
            working[key] = position
        }
        if !lineFaults.isEmpty { return .failure(Rejections(lineFaults)) }
        return .success(events)
    }

    /// The faults of a movements request that do not depend on the positions: checked before
    /// any row is locked.
    public static func validate(movements lines: [MovementLine], locations: Set<String>, nowMs: Int64) -> [Rejection] {
        guard !lines.isEmpty else { return [.missingField(field: "movements")] }
        guard lines.count <= Limits.movementLinesMax else {
            return [.tooMany(field: "movements", countMax: Limits.movementLinesMax)]
        }
        var faults: [Rejection] = []
        for (index, line) in lines.enumerated() {
            var lineFaults = line.faults() + line.timeFaults(nowMs: nowMs)
            if lineFaults.isEmpty, !locations.contains(line.locationId) {
                lineFaults.append(.unknownLocation(locationId: line.locationId))
            }
            faults += lineFaults.map { .inLine(path: "movements/\(index)", $0) }
        }
        return faults
    }

    /// Decides a count against what the ledger held at the count's time, so movements recorded
    /// after `countedAt` survive a count that arrives late.
    ///
    /// - Parameters:
    ///   - onHandAtCount: on-hand per SKU as of `countedAtMs` (absent: zero).
    ///   - positions: the location's current positions per SKU (for a full count, all of them).
    public static func decide(
        count: Count, onHandAtCount: [String: Int64], positions: [String: StockPosition], locationExists: Bool, nowMs: Int64
    ) -> Result<[LedgerEvent], Rejections> {
        let faults = validate(count: count, locationExists: locationExists, nowMs: nowMs)
        if !faults.isEmpty { return .failure(Rejections(faults)) }
        let seen = Set(count.lines.map(\.sku))
        var counted = count.lines
        if count.full {
            // Everything the location holds or held and the count does not list was counted as zero.
            let unlisted = Set(positions.keys).union(onHandAtCount.keys).subtracting(seen)
            counted += unlisted.sorted().map { CountLine(sku: $0, quantity: 0) }
        }
        var events: [LedgerEvent] = []
        for line in counted {
            let key = StockKey(sku: line.sku, locationId: count.locationId)
            var position = positions[line.sku] ?? .empty
            let expected = onHandAtCount[line.sku] ?? 0
            let implied = line.quantity - expected
            // Movements after the count may have taken more than the count leaves: the ledger
            // never goes negative, so the change applied stops at zero and says so.
            let applied = max(implied, -position.onHand)
            let event = LedgerEvent.stockCounted(StockCounted(
                sku: line.sku, locationId: count.locationId, countedAtMs: count.countedAtMs, counted: line.quantity,
                expected: expected, impliedDelta: implied, onHandDelta: applied, onHandAfter: position.onHand + applied,
                occurredAtMs: count.countedAtMs))
            let shortBefore = position.shortfall
            position = evolve(position, event)
            events.append(event)
            if position.shortfall > shortBefore { events.append(short(key, position, count.countedAtMs)) }
        }
        return .success(events)
    }

    /// The faults of a count that do not depend on the positions: checked before any row is locked.
    public static func validate(count: Count, locationExists: Bool, nowMs: Int64) -> [Rejection] {
        var faults: [Rejection] = []
        if let fault = Identifier.check(count.locationId, field: "locationId") {
            faults.append(fault)
        } else if !locationExists {
            // Named in the body, so the body is at fault (the edge answers 422, not 404).
            faults.append(.inLine(path: "", .unknownLocation(locationId: count.locationId)))
        }
        if count.countedAtMs > nowMs + Limits.countFutureSkewMillisecondsMax
            || count.countedAtMs < nowMs - Limits.countAgeMillisecondsMax
        {
            faults.append(.countTimeOutOfRange(field: "countedAt"))
        }
        if count.lines.isEmpty && !count.full { faults.append(.missingField(field: "lines")) }
        if count.lines.count > Limits.countLinesMax { faults.append(.tooMany(field: "lines", countMax: Limits.countLinesMax)) }
        var seen = Set<String>()
        for (index, line) in count.lines.enumerated() {
            var lineFaults: [Rejection] = []
            if let fault = Identifier.check(line.sku, field: "sku") { lineFaults.append(fault) }
            if !(0...Limits.stockQuantityMax).contains(line.quantity) {
                lineFaults.append(.outOfRange(field: "quantity", lower: "0", upper: "\(Limits.stockQuantityMax)"))
            }
            if !seen.insert(line.sku).inserted { lineFaults.append(.duplicate(field: "sku", value: line.sku)) }
            faults += lineFaults.map { .inLine(path: "lines/\(index)", $0) }
        }
        return faults
    }

    /// Decides a safety stock change for one position; nil returns it to the location's default.
    public static func decide(
        safetyStock quantity: Int64?, key: StockKey, current: StockPosition?, locationExists: Bool, nowMs: Int64
    ) -> Result<[LedgerEvent], Rejections> {
        var faults: [Rejection] = []
        if let fault = Identifier.check(key.sku, field: "sku") { faults.append(fault) }
        if let fault = Identifier.check(key.locationId, field: "locationId") {
            faults.append(fault)
        } else if !locationExists {
            faults.append(.unknownLocation(locationId: key.locationId))
        }
        if let quantity, !(0...Limits.stockQuantityMax).contains(quantity) {
            faults.append(.outOfRange(field: "quantity", lower: "0", upper: "\(Limits.stockQuantityMax)"))
        }
        if !faults.isEmpty { return .failure(Rejections(faults)) }
        if (current ?? .empty).safetyStock == quantity, current != nil { return .success([]) }
        return .success([.safetyStockSet(SafetyStockSet(
            sku: key.sku, locationId: key.locationId, quantity: quantity, occurredAtMs: nowMs))])
    }

    /// Applies one event of a stock stream to its position.
    public static func evolve(_ position: StockPosition, _ event: LedgerEvent) -> StockPosition {
        var next = position
        switch event {
        case .stockMoved(let moved):
            next.onHand += moved.onHandDelta
            precondition(next.onHand == moved.onHandAfter, "a stock.moved event disagrees with the position it applies to")
        case .stockCounted(let counted):
            next.onHand += counted.onHandDelta
            precondition(next.onHand == counted.onHandAfter, "a stock.counted event disagrees with the position it applies to")
            next.lastCountedAtMs = max(next.lastCountedAtMs ?? counted.countedAtMs, counted.countedAtMs)
        case .countCorrected(let corrected):
            next.onHand += corrected.onHandDelta
            precondition(next.onHand == corrected.onHandAfter, "a stock.count-corrected event disagrees with the position it applies to")
        case .safetyStockSet(let set):
            next.safetyStock = set.quantity
        case .positionShort:
            break
        case .locationDefined, .holdPlaced, .holdExtended, .holdReleased, .holdExpired, .holdConverted, .order, .transfer:
            preconditionFailure("an event of another stream was applied to a stock position's stream")
        }
        next.checkInvariants()
        return next
    }

    /// Takes back what one event did to the position at `key`: a position as of a past time is
    /// the position now with the events that touched it since unwound (its own stream's
    /// on-hand changes, and the promised buckets that holds, orders and transfers change,
    /// through `positionChanges`, the same changes the projection applies). The changes add up,
    /// so the events may come in any order; the balances they carry are not checked, because the
    /// events that occurred after a time are not a suffix of a stream (a sale uploaded late
    /// occurred before earlier records).
    public static func unwind(_ position: StockPosition, _ event: LedgerEvent, at key: StockKey) -> StockPosition {
        var previous = position
        if event.stockKey == key { previous.onHand -= event.onHandDelta }
        for change in event.positionChanges where change.key == key {
            previous.held -= change.held
            previous.allocated -= change.allocated
            previous.incoming -= change.incoming
        }
        return previous
    }

    static func short(_ key: StockKey, _ position: StockPosition, _ occurredAtMs: Int64) -> LedgerEvent {
        .positionShort(PositionShort(
            sku: key.sku, locationId: key.locationId, onHand: position.onHand, promised: position.held + position.allocated,
            shortBy: position.shortfall, occurredAtMs: occurredAtMs))
    }
}

/// Stock arrived, left, or was corrected at a location.
public struct StockMoved: Equatable, Codable, Sendable {
    public static let type = "stock.moved"
    public var sku: String
    public var locationId: String
    public var kind: MovementKind
    /// The quantity as reported (unsigned but for adjustments).
    public var quantity: Int64
    /// The signed change to on-hand stock.
    public var onHandDelta: Int64
    public var onHandAfter: Int64
    public var reason: String?
    public var reference: String?
    public var occurredAtMs: Int64

    public init(sku: String, locationId: String, kind: MovementKind, quantity: Int64, onHandDelta: Int64, onHandAfter: Int64, reason: String?, reference: String?, occurredAtMs: Int64) {
        self.sku = sku
        self.locationId = locationId
        self.kind = kind
        self.quantity = quantity
        self.onHandDelta = onHandDelta
        self.onHandAfter = onHandAfter
        self.reason = reason
        self.reference = reference
        self.occurredAtMs = occurredAtMs
    }
}

/// A count was reconciled against the ledger as it stood at `countedAtMs`.
public struct StockCounted: Equatable, Codable, Sendable {
    public static let type = "stock.counted"
    public var sku: String
    public var locationId: String
    public var countedAtMs: Int64
    public var counted: Int64
    /// What the ledger held at `countedAtMs`.
    public var expected: Int64
    /// counted − expected.
    public var impliedDelta: Int64
    /// The change applied: the implied one, stopped at zero on hand.
    public var onHandDelta: Int64
    public var onHandAfter: Int64
    public var occurredAtMs: Int64

    public init(sku: String, locationId: String, countedAtMs: Int64, counted: Int64, expected: Int64, impliedDelta: Int64, onHandDelta: Int64, onHandAfter: Int64, occurredAtMs: Int64) {
        self.sku = sku
        self.locationId = locationId
        self.countedAtMs = countedAtMs
        self.counted = counted
        self.expected = expected
        self.impliedDelta = impliedDelta
        self.onHandDelta = onHandDelta
        self.onHandAfter = onHandAfter
        self.occurredAtMs = occurredAtMs
    }
}

/// A movement that occurred before the latest count arrived after it; the count had already
/// seen it, so this takes its change back out, dated at the count.
public struct CountCorrected: Equatable, Codable, Sendable {
    public static let type = "stock.count-corrected"
    public var sku: String
    public var locationId: String
    public var countedAtMs: Int64
    /// When the movement this corrects occurred.
    public var movementOccurredAtMs: Int64
    public var onHandDelta: Int64
    public var onHandAfter: Int64
    public var occurredAtMs: Int64

    public init(
        sku: String, locationId: String, countedAtMs: Int64, movementOccurredAtMs: Int64, onHandDelta: Int64, onHandAfter: Int64,
        occurredAtMs: Int64
    ) {
        self.sku = sku
        self.locationId = locationId
        self.countedAtMs = countedAtMs
        self.movementOccurredAtMs = movementOccurredAtMs
        self.onHandDelta = onHandDelta
        self.onHandAfter = onHandAfter
        self.occurredAtMs = occurredAtMs
    }
}

extension LedgerEvent {
    /// The event types that change on-hand stock: what a count reconciles against.
    public static let onHandChangingTypes = [StockMoved.type, StockCounted.type, CountCorrected.type]

    /// The change to on-hand stock of a stock event (0 for the others).
    public var onHandDelta: Int64 {
        switch self {
        case .stockMoved(let event): event.onHandDelta
        case .stockCounted(let event): event.onHandDelta
        case .countCorrected(let event): event.onHandDelta
        case .locationDefined, .safetyStockSet, .positionShort, .holdPlaced, .holdExtended, .holdReleased, .holdExpired, .holdConverted,
            .order, .transfer:
            0
        }
    }

    /// The same event with its recorded balance set (for events built before the balance is known).
    func withOnHandAfter(_ value: Int64) -> LedgerEvent {
        switch self {
        case .stockMoved(var event):
            event.onHandAfter = value
            return .stockMoved(event)
        case .countCorrected(var event):
            event.onHandAfter = value
            return .countCorrected(event)
        case .locationDefined, .stockCounted, .safetyStockSet, .positionShort, .holdPlaced, .holdExtended, .holdReleased, .holdExpired,
            .holdConverted, .order, .transfer:
            // A count carries its balance when it is built; the others carry none.
            return self
        }
    }
}

/// A position's own safety stock was set (nil: back to the location's default).
public struct SafetyStockSet: Equatable, Codable, Sendable {
    public static let type = "stock.safety-stock-set"
    public var sku: String
    public var locationId: String
    public var quantity: Int64?
    public var occurredAtMs: Int64

    public init(sku: String, locationId: String, quantity: Int64?, occurredAtMs: Int64) {
        self.sku = sku
        self.locationId = locationId
        self.quantity = quantity
        self.occurredAtMs = occurredAtMs
    }
}

/// More is promised than is on hand: re-sourcing should start.
public struct PositionShort: Equatable, Codable, Sendable {
    public static let type = "stock.short"
    public var sku: String
    public var locationId: String
    public var onHand: Int64
    public var promised: Int64
    public var shortBy: Int64
    public var occurredAtMs: Int64

    public init(sku: String, locationId: String, onHand: Int64, promised: Int64, shortBy: Int64, occurredAtMs: Int64) {
        self.sku = sku
        self.locationId = locationId
        self.onHand = onHand
        self.promised = promised
        self.shortBy = shortBy
        self.occurredAtMs = occurredAtMs
    }
}
