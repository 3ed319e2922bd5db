import OmnistockCore
import Testing

/// Given/when/then tests of the hold rules: every refusal, all-or-nothing and partial holds,
/// sourcing, extension, release and expiry.
@Suite struct HoldTests {
    static let now: Int64 = 1_800_000_000_000
    static func location(_ id: String, latitude: Double = 48.86, longitude: Double = 2.34, pickup: Bool = true, ships: Bool = true, active: Bool = true, priority: Int64 = 100, safety: Int64 = 0) -> Location {
        Location(
            id: id, name: id, kind: .store, latitude: latitude, longitude: longitude, capabilities: .init(pickup: pickup, ships: ships),
            dailyCapacity: 100, priority: priority, pickupWindowDays: 7, active: active, safetyStockDefault: safety)
    }
    static let locations: [String: Location] = [
        "PAR-01": location("PAR-01"), "PAR-02": location("PAR-02", latitude: 48.87, longitude: 2.33),
        "LIL-01": location("LIL-01", latitude: 50.63, longitude: 3.06), "CLOSED": location("CLOSED", active: false),
        "DEPOT": location("DEPOT", pickup: false),
    ]

    func stock(_ entries: [(String, String, Int64)], held: Int64 = 0) -> [StockKey: StockPosition] {
        Dictionary(uniqueKeysWithValues: entries.map {
            (StockKey(sku: $0.0, locationId: $0.1), StockPosition(onHand: $0.2, held: held, allocated: 0, safetyStock: nil, incoming: 0))
        })
    }

    func place(_ request: HoldRequest, _ positions: [StockKey: StockPosition], candidates: [String] = ["PAR-01", "PAR-02", "LIL-01"]) -> Result<HoldPlaced, Rejections> {
        Holds.decide(place: request, holdId: "h1", nowMs: Self.now, locations: Self.locations, positions: positions, shipCandidates: candidates)
    }

    func refusal(_ result: Result<HoldPlaced, Rejections>) -> [Rejection] {
        if case .failure(let rejections) = result { return rejections.all }
        Issue.record("expected a refusal, got \(result)")
        return []
    }

