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
        var working = available
        func can(_ location: String, _ sku: String) -> Int64 { working[StockKey(sku: sku, locationId: location)] ?? 0 }

        // 1. The whole request from one location, the best ranked that can.
        var totals: [String: Int64] = [:]
        for demand in demands { totals[demand.sku, default: 0] += demand.quantity }
        if let whole = ranked.first(where: { location in totals.allSatisfy { can(location.id, $0.key) >= $0.value } }) {
            return Plan(
                assignments: demands.map { Assignment(line: $0.line, sku: $0.sku, locationId: whole.id, quantity: $0.quantity) },
                unfilled: [], locations: [whole.id])
        }

        // 2. Fewest locations: repeatedly take the location that serves the most remaining lines
        // whole (greedy set cover; exact cover is exponential and lines are few), ties by rank.
        var remaining = demands
        var assignments: [Assignment] = []
        var used: [String] = []
        while !remaining.isEmpty {
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
            guard let best else { break }
            used.append(best.location.id)
            for index in best.lines {
                let demand = remaining[index]
                working[StockKey(sku: demand.sku, locationId: best.location.id)]! -= demand.quantity
                assignments.append(Assignment(line: demand.line, sku: demand.sku, locationId: best.location.id, quantity: demand.quantity))
            }
            let taken = Set(best.lines)
            remaining = remaining.enumerated().filter { !taken.contains($0.offset) }.map(\.element)
        }

        // 3. Lines no location can serve whole are split over locations in rank order, when
        // together they have enough; otherwise the line is unfilled (never held in part).
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
        assignments.sort { ($0.line, $0.locationId) < ($1.line, $1.locationId) }
        return Plan(assignments: assignments, unfilled: unfilled, locations: used)
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
