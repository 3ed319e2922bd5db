/// Which locations serve which lines: the rules of PRODUCT.md in one pure function, shared by
/// holds, orders and re-sourcing.
///
/// Only the candidates the caller passes take part (active, able to do the job, in the caller's
/// scope); what each can give is its availability, which already keeps safety stock back. The
/// order of preference: the whole request from one location; then as few locations as possible;
/// then the nearest to the destination; then the location's priority (lower first); then the id,
/// so the same inputs always give the same plan.
public enum Sourcing {
    /// A quantity of a SKU to place, identified by the request line it came from.
    public struct Demand: Equatable, Sendable {
        public var line: Int
        public var sku: String
        public var quantity: Int64

        public init(line: Int, sku: String, quantity: Int64) {
            self.line = line
            self.sku = sku
            self.quantity = quantity
        }
    }

    /// A part of a request line placed at one location. A line no single location can serve
    /// may be split over several.
    public struct Assignment: Equatable, Sendable {
        public var line: Int
        public var sku: String
        public var locationId: String
        public var quantity: Int64
    }

    public struct Plan: Equatable, Sendable {
        public var assignments: [Assignment]
        /// Lines no combination of candidates could serve in full, with what there was in all.
        public var unfilled: [UnfilledLine]
        /// The locations used, in the order they were chosen.
        public var locations: [String]
    }

    /// Plans `demands` over `candidates`, given what each (sku, location) can give.
    public static func plan(
        _ demands: [Demand], candidates: [Location], destination: (latitude: Double, longitude: Double)?,
        available: [StockKey: Int64]
    ) -> Plan {
        let ranked = rank(candidates, destination: destination)
        if let whole = wholeFromOne(demands, ranked: ranked, available: available) {
            return Plan(
                assignments: demands.map { Assignment(line: $0.line, sku: $0.sku, locationId: whole.id, quantity: $0.quantity) },
                unfilled: [], locations: [whole.id])
        }
        var planning = Planning(available: available)
        let remaining = planning.coverWhole(demands, ranked: ranked)
        let unfilled = planning.split(remaining, ranked: ranked)
        planning.assignments.sort { ($0.line, $0.locationId) < ($1.line, $1.locationId) }
        return Plan(assignments: planning.assignments, unfilled: unfilled, locations: planning.used)
    }

    /// 1. The whole request from one location, the best ranked that can.
    private static func wholeFromOne(_ demands: [Demand], ranked: [Location], available: [StockKey: Int64]) -> Location? {
        var totals: [String: Int64] = [:]
        for demand in demands { totals[demand.sku, default: 0] += demand.quantity }
        return ranked.first { location in
            totals.allSatisfy { (available[StockKey(sku: $0.key, locationId: location.id)] ?? 0) >= $0.value }
        }
    }

    /// A plan over several locations being built: what each position can still give, the
    /// assignments so far, and the locations used, in the order they were chosen.
    private struct Planning {
        let available: [StockKey: Int64]
        var working: [StockKey: Int64]
        var assignments: [Assignment] = []
        var used: [String] = []

        init(available: [StockKey: Int64]) {
            self.available = available
            self.working = available
        }

        func can(_ location: String, _ sku: String) -> Int64 { working[StockKey(sku: sku, locationId: location)] ?? 0 }

        /// 2. Fewest locations: repeatedly take the location that serves the most remaining
        /// lines whole (greedy set cover; exact cover is exponential and lines are few), ties
        /// by rank. Returns the lines no location left can serve whole.
        mutating func coverWhole(_ demands: [Demand], ranked: [Location]) -> [Demand] {
            var remaining = demands
            while !remaining.isEmpty {
                guard let best = bestCover(remaining, ranked: ranked) else { break }
                used.append(best.location.id)
                for index in best.lines {
                    let demand = remaining[index]
                    working[StockKey(sku: demand.sku, locationId: best.location.id)]! -= demand.quantity
                    assignments.append(Assignment(line: demand.line, sku: demand.sku, locationId: best.location.id, quantity: demand.quantity))
                }
                let taken = Set(best.lines)
                remaining = remaining.enumerated().filter { !taken.contains($0.offset) }.map(\.element)
            }
            return remaining
        }

