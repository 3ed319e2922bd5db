/// The figures every availability read needs, kept in memory and moved forward event by event:
/// locations, stock positions, and the expiry instant of every active hold line, as of one
/// ledger position.
///
/// It answers availability the way PostgreSQL does (StockReads.availability): a hold line whose
/// `expiresAt` has passed no longer counts as held, whether or not its expiry is recorded yet.
/// Such lines are *swept* (`sweep(nowMs:)`): their units are set aside per position, and given
/// back when the hold's end (expiry, release or conversion) is recorded, or when an extension
/// moves the expiry past the instant again. Time comes in as an argument, like everywhere in
/// the core.
///
/// Each mutation returns the positions whose figures it changed, so a live stream can say what
/// moved without comparing everything.
public struct LiveAvailability: Sendable, Equatable {
    /// One position as the model holds it: `stocked` is false for a row only `incoming` ever
    /// reached (a transfer to a store the ledger never stocked), which no availability lists.
    public struct Entry: Sendable, Equatable {
        public var position: StockPosition
        public var stocked: Bool

        public init(position: StockPosition, stocked: Bool) {
            self.position = position
            self.stocked = stocked
        }
    }

    /// An active hold: when it expires, what it holds, and whether its units are swept.
    public struct ActiveHold: Sendable, Equatable {
        public var expiresAtMs: Int64
        public var lines: [(key: StockKey, quantity: Int64)]
        public var swept: Bool

        public init(expiresAtMs: Int64, lines: [(key: StockKey, quantity: Int64)], swept: Bool = false) {
            self.expiresAtMs = expiresAtMs
            self.lines = lines
            self.swept = swept
        }

        public static func == (a: ActiveHold, b: ActiveHold) -> Bool {
            a.expiresAtMs == b.expiresAtMs && a.swept == b.swept && a.lines.count == b.lines.count
                && zip(a.lines, b.lines).allSatisfy { $0.key == $1.key && $0.quantity == $1.quantity }
        }
    }

    /// The last ledger position applied.
    public private(set) var position: Int64
    public private(set) var locations: [String: Location]
    public private(set) var entries: [StockKey: Entry]
    /// The locations that have a position of each SKU, in id order: a read lists them so
    /// without sorting (a sort per SKU per read was a measured part of a cart's cost).
    public private(set) var locationsBySku: [String: [String]]
    public private(set) var holds: [String: ActiveHold]
    /// Units of swept hold lines per position: what `held` still counts and a read must not.
    public private(set) var sweptUnits: [StockKey: Int64]
    private var expiries = ExpiryHeap()

    /// The model of a ledger at `position`, from its projections (or empty at position 0).
    public init(
        position: Int64, locations: [Location] = [], entries: [(StockKey, Entry)] = [], holds: [(String, ActiveHold)] = []
    ) {
        precondition(position >= 0, "a ledger position is not negative")
        self.position = position
        self.locations = Dictionary(uniqueKeysWithValues: locations.map { ($0.id, $0) })
        self.entries = Dictionary(uniqueKeysWithValues: entries)
        self.locationsBySku = [:]
        for (key, _) in entries { locationsBySku[key.sku, default: []].append(key.locationId) }
        for sku in locationsBySku.keys { locationsBySku[sku]!.sort() }
        self.holds = [:]
        self.sweptUnits = [:]
        for (id, hold) in holds {
            precondition(!hold.swept, "a hold is loaded unswept; the first sweep decides")
            self.holds[id] = hold
            expiries.push(hold.expiresAtMs, id)
        }
    }

    public var positionCount: Int { entries.count }

    /// The earliest instant an active hold expires at, unswept (when a sweep is next due).
    public mutating func nextExpiryMs() -> Int64? {
        while let (at, id) = expiries.peek() {
            if let hold = holds[id], !hold.swept, hold.expiresAtMs == at { return at }
            _ = expiries.pop()
        }
        return nil
    }
}

