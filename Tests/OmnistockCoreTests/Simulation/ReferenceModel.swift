import OmnistockCore

/// What the model expects of the core for one step.
enum Expectation {
    case accept
    /// Accepted, and nothing to record (a repeated step, an extension that extends nothing).
    case acceptNothing
    /// Refused, for some of these reasons (the core may stop at the first it finds).
    case refuse(Set<String>)
    /// Recorded, then refused (a wrong pickup code is counted, then refused).
    case recordAndRefuse(String)
    /// The model cannot tell.
    case either

    /// Why the core's outcome disagrees with the expectation, or nil.
    func disagreement(with outcome: Outcome) -> String? {
        switch (self, outcome) {
        case (.either, _), (.accept, .accepted):
            return nil
        case (.acceptNothing, .accepted(let events)):
            return events.isEmpty ? nil : "expected nothing to be recorded, the core recorded \(events.map(\.type))"
        case (.refuse(let codes), .refused):
            let got = outcome.codes
            return got.isSubset(of: codes) ? nil : "expected a refusal for \(codes.sorted()), the core refused for \(got.sorted())"
        case (.recordAndRefuse(let code), .recordedAndRefused):
            return outcome.codes == [code] ? nil : "expected \(code) after recording, the core refused for \(outcome.codes.sorted())"
        case (.refuse(let codes), _):
            return "expected a refusal for \(codes.sorted()), the core answered \(Self.describe(outcome))"
        case (.accept, _), (.acceptNothing, _):
            return "expected acceptance, the core answered \(Self.describe(outcome))"
        case (.recordAndRefuse(let code), _):
            return "expected \(code) after recording, the core answered \(Self.describe(outcome))"
        }
    }

    static func describe(_ outcome: Outcome) -> String {
        switch outcome {
        case .accepted(let events): "accepted with \(events.map(\.type))"
        case .refused(let rejections): "refused: \(rejections.all.map(\.detail))"
        case .recordedAndRefused(let events, let rejections): "recorded \(events.map(\.type)) and refused: \(rejections.all.map(\.detail))"
        }
    }
}

/// Units per (sku, location), kept by naive bookkeeping from what each step means.
struct RefPosition: Equatable {
    var onHand: Int64 = 0
    /// Units of holds not yet recorded as ended (expired-but-unrecorded ones included).
    var held: Int64 = 0
    var allocated: Int64 = 0
    var incoming: Int64 = 0
    var safetyStock: Int64?
    var lastCountedAtMs: Int64?
}

struct RefUnits: Equatable {
    var sku: String
    var locationId: String
    var quantity: Int64
    var key: StockKey { StockKey(sku: sku, locationId: locationId) }
}

struct RefHold {
    var id: String
    var lines: [RefUnits]
    var fulfilment: Fulfilment?
    var placedAtMs: Int64
    var expiresAtMs: Int64
    var status: HoldStatus
}

struct RefLine: Equatable {
    var id: String
    var sku: String
    var quantity: Int64
    var locationId: String
    var status: OrderLineStatus
    var transferId: String?
    var replaces: String?
    var returned: Int64 = 0
    var returnable: Int64 { status == .collected || status == .shipped ? quantity - returned : 0 }
}

struct RefOrder {
    var id: String
    var fulfilment: Fulfilment
    var status: OrderStatus
    var lines: [RefLine]
    var wrongCodes = 0
    var locked = false
    var pickupExpiresAtMs: Int64?

    var store: String? { fulfilment.pickupLocationId }
}

struct RefTransfer {
    var id: String
    var from: String
    var to: String
    var sent: [String: Int64]
    var orderId: String?
    var received = false
}

/// The reference model: a separate, simple bookkeeping of the stock, written from what each
/// step means (PRODUCT.md's rules), not from the core's code. Where the core makes a choice the
/// rules leave open (which location sourcing picks), the model takes the core's choice from
/// its events and checks it is one the rules allow.
struct ReferenceModel {
    var positions: [StockKey: RefPosition] = [:]
    /// On-hand changes per position with when they happened, for counts taken in the past.
    var history: [StockKey: [(atMs: Int64, delta: Int64)]] = [:]
    var holds: [String: RefHold] = [:]
    /// Holds not yet recorded as ended.
    var activeHolds = Set<String>()
    var orders: [String: RefOrder] = [:]
    var transfers: [String: RefTransfer] = [:]
    /// Orders given to each location per UTC day (daily capacity).
    var assigned: [Int64: [String: Int64]] = [:]
    /// A deliberate fault, for the test that proves the simulation can fail: receipts book a
    /// unit more than they bring.
    var faultyReceipts = false

    static let minute: Int64 = 60_000
    static let day: Int64 = 86_400_000

    // MARK: Reading the model

    static func site(_ id: String) -> Estate.Site? { Estate.sites[id] }

    func position(_ key: StockKey) -> RefPosition { positions[key] ?? RefPosition() }

