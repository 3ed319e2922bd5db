import OmnistockCore
import Testing

/// Given/when/then tests of the inventory rules: every refusal, and the events every accepted
/// request records.
@Suite struct StockLedgerTests {
    static let now: Int64 = 1_800_000_000_000
    static let locations: Set<String> = ["PAR-01", "WH-01"]
    static let jacket = StockKey(sku: "JACKET-M", locationId: "PAR-01")

    func given(_ onHand: Int64, held: Int64 = 0, allocated: Int64 = 0) -> [StockKey: StockPosition] {
        [Self.jacket: StockPosition(onHand: onHand, held: held, allocated: allocated, safetyStock: nil, incoming: 0)]
    }

    func line(_ kind: MovementKind, _ quantity: Int64, sku: String = "JACKET-M", at location: String = "PAR-01") -> MovementLine {
        MovementLine(sku: sku, locationId: location, kind: kind, quantity: quantity, reason: "r", reference: "ref-1")
    }

    func refusal(_ result: Result<[LedgerEvent], Rejections>) -> [Rejection] {
        if case .failure(let rejections) = result { return rejections.all }
        Issue.record("expected a refusal, got \(result)")
        return []
    }

    @Test func aReceiptAddsAndRecordsTheBalance() throws {
        let events = try StockLedger.decide(movements: [line(.receipt, 40)], positions: [:], locations: Self.locations, nowMs: Self.now).get()
        #expect(events == [.stockMoved(StockMoved(
            sku: "JACKET-M", locationId: "PAR-01", kind: .receipt, quantity: 40, onHandDelta: 40, onHandAfter: 40, reason: "r",
            reference: "ref-1", occurredAtMs: Self.now))])
        #expect(events[0].stream == "stock-PAR-01/JACKET-M")
        #expect(StockLedger.evolve(.empty, events[0]).onHand == 40)
    }

    @Test(arguments: [
        (MovementKind.sale, Int64(3), Int64(-3)), (.damage, 2, -2), (.returnToVendor, 1, -1), (.adjustment, -4, -4), (.adjustment, 5, 5),
    ])
    func eachKindMovesStockItsWay(_ kind: MovementKind, _ quantity: Int64, _ delta: Int64) throws {
        let events = try StockLedger.decide(movements: [line(kind, quantity)], positions: given(10), locations: Self.locations, nowMs: Self.now).get()
        guard case .stockMoved(let moved) = events.first else { Issue.record("no movement"); return }
        #expect(moved.onHandDelta == delta && moved.onHandAfter == 10 + delta)
    }

    @Test(arguments: [
        (MovementKind.receipt, Int64(0)), (.receipt, -5), (.sale, 0), (.damage, -1), (.adjustment, 0),
        (.receipt, Limits.stockQuantityMax + 1), (.adjustment, -(Limits.stockQuantityMax + 1)), (.adjustment, Int64.min),
        (.receipt, Int64.max),
    ])
    func quantitiesOutOfBoundsAreRefused(_ kind: MovementKind, _ quantity: Int64) {
        let faults = refusal(StockLedger.decide(movements: [line(kind, quantity)], positions: given(10), locations: Self.locations, nowMs: Self.now))
        #expect(faults.map(\.code) == ["out-of-range"])
        #expect(faults.first?.field == "movements/0/quantity")
    }

    @Test func everyFaultyLineIsNamedAndNothingIsApplied() {
        let lines = [
            line(.receipt, 5),
            line(.receipt, 5, sku: "bad sku"),
            line(.receipt, 5, at: "NOWHERE"),
            MovementLine(sku: "A", locationId: "PAR-01", kind: .receipt, quantity: 1, reason: "not a code!", reference: String(repeating: "r", count: 129)),
        ]
        let faults = refusal(StockLedger.decide(movements: lines, positions: [:], locations: Self.locations, nowMs: Self.now))
        #expect(faults.map(\.field) == ["movements/1/sku", "movements/2/locationId", "movements/3/reason", "movements/3/reference"])
        #expect(faults.map(\.code) == ["invalid-identifier", "unknown-location", "invalid-identifier", "invalid-text"])
    }

    @Test func movementsFromTheFutureOrLongAgoAreRefused() {
        for occurred in [Self.now + Limits.countFutureSkewMillisecondsMax + 1, Self.now - Limits.countAgeMillisecondsMax - 1] {
            var late = line(.receipt, 1)
            late.occurredAtMs = occurred
            let faults = refusal(StockLedger.decide(movements: [late], positions: [:], locations: Self.locations, nowMs: Self.now))
            #expect(faults.map(\.field) == ["movements/0/occurredAt"])
        }
    }

    @Test func emptyAndOversizedRequestsAreRefused() {
        #expect(refusal(StockLedger.decide(movements: [], positions: [:], locations: Self.locations, nowMs: Self.now)) == [.missingField(field: "movements")])
        let many = Array(repeating: line(.receipt, 1), count: Limits.movementLinesMax + 1)
        #expect(refusal(StockLedger.decide(movements: many, positions: [:], locations: Self.locations, nowMs: Self.now)).map(\.code) == ["too-many"])
    }

    @Test func stockNeverGoesNegative() {
        let faults = refusal(StockLedger.decide(movements: [line(.sale, 11)], positions: given(10), locations: Self.locations, nowMs: Self.now))
        #expect(faults == [.inLine(path: "movements/0", .insufficientOnHand(sku: "JACKET-M", locationId: "PAR-01", onHand: 10, requested: 11))])
    }

    @Test func linesOfOnePositionAddUp() {
        // 5 received, then 3 and 3 sold: the third line finds 2 on hand, so the whole request fails.
        let faults = refusal(StockLedger.decide(
            movements: [line(.receipt, 5), line(.sale, 3), line(.sale, 3)], positions: [:], locations: Self.locations, nowMs: Self.now))
        #expect(faults.map(\.field) == ["movements/2/quantity"])
    }

    @Test func aSaleBelowWhatIsPromisedIsAcceptedAndShownShort() throws {
        // Given 6 on hand with 5 held; when the till sells 3; then the sale stands and the
        // position is short by 2.
        let events = try StockLedger.decide(movements: [line(.sale, 3)], positions: given(6, held: 5), locations: Self.locations, nowMs: Self.now).get()
        #expect(events.count == 2)
        #expect(events[1] == .positionShort(PositionShort(
            sku: "JACKET-M", locationId: "PAR-01", onHand: 3, promised: 5, shortBy: 2, occurredAtMs: Self.now)))
        var position = given(6, held: 5)[Self.jacket]!
        for event in events { position = StockLedger.evolve(position, event) }
        #expect(position.shortfall == 2 && position.available(locationDefault: 0) == 0)
    }

    @Test func availabilityNeverSellsSafetyStockNorGoesBelowZero() {
        let position = StockPosition(onHand: 10, held: 2, allocated: 3, safetyStock: nil, incoming: 4)
        #expect(position.available(locationDefault: 1) == 4)
        #expect(StockPosition(onHand: 10, held: 2, allocated: 3, safetyStock: 2, incoming: 0).available(locationDefault: 9) == 3)
        #expect(StockPosition(onHand: 1, held: 0, allocated: 0, safetyStock: 5, incoming: 0).available(locationDefault: 0) == 0)
    }

    // MARK: Counts

    func count(_ lines: [(String, Int64)], at countedAtMs: Int64 = now - 3_600_000, full: Bool = false) -> Count {
        Count(locationId: "PAR-01", countedAtMs: countedAtMs, full: full, lines: lines.map { CountLine(sku: $0.0, quantity: $0.1) })
    }

    @Test func aLateCountKeepsTheSalesRecordedAfterIt() throws {
        // The ledger held 10 at the count's time; 3 were sold since (7 now); the count says 8:
        // 2 were missing at count time, so 5 are on hand now, and the later sale still counts.
        let events = try StockLedger.decide(
            count: count([("JACKET-M", 8)]), onHandAtCount: ["JACKET-M": 10], positions: ["JACKET-M": given(7)[Self.jacket]!],
            locationExists: true, nowMs: Self.now
        ).get()
        guard case .stockCounted(let counted) = events.first else { Issue.record("no count event"); return }
        #expect(counted.expected == 10 && counted.impliedDelta == -2 && counted.onHandDelta == -2 && counted.onHandAfter == 5)
    }

    /// A sale that occurred before the latest count arrives after it: the count saw the goods
    /// gone, so on-hand stays; the sale and a correction dated at the count are both recorded.
    @Test(arguments: [(MovementKind.sale, Int64(3)), (.receipt, 5)])
    func aMovementTheLatestCountAlreadySawChangesNothingNow(_ kind: MovementKind, _ quantity: Int64) throws {
        let countedAt = Self.now - 60_000
        var counted = StockPosition(onHand: 5, held: 0, allocated: 0, safetyStock: nil, incoming: 0)
        counted.lastCountedAtMs = countedAt
        var late = line(kind, quantity)
        late.occurredAtMs = countedAt - 1_000
        let events = try StockLedger.decide(movements: [late], positions: [Self.jacket: counted], locations: Self.locations, nowMs: Self.now).get()
        #expect(events.map(\.type).sorted() == ["stock.count-corrected", "stock.moved"])
        var position = counted
        for event in events { position = StockLedger.evolve(position, event) }
        #expect(position.onHand == 5)
        // After the count, the same movement counts as usual.
        late.occurredAtMs = countedAt + 1_000
        let normal = try StockLedger.decide(movements: [late], positions: [Self.jacket: counted], locations: Self.locations, nowMs: Self.now).get()
        #expect(normal.map(\.type) == ["stock.moved"] && normal[0].onHandDelta == late.delta)
    }

    @Test func aCountNeverTakesStockBelowZero() throws {
        let events = try StockLedger.decide(
            count: count([("JACKET-M", 0)]), onHandAtCount: ["JACKET-M": 10], positions: ["JACKET-M": given(3)[Self.jacket]!],
            locationExists: true, nowMs: Self.now
        ).get()
        guard case .stockCounted(let counted) = events.first else { Issue.record("no count event"); return }
        #expect(counted.impliedDelta == -10 && counted.onHandDelta == -3 && counted.onHandAfter == 0)
    }

    @Test func aFullCountZeroesWhatItDoesNotList() throws {
        let positions = ["A": StockPosition(onHand: 4, held: 0, allocated: 0, safetyStock: nil, incoming: 0),
                         "B": StockPosition(onHand: 2, held: 0, allocated: 0, safetyStock: nil, incoming: 0)]
        let events = try StockLedger.decide(
            count: count([("A", 4)], full: true), onHandAtCount: ["A": 4, "B": 2], positions: positions, locationExists: true,
            nowMs: Self.now
        ).get()
        let after = events.compactMap { event -> (String, Int64)? in
            if case .stockCounted(let counted) = event { return (counted.sku, counted.onHandAfter) }
            return nil
        }
        #expect(after.map(\.0) == ["A", "B"] && after.map(\.1) == [4, 0])
    }

    @Test func countRefusals() {
        func faults(_ count: Count, exists: Bool = true) -> [String] {
            StockLedger.validate(count: count, locationExists: exists, nowMs: Self.now).map(\.code)
        }
        #expect(faults(count([("A", 1)], at: Self.now + Limits.countFutureSkewMillisecondsMax + 1)) == ["count-time-out-of-range"])
        #expect(faults(count([("A", 1)], at: Self.now - Limits.countAgeMillisecondsMax - 1)) == ["count-time-out-of-range"])
        #expect(faults(count([("A", 1), ("A", 2)])) == ["duplicate"])
        #expect(faults(count([("A", -1)])) == ["out-of-range"])
        #expect(faults(count([("a b", 1)])) == ["invalid-identifier"])
        #expect(faults(count([])) == ["missing-field"])
        #expect(faults(count([("A", 1)]), exists: false) == ["unknown-location"])
        #expect(faults(count([]), exists: true).isEmpty == false)
        #expect(faults(count([], full: true)).isEmpty, "an empty full count says the location holds nothing")
    }

    // MARK: Safety stock

    @Test func safetyStockIsSetClearedAndBounded() throws {
        let set = try StockLedger.decide(safetyStock: 2, key: Self.jacket, current: .empty, locationExists: true, nowMs: Self.now).get()
        #expect(set == [.safetyStockSet(SafetyStockSet(sku: "JACKET-M", locationId: "PAR-01", quantity: 2, occurredAtMs: Self.now))])
        let position = StockLedger.evolve(.empty, set[0])
        #expect(try StockLedger.decide(safetyStock: 2, key: Self.jacket, current: position, locationExists: true, nowMs: Self.now).get().isEmpty)
        let cleared = try StockLedger.decide(safetyStock: nil, key: Self.jacket, current: position, locationExists: true, nowMs: Self.now).get()
        #expect(StockLedger.evolve(position, cleared[0]).safetyStock == nil)
        guard case .failure(let rejections) = StockLedger.decide(safetyStock: -1, key: Self.jacket, current: nil, locationExists: false, nowMs: Self.now) else {
            Issue.record("accepted")
            return
        }
        #expect(rejections.all.map(\.code) == ["unknown-location", "out-of-range"])
    }

    @Test func distancesAreGreatCircle() {
        // Paris Rivoli to Lille: about 204 km.
        let km = Geo.distanceKilometres(latitude1: 48.8606, longitude1: 2.3376, latitude2: 50.63, longitude2: 3.06)
        #expect(abs(km - 204.0) < 2.0)
        #expect(Geo.distanceKilometres(latitude1: 0, longitude1: 0, latitude2: 0, longitude2: 180) > 20_000)
        #expect(Geo.distanceKilometres(latitude1: 10, longitude1: 10, latitude2: 10, longitude2: 10) == 0)
    }
}