        /// The unused location that serves the most of `remaining` whole (indices into it), the
        /// first ranked among equals; nil when none serves any.
        func bestCover(_ remaining: [Demand], ranked: [Location]) -> (location: Location, lines: [Int])? {
            var best: (location: Location, lines: [Int])?
            for location in ranked where !used.contains(location.id) {
                var left: [String: Int64] = [:]
                var served: [Int] = []
                for (index, demand) in remaining.enumerated() {
                    let have = left[demand.sku] ?? can(location.id, demand.sku)
                    if have >= demand.quantity {
                        left[demand.sku] = have - demand.quantity
                        served.append(index)
                    }
                }
                if served.count > (best?.lines.count ?? 0) { best = (location, served) }
            }
            return best
        }

        /// 3. Lines no location can serve whole are split over locations in rank order, when
        /// together they have enough; otherwise the line is unfilled (never held in part), with
        /// what there was before this plan took any.
        mutating func split(_ remaining: [Demand], ranked: [Location]) -> [UnfilledLine] {
            var unfilled: [UnfilledLine] = []
            for demand in remaining {
                let total = ranked.reduce(Int64(0)) { $0 + can($1.id, demand.sku) }
                guard total >= demand.quantity else {
                    let before = ranked.reduce(Int64(0)) { $0 + (available[StockKey(sku: demand.sku, locationId: $1.id)] ?? 0) }
                    unfilled.append(UnfilledLine(line: demand.line, sku: demand.sku, locationId: nil, requested: demand.quantity, available: before))
                    continue
                }
                var needed = demand.quantity
                for location in ranked where needed > 0 {
                    let take = min(needed, can(location.id, demand.sku))
                    guard take > 0 else { continue }
                    working[StockKey(sku: demand.sku, locationId: location.id)]! -= take
                    needed -= take
                    if !used.contains(location.id) { used.append(location.id) }
                    assignments.append(Assignment(line: demand.line, sku: demand.sku, locationId: location.id, quantity: take))
                }
            }
            return unfilled
        }
    }

    /// Candidates in order of preference: nearest first (when there is a destination), then
    /// priority, then id.
    public static func rank(_ candidates: [Location], destination: (latitude: Double, longitude: Double)?) -> [Location] {
        let keyed = candidates.map { location -> (Location, Double) in
            let distance = destination.map {
                Geo.distanceKilometres(latitude1: $0.latitude, longitude1: $0.longitude, latitude2: location.latitude, longitude2: location.longitude)
            }
            return (location, distance ?? 0)
        }
        return keyed.sorted { ($0.1, $0.0.priority, $0.0.id) < ($1.1, $1.0.priority, $1.0.id) }.map(\.0)
    }
}

// MARK: - Explained sourcing: candidates filtered by the rules, and why each was or was not used.

/// Why a location did not serve (part of) a request.
public enum SourcingReason: String, Codable, CaseIterable, Sendable {
    case inactive
    /// It cannot do this job (ship, or be the pickup point).
    case capability
    /// It has taken its daily capacity of orders today.
    case capacityReached = "capacity-reached"
    /// Farther than `Limits.sourcingDistanceKilometresMax` from where the goods go.
    case tooFar = "too-far"
    /// Nothing of the SKU (beyond what is held and allocated).
    case noStock = "no-stock"
    /// Some on hand, but not above its safety stock.
    case belowSafetyStock = "below-safety-stock"
    /// It could serve, but the plan did not need it.
    case notNeeded = "not-needed"
}

public struct CandidateVerdict: Equatable, Sendable {
    public struct Reason: Equatable, Sendable {
        public var reason: SourcingReason
        /// The SKU the reason is about (stock reasons), nil for the location as a whole.
        public var sku: String?
    }