    /// Held units that still count at `nowMs`: a hold stops counting at its expiry.
    func countingHeld(_ key: StockKey, nowMs: Int64) -> Int64 {
        var held = position(key).held
        for id in activeHolds {
            guard let hold = holds[id], nowMs >= hold.expiresAtMs else { continue }
            for line in hold.lines where line.key == key { held -= line.quantity }
        }
        return held
    }

    /// What can still be promised from a position: on hand, less what is held, allocated and
    /// kept back as safety stock; nothing at a location that does not exist.
    func available(_ key: StockKey, nowMs: Int64, extra: [StockKey: Int64] = [:]) -> Int64 {
        guard let site = Self.site(key.locationId) else { return 0 }
        let p = position(key)
        let safety = p.safetyStock ?? site.location.safetyStockDefault
        return max(0, p.onHand - countingHeld(key, nowMs: nowMs) - p.allocated - safety - (extra[key] ?? 0))
    }

    func ordersToday(_ id: String, nowMs: Int64) -> Int64 { assigned[Orders.day(ofMs: nowMs)]?[id] ?? 0 }

    /// Locations that may ship goods towards a region today: active, shipping, near enough,
    /// under their daily capacity (holds do not count capacity).
    func shippers(to region: Estate.Region?, nowMs: Int64, countCapacity: Bool, excluding: Set<String> = []) -> [String] {
        Estate.locationIds.filter { id in
            let site = Self.site(id)!
            return site.location.active && site.location.capabilities.ships && site.region == region && !excluding.contains(id)
                && (!countCapacity || ordersToday(id, nowMs: nowMs) < site.location.dailyCapacity ?? .max)
        }
    }

    static func isIdentifier(_ value: String) -> Bool {
        let allowed = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-")
        return !value.isEmpty && value.utf8.count <= Limits.identifierLengthMax && value.allSatisfy(allowed.contains)
    }

    /// Free text: something visible, bounded, without control characters.
    static func isText(_ value: String) -> Bool {
        !value.isEmpty && !value.allSatisfy(\.isWhitespace) && value.count <= Limits.referenceLengthMax
            && !value.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }
    }

    /// How a text fault is reported: too short or long, or a character (or only blanks) not allowed.
    static let textFaults: Set<String> = ["invalid-text", "not-allowed"]

    /// A pickup point's own fault, if it cannot be one.
    static func pickupFault(_ id: String) -> String? {
        guard let site = site(id) else { return "unknown-location" }
        if !site.location.active { return "location-inactive" }
        if !site.location.capabilities.pickup { return "location-lacks-capability" }
        return nil
    }

    // MARK: Booking

    mutating func touch(_ key: StockKey, _ change: (inout RefPosition) -> Void) {
        change(&positions[key, default: RefPosition()])
    }

    mutating func changeOnHand(_ key: StockKey, by delta: Int64, atMs: Int64) {
        touch(key) { $0.onHand += delta }
        history[key, default: []].append((atMs, delta))
    }

    /// Goods leave a position (handed over, lost): never more than it has.
    mutating func remove(_ key: StockKey, _ quantity: Int64, atMs: Int64) {
        let units = min(quantity, position(key).onHand)
        if units > 0 { changeOnHand(key, by: -units, atMs: atMs) }
    }

    mutating func assign(_ ids: Set<String>, nowMs: Int64) {
        for id in ids { assigned[Orders.day(ofMs: nowMs), default: [:]][id, default: 0] += 1 }
    }

    // MARK: Steps

    /// Checks the core's outcome of a step against the model, and books the step if it was
    /// accepted. Returns what disagrees (empty when all agrees).
    mutating func run(_ step: Step, _ outcome: Outcome, nowMs: Int64) -> [String] {
        switch step {
        case .move(let lines): return move(lines, outcome, nowMs: nowMs)
        case .count(let count): return countStock(count, outcome, nowMs: nowMs)
        case .safetyStock(let key, let quantity): return safetyStock(key, quantity, outcome)
        case .placeHold(let request): return placeHold(request, outcome, nowMs: nowMs)
        case .extendHold(let id, let ttl): return extendHold(id, ttl, outcome, nowMs: nowMs)
        case .releaseHold(let id): return releaseHold(id, outcome, nowMs: nowMs)
        case .sweepHolds: return sweepHolds(outcome, nowMs: nowMs)
        case .convertHold(let id, let number, let fulfilment): return convert(id, number, fulfilment, outcome, nowMs: nowMs)
        case .createOrder(let request): return create(request, outcome, nowMs: nowMs)
        case .orderStep(let id, let action): return orderStep(id, action, outcome, nowMs: nowMs)
        case .sweepNoShows: return sweepNoShows(outcome, nowMs: nowMs)
        case .dispatch(let request): return dispatch(request, outcome, nowMs: nowMs)
        case .receive(let id, let lines): return receive(id, lines, outcome, nowMs: nowMs)
        case .advance: return []
        }
    }
}