@Suite struct AvailabilityTests {
    func location(_ id: String, _ latitude: Double, pickup: Bool = true, ships: Bool = true, active: Bool = true, safety: Int64 = 0) -> Location {
        Location(
            id: id, name: id, kind: .store, latitude: latitude, longitude: 2.35, capabilities: .init(pickup: pickup, ships: ships),
            dailyCapacity: 10, priority: 1, pickupWindowDays: 7, active: active, safetyStockDefault: safety)
    }

    func stock(_ onHand: Int64, held: Int64 = 0) -> StockPosition {
        StockPosition(onHand: onHand, held: held, allocated: 0, safetyStock: nil, incoming: 0)
    }

    @Test func channelsPickupOrderAndRadius() {
        let positions = [
            (location("FAR", 50.0, pickup: true, ships: false), stock(3)),
            (location("NEAR", 48.86, pickup: true, ships: true, safety: 1), stock(4, held: 1)),
            (location("EMPTY", 48.87, pickup: true, ships: true), stock(1, held: 1)),
            (location("WH", 48.9, pickup: false, ships: true), stock(10)),
            (location("CLOSED", 48.86, pickup: true, ships: true, active: false), stock(50)),
        ]
        let all = SkuAvailability.summarize(sku: "A", positions: positions, near: (48.85, 2.35), radiusKilometres: nil)
        #expect(all.available == 3 + 2 + 0 + 10, "inactive locations never count")
        #expect(all.ship == 2 + 0 + 10)
        #expect(all.pickup.map(\.location.id) == ["NEAR", "FAR"], "nearest first, only points that have the SKU")
        #expect(all.locations.count == 4)
        let close = SkuAvailability.summarize(sku: "A", positions: positions, near: (48.85, 2.35), radiusKilometres: 10)
        #expect(close.pickup.map(\.location.id) == ["NEAR"])
        #expect(close.pickup[0].distanceKilometres == 1.11)
        let anywhere = SkuAvailability.summarize(sku: "A", positions: positions, near: nil, radiusKilometres: nil)
        #expect(anywhere.pickup.allSatisfy { $0.distanceKilometres == nil })
        #expect(anywhere.locations.map(\.location.id) == ["FAR", "NEAR", "EMPTY", "WH"], "without a point: as given")
    }

    @Test func locationsAtOneDistanceComeInIdOrder() {
        let positions = [
            (location("PAR-03", 48.86), stock(1)), (location("PAR-01", 48.86), stock(1)),
            (location("LYON", 45.76), stock(1)), (location("PAR-02", 48.86), stock(1)),
        ]
        let near = SkuAvailability.summarize(sku: "A", positions: positions, near: (48.85, 2.35), radiusKilometres: nil)
        #expect(near.locations.map(\.location.id) == ["PAR-01", "PAR-02", "PAR-03", "LYON"])
        #expect(near.pickup.map(\.location.id) == ["PAR-01", "PAR-02", "PAR-03", "LYON"])
    }
}