    public var locationId: String
    public var distanceKilometres: Double?
    public var chosen: Bool
    public var reasons: [Reason]
}

/// What sourcing sees: locations, their effective positions and today's order counts.
public struct SourcingInput: Equatable, Sendable {
    public var locations: [String: Location]
    /// Effective positions (expired holds not counted); absent means empty.
    public var positions: [StockKey: StockPosition]
    /// Orders assigned to each location on the current UTC day.
    public var ordersToday: [String: Int64]

    public init(locations: [String: Location], positions: [StockKey: StockPosition], ordersToday: [String: Int64]) {
        self.locations = locations
        self.positions = positions
        self.ordersToday = ordersToday
    }

    public func available(_ key: StockKey) -> Int64 {
        guard let location = locations[key.locationId] else { return 0 }
        return positions[key]?.available(locationDefault: location.safetyStockDefault) ?? 0
    }
}

/// A planned line: where it comes from, and whether a transfer brings it to the pickup store.
public struct SourcedLine: Equatable, Sendable {
    public var line: Int
    public var sku: String
    public var quantity: Int64
    public var locationId: String
    public var viaTransfer: Bool

    public var key: StockKey { StockKey(sku: sku, locationId: locationId) }
}

public struct SourcingOutcome: Equatable, Sendable {
    public var lines: [SourcedLine]
    public var unfilled: [UnfilledLine]
    /// Locations used, in the order chosen.
    public var locations: [String]
    public var candidates: [CandidateVerdict]
}

extension Sourcing {
    /// Plans `demands` for a fulfilment by the rules of PRODUCT.md, with the verdict on every
    /// location. Shipping: among active, shipping locations within reach and capacity. Pickup:
    /// the pickup store first (the whole order when it can, else the lines it can serve whole),
    /// and what it lacks from other locations that ship, by transfer to the store.
    ///
    /// - Parameter excluding: locations that may not serve (where a line was not found).
    public static func source(
        _ demands: [Demand], fulfilment: Fulfilment, input: SourcingInput, excluding: Set<String> = []
    ) -> Result<SourcingOutcome, Rejections> {
        switch fulfilment {
        case .ship(let latitude, let longitude):
            return .success(explained(demands, destination: (latitude, longitude), input: input, excluding: excluding, first: []))
        case .pickup(let storeId):
            switch validatePickupStore(storeId, input: input) {
            case .failure(let rejections):
                return .failure(rejections)
            case .success(let store):
                var pickup = PickupSourcing(store: store, input: input, excluding: excluding)
                return .success(pickup.source(demands))
            }
        }
    }

    /// The pickup store of a pickup fulfilment, when it can be one.
    private static func validatePickupStore(_ storeId: String, input: SourcingInput) -> Result<Location, Rejections> {
        guard let store = input.locations[storeId] else {
            return .failure(Rejections(.inLine(path: "fulfilment", .unknownLocation(locationId: storeId))))
        }
        guard store.active else { return .failure(Rejections(.inLine(path: "fulfilment", .locationInactive(locationId: storeId)))) }
        guard store.capabilities.pickup else {
            return .failure(Rejections(.inLine(path: "fulfilment", .locationLacksCapability(locationId: storeId, capability: "be a pickup point"))))
        }
        return .success(store)
    }

    /// A pickup order being sourced: the lines the store serves itself, the lines that travel
    /// to it by transfer, and what the store has left of each SKU after the lines it serves.
    private struct PickupSourcing {
        let store: Location
        let input: SourcingInput
        let excluding: Set<String>
        var left: [String: Int64] = [:]
        var atStore: [SourcedLine] = []
        var travelling: [SourcedLine] = []

        init(store: Location, input: SourcingInput, excluding: Set<String>) {
            self.store = store
            self.input = input
            self.excluding = excluding
        }

        /// Whether the store may not serve (a line was not found there).
        var storeExcluded: Bool { excluding.contains(store.id) }