extension LiveAvailability {
    /// Applies the event at `position`, the one after the model's; returns the positions whose
    /// figures changed.
    public mutating func apply(_ event: LedgerEvent, at position: Int64) -> Set<StockKey> {
        precondition(position == self.position + 1, "the model skipped or repeated a ledger position")
        self.position = position
        var changed = Set<StockKey>()
        switch event {
        case .locationDefined(let defined):
            locations[defined.location.id] = defined.location
            // Rare (an administrator's act): every position of the location shows its new
            // name, capabilities or status, so all of them changed.
            for key in entries.keys where key.locationId == defined.location.id { changed.insert(key) }
        case .stockMoved, .stockCounted, .countCorrected, .safetyStockSet, .positionShort:
            let key = event.stockKey!
            let previous = entries[key]?.position ?? .empty
            entries[key] = Entry(position: StockLedger.evolve(previous, event), stocked: true)
            Self.insertSorted(key.locationId, into: &locationsBySku[key.sku, default: []])
            changed.insert(key)
        case .holdPlaced(let placed):
            precondition(holds[placed.holdId] == nil, "a hold is placed once")
            let lines = placed.lines.map { (key: StockKey(sku: $0.sku, locationId: $0.locationId), quantity: $0.quantity) }
            if !lines.isEmpty {
                holds[placed.holdId] = ActiveHold(expiresAtMs: placed.expiresAtMs, lines: lines)
                expiries.push(placed.expiresAtMs, placed.holdId)
            }
            changed.formUnion(applyChanges(event))
        case .holdExtended(let extended):
            changed.formUnion(extend(extended.holdId, to: extended.expiresAtMs))
        case .holdReleased(let ended as any HoldEnding), .holdExpired(let ended as any HoldEnding), .holdConverted(let ended as any HoldEnding):
            changed.formUnion(unsweep(ended.holdId))
            holds[ended.holdId] = nil
            changed.formUnion(applyChanges(event))
        case .order, .transfer:
            changed.formUnion(applyChanges(event))
        }
        return changed
    }

    /// Sets aside the units of every hold that has expired by `nowMs` (expiry is inclusive, as
    /// in PostgreSQL's `expires_at_ms <= now`); returns the positions that changed.
    public mutating func sweep(nowMs: Int64) -> Set<StockKey> {
        var changed = Set<StockKey>()
        while let at = nextExpiryMs(), at <= nowMs {
            let (_, id) = expiries.pop()!
            var hold = holds[id]!
            hold.swept = true
            holds[id] = hold
            for line in hold.lines {
                sweptUnits[line.key, default: 0] += line.quantity
                changed.insert(line.key)
            }
        }
        return changed
    }

    /// The position as availability counts it: `held` without swept units.
    public func counted(_ key: StockKey) -> StockPosition? {
        entries[key].map { counted($0.position, at: key) }
    }

    private func counted(_ position: StockPosition, at key: StockKey) -> StockPosition {
        guard !sweptUnits.isEmpty, let swept = sweptUnits[key] else { return position }
        assert(swept <= position.held, "more units swept than held")
        var position = position
        position.held -= swept
        return position
    }

    /// The stocked positions of these SKUs at active locations (optionally one), as counted;
    /// per SKU in location order.
    public func rows(skus: [String], locationId: String?) -> [(sku: String, location: Location, position: StockPosition)] {
        var rows: [(sku: String, location: Location, position: StockPosition)] = []
        for sku in skus {
            guard let stocked = locationsBySku[sku] else { continue }
            let ids = locationId.map { id in Self.index(of: id, in: stocked) == nil ? [] : [id] } ?? stocked
            for id in ids {
                let key = StockKey(sku: sku, locationId: id)
                guard let location = locations[id], location.active, let entry = entries[key], entry.stocked else { continue }
                rows.append((sku, location, counted(entry.position, at: key)))
            }
        }
        return rows
    }

    /// Where `id` is in the sorted `ids`, if it is there.
    static func index(of id: String, in ids: [String]) -> Int? {
        let at = insertionPoint(of: id, in: ids)
        return at < ids.count && ids[at] == id ? at : nil
    }

    private static func insertionPoint(of id: String, in ids: [String]) -> Int {
        var low = 0
        var high = ids.count
        while low < high {
            let middle = (low + high) / 2
            if ids[middle] < id { low = middle + 1 } else { high = middle }
        }
        return low
    }

    private static func insertSorted(_ id: String, into ids: inout [String]) {
        let at = insertionPoint(of: id, in: ids)
        if at < ids.count && ids[at] == id { return }
        ids.insert(id, at: at)
    }

    private mutating func applyChanges(_ event: LedgerEvent) -> Set<StockKey> {
        var changed = Set<StockKey>()
        for change in event.positionChanges {
            var entry = entries[change.key] ?? Entry(position: .empty, stocked: false)
            entry.position = entry.position.applying(change)
            entries[change.key] = entry
            Self.insertSorted(change.locationId, into: &locationsBySku[change.sku, default: []])
            changed.insert(change.key)
        }
        return changed
    }

