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
public struct LiveAvailability: Sendable {
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

    /// One position of a SKU: its location, by ordinal, and its figures.
    struct Slot: Sendable {
        var ordinal: Int32
        var entry: Entry
    }

    /// The last ledger position applied.
    public private(set) var position: Int64
    /// Every location id the model has met (defined, or named by a position) by ordinal, and
    /// the ordinal of each: a position names its location by ordinal, so a read finds the
    /// location by index instead of hashing its id.
    private var locationIds: [String] = []
    private var ordinals: [String: Int32] = [:]
    /// The location of each ordinal (nil for an id no definition has reached). A read takes a
    /// copy, which copy-on-write makes free unless a location is redefined meanwhile.
    public private(set) var locationTable: [Location?] = []
    /// Each SKU's positions in location id order: a read hashes one string per SKU. A
    /// dictionary keyed by (sku, location) hashed two strings per position, and a separate
    /// sorted list of locations per SKU was needed beside it (together 10% of a cart read, perf).
    private var stock: [String: [Slot]] = [:]
    /// Positions held, stocked or only reached by `incoming`.
    public private(set) var positionCount = 0
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
        self.holds = [:]
        self.sweptUnits = [:]
        for location in locations { define(location) }
        for (key, entry) in entries { update(key) { $0 = entry } }
        for (id, hold) in holds {
            precondition(!hold.swept, "a hold is loaded unswept; the first sweep decides")
            self.holds[id] = hold
            expiries.push(hold.expiresAtMs, id)
        }
    }

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
            let ordinal = define(defined.location)
            // Rare (an administrator's act): every position of the location shows its new
            // name, capabilities or status, so all of them changed.
            for (sku, slots) in stock where slots.contains(where: { $0.ordinal == ordinal }) {
                changed.insert(StockKey(sku: sku, locationId: defined.location.id))
            }
        case .stockMoved, .stockCounted, .countCorrected, .safetyStockSet, .positionShort:
            let key = event.stockKey!
            update(key) { $0 = Entry(position: StockLedger.evolve($0.position, event), stocked: true) }
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
        entry(key).map { counted($0.position, at: key) }
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
        let read = read(skus: skus, locationId: locationId)
        return read.rows.map { (skus[Int($0.sku)], read.locations[Int($0.location)]!, $0.position) }
    }

    /// The same positions as `rows`, by index: what a read copies out under its lock, with no
    /// string or location in a row (their reference counting was a measured part of a read).
    public func read(skus: [String], locationId: String?) -> StockRead {
        var rows: [StockRead.Row] = []
        let only = locationId.map { ordinals[$0] ?? -1 }
        for (index, sku) in skus.enumerated() {
            guard let slots = stock[sku] else { continue }
            for slot in slots where slot.entry.stocked && (only == nil || only == slot.ordinal) {
                guard let location = locationTable[Int(slot.ordinal)], location.active else { continue }
                let key = sweptUnits.isEmpty ? nil : StockKey(sku: sku, locationId: location.id)
                let position = key.map { counted(slot.entry.position, at: $0) } ?? slot.entry.position
                rows.append(StockRead.Row(sku: Int32(index), location: slot.ordinal, position: position))
            }
        }
        return StockRead(skus: skus, locations: locationTable, rows: rows)
    }

    /// The location as last defined, if it was.
    public func location(_ id: String) -> Location? {
        ordinals[id].flatMap { locationTable[Int($0)] }
    }

    /// Every location defined, by id.
    public var locations: [String: Location] {
        Dictionary(uniqueKeysWithValues: locationTable.compactMap { $0.map { ($0.id, $0) } })
    }

    /// The position's figures as the model holds them, if it holds it.
    public func entry(_ key: StockKey) -> Entry? {
        guard let slots = stock[key.sku] else { return nil }
        let (at, found) = Self.slot(of: key.locationId, in: slots, ids: locationIds)
        return found ? slots[at].entry : nil
    }

    /// Every position the model holds (for `oms verify` and tests: it copies them all).
    public func allEntries() -> [StockKey: Entry] {
        var all: [StockKey: Entry] = [:]
        all.reserveCapacity(positionCount)
        for (sku, slots) in stock {
            for slot in slots { all[StockKey(sku: sku, locationId: locationIds[Int(slot.ordinal)])] = slot.entry }
        }
        return all
    }

    /// Records a location's definition; returns its ordinal.
    @discardableResult
    private mutating func define(_ location: Location) -> Int32 {
        let ordinal = ordinal(of: location.id)
        locationTable[Int(ordinal)] = location
        return ordinal
    }

    private mutating func ordinal(of id: String) -> Int32 {
        if let found = ordinals[id] { return found }
        precondition(locationIds.count < Int32.max, "more locations than an ordinal counts")
        let ordinal = Int32(locationIds.count)
        locationIds.append(id)
        ordinals[id] = ordinal
        locationTable.append(nil)
        return ordinal
    }

    /// Changes the position at `key` in place, adding it (vacant, unstocked) first if it is new.
    private mutating func update(_ key: StockKey, _ change: (inout Entry) -> Void) {
        let ordinal = ordinal(of: key.locationId)
        let ids = locationIds
        var added = false
        Self.update(&stock[key.sku, default: []], ordinal: ordinal, id: key.locationId, ids: ids, added: &added, change)
        if added { positionCount += 1 }
    }

    private static func update(
        _ slots: inout [Slot], ordinal: Int32, id: String, ids: [String], added: inout Bool, _ change: (inout Entry) -> Void
    ) {
        let (at, found) = slot(of: id, in: slots, ids: ids)
        if !found {
            slots.insert(Slot(ordinal: ordinal, entry: Entry(position: .empty, stocked: false)), at: at)
            added = true
        }
        change(&slots[at].entry)
    }

    /// Where the location `id` is among a SKU's slots (sorted by id), or where it would go.
    private static func slot(of id: String, in slots: [Slot], ids: [String]) -> (at: Int, found: Bool) {
        var low = 0
        var high = slots.count
        while low < high {
            let middle = (low + high) / 2
            if ids[Int(slots[middle].ordinal)] < id { low = middle + 1 } else { high = middle }
        }
        return (low, low < slots.count && ids[Int(slots[low].ordinal)] == id)
    }

    private mutating func applyChanges(_ event: LedgerEvent) -> Set<StockKey> {
        var changed = Set<StockKey>()
        for change in event.positionChanges {
            update(change.key) { $0.position = $0.position.applying(change) }
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
        let (defined, otherDefined) = (locations, other.locations)
        for id in Set(defined.keys).union(otherDefined.keys).sorted() where defined[id] != otherDefined[id] {
            note("location \(id): \(defined[id].map { "\($0)" } ?? "absent") vs \(otherDefined[id].map { "\($0)" } ?? "absent")")
        }
        let mine = allEntries().filter { !$0.value.isVacant }
        let theirs = other.allEntries().filter { !$0.value.isVacant }
        for key in Self.keysThatDiffer(mine, theirs) {
            note("position \(key.sku)@\(key.locationId): \(mine[key].map { "\($0)" } ?? "absent") vs \(theirs[key].map { "\($0)" } ?? "absent")")
        }
        for id in Self.keysThatDiffer(holds, other.holds) {
            note("hold \(id): \(holds[id].map { "\($0.expiresAtMs) \($0.lines.map { "\($0.key.sku)@\($0.key.locationId)x\($0.quantity)" })" } ?? "absent") vs "
                + "\(other.holds[id].map { "\($0.expiresAtMs) \($0.lines.map { "\($0.key.sku)@\($0.key.locationId)x\($0.quantity)" })" } ?? "absent")")
        }
        return found
    }
}

extension LiveAvailability {
    /// The keys whose values differ between `a` and `b` (or that one lacks), in order. Only
    /// those are sorted: the sorted union of every key cost a 200,000-position `oms verify`
    /// about a quarter of a second (perf: `differences` 0.47 s of CPU before, 0.28 s after on a
    /// machine then running about 30 % slower).
    static func keysThatDiffer<Key: Hashable & Comparable, Value: Equatable>(_ a: [Key: Value], _ b: [Key: Value]) -> [Key] {
        var keys = a.compactMap { key, value in b[key] == value ? nil : key }
        keys += b.keys.filter { a[$0] == nil }
        return keys.sorted()
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