        /// What the store can still give of a SKU.
        func storeHas(_ sku: String) -> Int64 {
            storeExcluded ? 0 : left[sku] ?? input.available(StockKey(sku: sku, locationId: store.id))
        }

        /// Serves from the store, then from elsewhere by transfer, then tops up from both what
        /// neither could serve whole.
        mutating func source(_ demands: [Demand]) -> SourcingOutcome {
            let rest = serveWholeAtStore(demands)
            var storeVerdict = CandidateVerdict(locationId: store.id, distanceKilometres: 0, chosen: !atStore.isEmpty, reasons: storeReasons(rest))
            guard !rest.isEmpty else {
                return SourcingOutcome(lines: atStore, unfilled: [], locations: [store.id], candidates: [storeVerdict])
            }
            var others = Sourcing.explained(
                rest, destination: (store.latitude, store.longitude), input: input, excluding: excluding.union([store.id]), first: [])
            travelling = others.lines.map { var line = $0; line.viaTransfer = true; return line }
            let unfilled = topUp(&others)
            storeVerdict.chosen = !atStore.isEmpty
            others.lines = (atStore + travelling).sorted { ($0.line, $0.locationId) < ($1.line, $1.locationId) }
            others.unfilled = unfilled
            others.locations = (atStore.isEmpty ? [] : [store.id]) + others.locations
            others.candidates = [storeVerdict] + others.candidates.filter { $0.locationId != store.id }
            return others
        }

        /// Serves at the store every line it has whole, in order; returns the others.
        mutating func serveWholeAtStore(_ demands: [Demand]) -> [Demand] {
            guard !storeExcluded else { return demands }
            var rest: [Demand] = []
            for demand in demands {
                let have = storeHas(demand.sku)
                if have >= demand.quantity {
                    left[demand.sku] = have - demand.quantity
                    atStore.append(SourcedLine(line: demand.line, sku: demand.sku, quantity: demand.quantity, locationId: store.id, viaTransfer: false))
                } else {
                    rest.append(demand)
                }
            }
            return rest
        }

        /// Why the store did not serve the lines it left.
        func storeReasons(_ rest: [Demand]) -> [CandidateVerdict.Reason] {
            if storeExcluded { return rest.map { .init(reason: .noStock, sku: $0.sku) } }
            return rest.map {
                .init(reason: Sourcing.stockReason(StockKey(sku: $0.sku, locationId: store.id), input, needed: $0.quantity), sku: $0.sku)
            }
        }

        /// A line neither the store nor the others can serve whole may still be served by what
        /// the store has and the rest by transfer, from what the plan left elsewhere. Returns
        /// the lines still unfilled; `others` gains the locations the top-ups use.
        mutating func topUp(_ others: inout SourcingOutcome) -> [UnfilledLine] {
            var unfilled: [UnfilledLine] = []
            var seen = input
            for line in travelling {
                seen.positions[line.key] = (seen.positions[line.key] ?? .empty).applying(
                    PositionChange(sku: line.sku, locationId: line.locationId, allocated: line.quantity))
            }
            for short in others.unfilled {
                let have = storeHas(short.sku)
                guard have > 0 else {
                    unfilled.append(short)
                    continue
                }
                let elsewhere = Sourcing.explained(
                    [Demand(line: short.line, sku: short.sku, quantity: short.requested - have)], destination: (store.latitude, store.longitude),
                    input: seen, excluding: excluding.union([store.id]), first: [])
                guard elsewhere.unfilled.isEmpty else {
                    var named = short
                    named.available = have + elsewhere.unfilled[0].available
                    unfilled.append(named)
                    continue
                }
                left[short.sku] = 0
                atStore.append(SourcedLine(line: short.line, sku: short.sku, quantity: have, locationId: store.id, viaTransfer: false))
                for line in elsewhere.lines {
                    travelling.append(SourcedLine(line: line.line, sku: line.sku, quantity: line.quantity, locationId: line.locationId, viaTransfer: true))
                    seen.positions[line.key] = (seen.positions[line.key] ?? .empty).applying(
                        PositionChange(sku: line.sku, locationId: line.locationId, allocated: line.quantity))
                    if !others.locations.contains(line.locationId) { others.locations.append(line.locationId) }
                    if let index = others.candidates.firstIndex(where: { $0.locationId == line.locationId }) {
                        others.candidates[index].chosen = true
                        others.candidates[index].reasons = []
                    }
                }
            }
            return unfilled
        }
    }