    @Test func aShippedHoldIsNotSourcedFartherThanOrdersAre() {
        // Lille is some 200 km from Paris: within reach. An address in Ajaccio (1,060 km from
        // Lille) is not served from Lille, as an order would not be.
        let lilleOnly = stock([("BOOT-42", "LIL-01", 5)])
        let toParis = HoldRequest(lines: [RequestedLine(sku: "BOOT-42", quantity: 1)], fulfilment: .ship(latitude: 48.86, longitude: 2.34))
        #expect((try? place(toParis, lilleOnly).get())?.lines.first?.locationId == "LIL-01")
        let toCorsica = HoldRequest(lines: [RequestedLine(sku: "BOOT-42", quantity: 1)], fulfilment: .ship(latitude: 41.93, longitude: 8.74))
        #expect(refusal(place(toCorsica, lilleOnly)) == [
            .inLine(path: "lines/0", .insufficientStock(sku: "BOOT-42", locationId: nil, requested: 1, available: 0)),
        ])
    }

    @Test func aHoldAtANamedLocationHoldsItsLinesUntilItsExpiry() throws {
        let placed = try place(HoldRequest(lines: [RequestedLine(sku: "JACKET-M", quantity: 2, locationId: "PAR-01")], reference: "cart-1"),
                               stock([("JACKET-M", "PAR-01", 5)])).get()
        #expect(placed.lines == [HoldLine(id: "1", sku: "JACKET-M", locationId: "PAR-01", quantity: 2)])
        #expect(placed.expiresAtMs == Self.now + Limits.holdTTLSecondsDefault * 1000)
        #expect(placed.reference == "cart-1")
        let event = LedgerEvent.holdPlaced(placed)
        #expect(event.stream == "hold-h1" && event.locationIds == ["PAR-01"] && event.stockKey == nil)
        #expect(Holds.heldChanges(event).map(\.delta) == [2])
    }

    @Test func theSameSkuTwiceIsCheckedAgainstTheSum() {
        let request = HoldRequest(lines: [
            RequestedLine(sku: "JACKET-M", quantity: 3, locationId: "PAR-01"), RequestedLine(sku: "JACKET-M", quantity: 3, locationId: "PAR-01"),
        ])
        let faults = refusal(place(request, stock([("JACKET-M", "PAR-01", 5)])))
        #expect(faults == [0, 1].map {
            .inLine(path: "lines/\($0)", .insufficientStock(sku: "JACKET-M", locationId: "PAR-01", requested: 6, available: 5))
        })
    }

    @Test func aHoldAcrossLocationsIsAllOrNothing() {
        let request = HoldRequest(lines: [
            RequestedLine(sku: "JACKET-M", quantity: 1, locationId: "PAR-01"), RequestedLine(sku: "BOOT-42", quantity: 2, locationId: "PAR-02"),
        ])
        let faults = refusal(place(request, stock([("JACKET-M", "PAR-01", 5), ("BOOT-42", "PAR-02", 1)])))
        #expect(faults == [.inLine(path: "lines/1", .insufficientStock(sku: "BOOT-42", locationId: "PAR-02", requested: 2, available: 1))])
    }

    @Test func aPartialHoldHoldsWhatItCanAndReportsTheRest() throws {
        var request = HoldRequest(lines: [
            RequestedLine(sku: "JACKET-M", quantity: 1, locationId: "PAR-01"), RequestedLine(sku: "BOOT-42", quantity: 2, locationId: "PAR-02"),
        ])
        request.allowPartial = true
        let placed = try place(request, stock([("JACKET-M", "PAR-01", 5), ("BOOT-42", "PAR-02", 1)])).get()
        #expect(placed.lines.map(\.sku) == ["JACKET-M"])
        #expect(placed.unfilled == [UnfilledLine(line: 1, sku: "BOOT-42", locationId: "PAR-02", requested: 2, available: 1)])
        // Nothing at all to hold is a refusal, even when partial is allowed.
        #expect(refusal(place(request, [:])).count == 2)
    }

    @Test func availabilityKeepsHeldAllocatedAndSafetyStockBack() {
        var positions = stock([("JACKET-M", "PAR-01", 10)], held: 4)
        positions[StockKey(sku: "JACKET-M", locationId: "PAR-01")]!.allocated = 3
        positions[StockKey(sku: "JACKET-M", locationId: "PAR-01")]!.safetyStock = 1
        let faults = refusal(place(HoldRequest(lines: [RequestedLine(sku: "JACKET-M", quantity: 3, locationId: "PAR-01")]), positions))
        #expect(faults == [.inLine(path: "lines/0", .insufficientStock(sku: "JACKET-M", locationId: "PAR-01", requested: 3, available: 2))])
    }

    @Test func locationsMustExistBeActiveAndAbleToDoTheJob() {
        let unknown = refusal(place(HoldRequest(lines: [RequestedLine(sku: "A", quantity: 1, locationId: "NOWHERE")]), [:]))
        #expect(unknown == [.inLine(path: "lines/0", .unknownLocation(locationId: "NOWHERE"))])
        let closed = refusal(place(HoldRequest(lines: [RequestedLine(sku: "A", quantity: 1, locationId: "CLOSED")]), [:]))
        #expect(closed == [.inLine(path: "lines/0", .locationInactive(locationId: "CLOSED"))])
        let depot = refusal(place(HoldRequest(lines: [RequestedLine(sku: "A", quantity: 1)], fulfilment: .pickup(locationId: "DEPOT")), [:]))
        #expect(depot == [.inLine(path: "fulfilment", .locationLacksCapability(locationId: "DEPOT", capability: "be a pickup point"))])
    }

    @Test func requestsAreValidatedWhole() {
        let request = HoldRequest(
            lines: [RequestedLine(sku: "bad sku", quantity: 0), RequestedLine(sku: "A", quantity: 1, locationId: "PAR-01")],
            fulfilment: .ship(latitude: 91, longitude: 0), ttlSeconds: 0, reference: "")
        #expect(Holds.validate(request) == [
            .inLine(path: "lines/0", .invalidIdentifier(field: "sku")),
            .inLine(path: "lines/0", .outOfRange(field: "quantity", lower: "1", upper: "\(Limits.holdLineQuantityMax)")),
            .inLine(path: "lines/1", .notAllowed(field: "locationId", reason: "the fulfilment chooses the locations; name either, not both")),
            .outOfRange(field: "fulfilment/address/latitude", lower: "-90", upper: "90"),
            .outOfRange(field: "ttlSeconds", lower: "1", upper: "86400"),
            .invalidText(field: "reference", lengthMax: Limits.referenceLengthMax),
        ])
        #expect(Holds.validate(HoldRequest(lines: [RequestedLine(sku: "A", quantity: 1)])) == [.inLine(path: "lines/0", .missingField(field: "locationId"))])
        #expect(Holds.validate(HoldRequest(lines: [])) == [.missingField(field: "lines")])
        let many = HoldRequest(lines: Array(repeating: RequestedLine(sku: "A", quantity: 1, locationId: "PAR-01"), count: Limits.holdLinesMax + 1))
        #expect(Holds.validate(many) == [.tooMany(field: "lines", countMax: Limits.holdLinesMax)])
    }

    @Test func shippingPrefersOneLocationForTheWholeHoldThenTheNearest() throws {
        let lille = (latitude: 50.63, longitude: 3.06)
        let request = HoldRequest(
            lines: [RequestedLine(sku: "A", quantity: 1), RequestedLine(sku: "B", quantity: 1)],
            fulfilment: .ship(latitude: lille.latitude, longitude: lille.longitude))
        // Lille is nearest but has only A; Paris 2 has both: one location beats distance.
        let one = try place(request, stock([("A", "LIL-01", 5), ("A", "PAR-02", 1), ("B", "PAR-02", 1), ("B", "PAR-01", 1)])).get()
        #expect(one.lines.map(\.locationId) == ["PAR-02", "PAR-02"])
        // When both have everything, the nearest wins.
        let near = try place(request, stock([("A", "LIL-01", 5), ("B", "LIL-01", 5), ("A", "PAR-02", 1), ("B", "PAR-02", 1)])).get()
        #expect(near.lines.map(\.locationId) == ["LIL-01", "LIL-01"])
        // No single location: the fewest, nearest first.
        let split = try place(request, stock([("A", "LIL-01", 5), ("B", "PAR-01", 1)])).get()
        #expect(Set(split.lines.map(\.locationId)) == ["LIL-01", "PAR-01"])
    }

    @Test func shippingNeverUsesLocationsOutsideTheCandidatesNorSafetyStock() {
        let request = HoldRequest(lines: [RequestedLine(sku: "A", quantity: 2)], fulfilment: .ship(latitude: 48.86, longitude: 2.34))
        var positions = stock([("A", "PAR-01", 2), ("A", "DEPOT", 9)])
        positions[StockKey(sku: "A", locationId: "PAR-01")]!.safetyStock = 1
        let faults = refusal(place(request, positions, candidates: ["PAR-01", "PAR-02"]))
        #expect(faults == [.inLine(path: "lines/0", .insufficientStock(sku: "A", locationId: nil, requested: 2, available: 1))])
    }

    @Test func aLineNoLocationCanServeWholeIsSplitRatherThanRefused() throws {
        let request = HoldRequest(lines: [RequestedLine(sku: "A", quantity: 3)], fulfilment: .ship(latitude: 48.86, longitude: 2.34))
        let placed = try place(request, stock([("A", "PAR-01", 2), ("A", "PAR-02", 2)])).get()
        #expect(placed.lines.map(\.quantity).reduce(0, +) == 3 && placed.lines.count == 2)
    }

    func hold(expiresIn seconds: Int64 = 60, status: HoldStatus = .active) -> Hold {
        Hold(
            id: "h1", recordedStatus: status, reference: nil, fulfilment: nil, allowPartial: false,
            lines: [HoldLine(id: "1", sku: "A", locationId: "PAR-01", quantity: 2)], unfilled: [], placedAtMs: Self.now - 1000,
            expiresAtMs: Self.now + seconds * 1000, endedAtMs: status == .active ? nil : Self.now - 500)
    }

    @Test func anExpiredHoldIsExpiredAtItsExpiryWhetherRecordedOrNot() {
        #expect(hold(expiresIn: 0).status(atMs: Self.now) == .expired)
        #expect(hold(expiresIn: 1).status(atMs: Self.now) == .active)
        #expect(hold(expiresIn: 0).endedAt(atMs: Self.now) == Self.now)
    }

    @Test func extendingMovesTheExpiryWithinTheLifetimeBound() throws {
        let events = try Holds.decide(extend: hold(), ttlSeconds: 600, nowMs: Self.now).get()
        #expect(events == [.holdExtended(HoldExtended(
            holdId: "h1", previousExpiresAtMs: Self.now + 60_000, expiresAtMs: Self.now + 600_000, locationIds: ["PAR-01"], occurredAtMs: Self.now))])
        #expect(events[0].locationIds == ["PAR-01"])
        #expect(try Holds.decide(extend: hold(), ttlSeconds: 30, nowMs: Self.now).get() == [], "an extension never shortens")
        guard case .failure(let tooLong) = Holds.decide(extend: hold(), ttlSeconds: Limits.holdTTLSecondsMax, nowMs: Self.now) else {
            Issue.record("a hold outlived its lifetime bound")
            return
        }
        #expect(tooLong.all.first?.code == "out-of-range")
        guard case .failure(let expired) = Holds.decide(extend: hold(expiresIn: 0), ttlSeconds: 60, nowMs: Self.now) else {
            Issue.record("an expired hold was extended")
            return
        }
        #expect(expired.all == [.holdNotActive(holdId: "h1", status: .expired)])
    }

    @Test func releasingIsIdempotentAndRecordsWhatHappened() throws {
        let released = try Holds.decide(release: hold(), nowMs: Self.now).get()
        #expect(released == [.holdReleased(HoldReleased(holdId: "h1", lines: hold().lines, occurredAtMs: Self.now))])
        #expect(Holds.evolve(hold(), released[0]).recordedStatus == .released)
        #expect(try Holds.decide(release: hold(status: .released), nowMs: Self.now).get() == [])
        // Past its expiry, a release records the expiry, which is what happened.
        let late = try Holds.decide(release: hold(expiresIn: 0), nowMs: Self.now).get()
        #expect(late == [.holdExpired(HoldExpired(holdId: "h1", lines: hold().lines, occurredAtMs: Self.now, recordedAtMs: Self.now))])
        guard case .failure(let converted) = Holds.decide(release: hold(status: .converted), nowMs: Self.now) else {
            Issue.record("a converted hold was released")
            return
        }
        #expect(converted.all == [.holdNotActive(holdId: "h1", status: .converted)])
    }

    @Test func expiryIsRecordedOnlyWhenDue() {
        #expect(Holds.expire(hold(expiresIn: 1), nowMs: Self.now) == [])
        #expect(Holds.expire(hold(expiresIn: 0, status: .released), nowMs: Self.now) == [])
        let events = Holds.expire(hold(expiresIn: 0), nowMs: Self.now + 5)
        #expect(Holds.heldChanges(events[0]).map(\.delta) == [-2])
    }
}