    private mutating func extend(_ id: String, to expiresAtMs: Int64) -> Set<StockKey> {
        guard var hold = holds[id] else { return [] }
        let changed = unsweep(id)
        hold.expiresAtMs = expiresAtMs
        hold.swept = false
        holds[id] = hold
        expiries.push(expiresAtMs, id)
        return changed
    }

    /// Gives back a swept hold's units (its end or extension is recorded now).
    private mutating func unsweep(_ id: String) -> Set<StockKey> {
        guard var hold = holds[id], hold.swept else { return [] }
        for line in hold.lines {
            let left = sweptUnits[line.key]! - line.quantity
            precondition(left >= 0, "a swept hold gave back more units than were set aside")
            sweptUnits[line.key] = left == 0 ? nil : left
        }
        hold.swept = false
        holds[id] = hold
        return Set(hold.lines.map(\.key))
    }
}

extension LiveAvailability {
    /// How this model differs from `other` (at most `limit` descriptions, empty when they agree):
    /// `oms verify` compares the model folded from the whole ledger with the one loaded from the
    /// projections. A position only `incoming` ever reached and left empty again is no row of
    /// the projections (nor of any answer), so it is not a difference.
    public func differences(from other: LiveAvailability, limit: Int = 100) -> [String] {
        var found: [String] = []
        func note(_ text: String) { if found.count < limit { found.append(text) } }
        if position != other.position { note("position \(position) vs \(other.position)") }
        for id in Set(locations.keys).union(other.locations.keys).sorted() where locations[id] != other.locations[id] {
            note("location \(id): \(locations[id].map { "\($0)" } ?? "absent") vs \(other.locations[id].map { "\($0)" } ?? "absent")")
        }
        let mine = entries.filter { !$0.value.isVacant }
        let theirs = other.entries.filter { !$0.value.isVacant }
        for key in Set(mine.keys).union(theirs.keys).sorted() where mine[key] != theirs[key] {
            note("position \(key.sku)@\(key.locationId): \(mine[key].map { "\($0)" } ?? "absent") vs \(theirs[key].map { "\($0)" } ?? "absent")")
        }
        for id in Set(holds.keys).union(other.holds.keys).sorted() where holds[id] != other.holds[id] {
            note("hold \(id): \(holds[id].map { "\($0.expiresAtMs) \($0.lines.map { "\($0.key.sku)@\($0.key.locationId)x\($0.quantity)" })" } ?? "absent") vs "
                + "\(other.holds[id].map { "\($0.expiresAtMs) \($0.lines.map { "\($0.key.sku)@\($0.key.locationId)x\($0.quantity)" })" } ?? "absent")")
        }
        return found
    }
}

extension LiveAvailability.Entry {
    /// Not stocked and empty: a row the projections delete.
    var isVacant: Bool {
        !stocked && position.onHand == 0 && position.held == 0 && position.allocated == 0 && position.incoming == 0
    }
}

/// The hold events that end a hold.
protocol HoldEnding {
    var holdId: String { get }
}

extension HoldReleased: HoldEnding {}
extension HoldExpired: HoldEnding {}
extension HoldConverted: HoldEnding {}

/// A binary min-heap of (instant, hold id): the next expiry first. Entries are never removed
/// but superseded; a reader skips those that no longer match their hold (lazy deletion).
struct ExpiryHeap: Sendable, Equatable {
    private var items: [(at: Int64, id: String)] = []

    static func == (a: ExpiryHeap, b: ExpiryHeap) -> Bool { true }

    func peek() -> (Int64, String)? { items.first.map { ($0.at, $0.id) } }

    mutating func push(_ at: Int64, _ id: String) {
        items.append((at, id))
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard (items[child].at, items[child].id) < (items[parent].at, items[parent].id) else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> (Int64, String)? {
        guard !items.isEmpty else { return nil }
        let top = items[0]
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1
                let right = left + 1
                var smallest = parent
                if left < items.count, (items[left].at, items[left].id) < (items[smallest].at, items[smallest].id) { smallest = left }
                if right < items.count, (items[right].at, items[right].id) < (items[smallest].at, items[smallest].id) { smallest = right }
                if smallest == parent { break }
                items.swapAt(parent, smallest)
                parent = smallest
            }
        }
        return (top.at, top.id)
    }
}