    /// The ship rules over every location: filters with reasons, plans, then explains the rest.
    static func explained(
        _ demands: [Demand], destination: (latitude: Double, longitude: Double), input: SourcingInput, excluding: Set<String>,
        first: [SourcedLine]
    ) -> SourcingOutcome {
        var verdicts: [String: CandidateVerdict] = [:]
        var eligible: [Location] = []
        var table: [StockKey: Int64] = [:]
        for location in input.locations.values.sorted(by: { $0.id < $1.id }) {
            let distance = Geo.distanceKilometres(
                latitude1: destination.latitude, longitude1: destination.longitude, latitude2: location.latitude, longitude2: location.longitude)
            var reasons: [CandidateVerdict.Reason] = []
            if excluding.contains(location.id) {
                reasons += demands.map { .init(reason: .noStock, sku: $0.sku) }
            } else if !location.active {
                reasons.append(.init(reason: .inactive, sku: nil))
            } else if !location.capabilities.ships {
                reasons.append(.init(reason: .capability, sku: nil))
            } else if let capacity = location.dailyCapacity, (input.ordersToday[location.id] ?? 0) >= capacity {
                reasons.append(.init(reason: .capacityReached, sku: nil))
            } else if distance > Limits.sourcingDistanceKilometresMax {
                reasons.append(.init(reason: .tooFar, sku: nil))
            }
            if reasons.isEmpty {
                eligible.append(location)
                for demand in demands {
                    let key = StockKey(sku: demand.sku, locationId: location.id)
                    table[key] = input.available(key)
                }
            }
            verdicts[location.id] = CandidateVerdict(locationId: location.id, distanceKilometres: distance, chosen: false, reasons: reasons)
        }
        let plan = plan(demands, candidates: eligible, destination: destination, available: table)
        let used = Set(plan.locations)
        for location in eligible {
            if used.contains(location.id) {
                verdicts[location.id]!.chosen = true
                continue
            }
            // Not used: say what it lacked, or that it was not needed.
            var reasons: [CandidateVerdict.Reason] = []
            var seen = Set<String>()
            for demand in demands where seen.insert(demand.sku).inserted {
                let key = StockKey(sku: demand.sku, locationId: location.id)
                let needed = demands.filter { $0.sku == demand.sku }.reduce(Int64(0)) { $0 + $1.quantity }
                if input.available(key) < needed { reasons.append(.init(reason: stockReason(key, input, needed: needed), sku: demand.sku)) }
            }
            verdicts[location.id]!.reasons = reasons.isEmpty ? [.init(reason: .notNeeded, sku: nil)] : reasons
        }
        let ranked = rank(Array(input.locations.values), destination: destination).map(\.id)
        return SourcingOutcome(
            lines: first + plan.assignments.map {
                SourcedLine(line: $0.line, sku: $0.sku, quantity: $0.quantity, locationId: $0.locationId, viaTransfer: false)
            },
            unfilled: plan.unfilled, locations: plan.locations,
            candidates: ranked.compactMap { verdicts[$0] })
    }

    /// Why a position could not give what was asked: not enough free stock, or enough only by
    /// dipping into its safety stock.
    static func stockReason(_ key: StockKey, _ input: SourcingInput, needed: Int64) -> SourcingReason {
        let position = input.positions[key] ?? .empty
        return position.onHand - position.held - position.allocated >= needed ? .belowSafetyStock : .noStock
    }
}
