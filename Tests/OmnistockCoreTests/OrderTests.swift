import OmnistockCore
import Testing

/// The estate, positions and small readers the order and sourcing tests share.
enum OrderTestKit {
    static let now: Int64 = 1_800_000_000_000
    static let paris = (latitude: 48.86, longitude: 2.34)
    static let lille = (latitude: 50.63, longitude: 3.06)

    static func location(
        _ id: String, latitude: Double = 48.86, longitude: Double = 2.34, kind: Location.Kind = .store, pickup: Bool = true, ships: Bool = true,
        active: Bool = true, capacity: Int64? = 100, priority: Int64 = 100, window: Int64 = 7, safety: Int64 = 0
    ) -> Location {
        Location(
            id: id, name: id, kind: kind, latitude: latitude, longitude: longitude, capabilities: .init(pickup: pickup, ships: ships),
            dailyCapacity: capacity, priority: priority, pickupWindowDays: window, active: active, safetyStockDefault: safety)
    }

    /// Two Paris stores, one in Lille, a warehouse in Orléans, and two Lille sites that may not ship.
    static let estate: [String: Location] = [
        "PAR-01": location("PAR-01", window: 3),
        "PAR-02": location("PAR-02", latitude: 48.87, longitude: 2.33),
        "LIL-01": location("LIL-01", latitude: lille.latitude, longitude: lille.longitude),
        "WH-01": location("WH-01", latitude: 47.90, longitude: 1.90, kind: .warehouse, pickup: false),
        "CLOSED": location("CLOSED", latitude: lille.latitude, longitude: lille.longitude, active: false),
        "NOSHIP": location("NOSHIP", latitude: lille.latitude, longitude: lille.longitude, ships: false),
    ]

    /// Positions from (sku, location, onHand, allocated).
    static func stock(_ entries: [(String, String, Int64, Int64)]) -> [StockKey: StockPosition] {
        Dictionary(uniqueKeysWithValues: entries.map {
            (StockKey(sku: $0.0, locationId: $0.1), StockPosition(onHand: $0.2, held: 0, allocated: $0.3, safetyStock: nil, incoming: 0))
        })
    }

    static func stock(_ entries: [(String, String, Int64)]) -> [StockKey: StockPosition] {
        stock(entries.map { ($0.0, $0.1, $0.2, 0) })
    }

    static func position(_ onHand: Int64, held: Int64 = 0, allocated: Int64 = 0, incoming: Int64 = 0) -> StockPosition {
        StockPosition(onHand: onHand, held: held, allocated: allocated, safetyStock: nil, incoming: incoming)
    }

    static func at(_ positions: [StockKey: StockPosition], _ sku: String, _ locationId: String) -> StockPosition {
        positions[StockKey(sku: sku, locationId: locationId)] ?? .empty
    }

    /// The positions after the events, through the one function the store applies them with
    /// (which traps on a broken invariant).
    static func applied(_ events: [LedgerEvent], to positions: [StockKey: StockPosition]) -> [StockKey: StockPosition] {
        var next = positions
        for event in events { Orders.apply(event, to: &next) }
        return next
    }

    static func orderSteps(_ events: [LedgerEvent]) -> [OrderRecorded] {
        events.compactMap { if case .order(let recorded) = $0 { return recorded } else { return nil } }
    }

    static func moves(_ events: [LedgerEvent]) -> [StockMoved] {
        events.compactMap { if case .stockMoved(let moved) = $0 { return moved } else { return nil } }
    }

    static func transferSteps(_ events: [LedgerEvent]) -> [TransferRecorded] {
        events.compactMap { if case .transfer(let recorded) = $0 { return recorded } else { return nil } }
    }

    /// The order after its events (nil when none concerns it).
    static func order(after events: [LedgerEvent], from order: Order? = nil) -> Order? {
        var current = order
        for event in events { if case .order = event { current = Orders.evolve(current, event) } }
        return current
    }

    static func refusal<T>(_ result: Result<T, Rejections>, sourceLocation: SourceLocation = #_sourceLocation) -> [Rejection] {
        if case .failure(let rejections) = result { return rejections.all }
        Issue.record("expected a refusal, got \(result)", sourceLocation: sourceLocation)
        return []
    }
}

/// Given/when/then tests of the order rules: conversion, direct creation and sourcing, store
/// work, no-shows, returns and transfers, each checked against the positions it leaves.
@Suite struct OrderTests {
    typealias Kit = OrderTestKit
    static let now = Kit.now

    // MARK: Fixtures

    func hold(
        lines: [HoldLine] = [HoldLine(id: "1", sku: "A", locationId: "PAR-01", quantity: 2)], fulfilment: Fulfilment? = nil,
        expiresAtMs: Int64 = Kit.now + 60_000, status: HoldStatus = .active, reference: String? = nil
    ) -> Hold {
        Hold(
            id: "h1", recordedStatus: status, reference: reference, fulfilment: fulfilment, allowPartial: false, lines: lines, unfilled: [],
            placedAtMs: Self.now - 60_000, expiresAtMs: expiresAtMs, endedAtMs: status == .active ? nil : Self.now - 1_000)
    }

    func convert(
        _ hold: Hold, _ request: OrderRequest = OrderRequest(orderNumber: "WEB-1", holdId: "h1"), locations: [String: Location] = Kit.estate
    ) -> Result<[LedgerEvent], Rejections> {
        Orders.decide(convert: hold, request: request, orderId: "o1", nowMs: Self.now, locations: locations)
    }

    func create(
        _ lines: [RequestedLine], _ fulfilment: Fulfilment, _ positions: [StockKey: StockPosition], ordersToday: [String: Int64] = [:]
    ) -> Result<[LedgerEvent], Rejections> {
        Orders.decide(
            create: OrderRequest(orderNumber: "WEB-2", lines: lines, fulfilment: fulfilment, reference: "r-2"), orderId: "o1",
            transferIds: ["t1", "t2", "t3"], nowMs: Self.now,
            input: SourcingInput(locations: Kit.estate, positions: positions, ordersToday: ordersToday))
    }

    func step(
        _ action: OrderAction, _ order: Order, _ positions: [StockKey: StockPosition], at nowMs: Int64 = Kit.now, resourcing: Bool = false,
        ordersToday: [String: Int64] = [:]
    ) -> Result<OrderDecision, Rejections> {
        Orders.decide(
            action, order: order, nowMs: nowMs, positions: positions, locations: Kit.estate,
            input: resourcing ? SourcingInput(locations: Kit.estate, positions: positions, ordersToday: ordersToday) : nil,
            transferIds: resourcing ? ["t7", "t8"] : [])
    }

    static let toLille = Fulfilment.ship(latitude: Kit.lille.latitude, longitude: Kit.lille.longitude)
    static let toParis = Fulfilment.ship(latitude: Kit.paris.latitude, longitude: Kit.paris.longitude)

    /// A pickup order at PAR-01: 2 A and 1 B, allocated there.
    func pickupOrder(status: OrderStatus = .allocated) -> Order {
        Order(
            id: "o1", orderNumber: "WEB-1", status: status, holdId: nil, reference: nil, fulfilment: .pickup(locationId: "PAR-01"),
            lines: [
                OrderLine(id: "1", sku: "A", quantity: 2, locationId: "PAR-01", status: .allocated),
                OrderLine(id: "2", sku: "B", quantity: 1, locationId: "PAR-01", status: .allocated),
            ], createdAtMs: Self.now - 3_600_000)
    }
    let pickupPositions = Kit.stock([("A", "PAR-01", 5, 2), ("B", "PAR-01", 1, 1)])

    /// A ship order to Paris: 2 A at PAR-01 and 1 B at LIL-01.
    func shipOrder() -> Order {
        Order(
            id: "o1", orderNumber: "WEB-1", status: .allocated, holdId: nil, reference: nil, fulfilment: Self.toParis,
            lines: [
                OrderLine(id: "1", sku: "A", quantity: 2, locationId: "PAR-01", status: .allocated),
                OrderLine(id: "2", sku: "B", quantity: 1, locationId: "LIL-01", status: .allocated),
            ], createdAtMs: Self.now - 3_600_000)
    }
    let shipPositions = Kit.stock([("A", "PAR-01", 5, 2), ("B", "LIL-01", 4, 1)])

    /// The pickup order made ready, and the positions (unchanged by readiness).
    func readyOrder() throws -> Order {
        let decision = try step(.ready, pickupOrder(), pickupPositions).get()
        return try #require(Kit.order(after: decision.events, from: pickupOrder()))
    }

    // MARK: Conversion

    @Test func anActiveHoldConvertsItsHeldUnitsIntoAllocations() throws {
        // Given a hold of 2 A at PAR-01 and 1 B at PAR-02, to be shipped.
        let lines = [HoldLine(id: "1", sku: "A", locationId: "PAR-01", quantity: 2), HoldLine(id: "2", sku: "B", locationId: "PAR-02", quantity: 1)]
        let given = hold(lines: lines, fulfilment: Self.toLille, reference: "cart-1")
        var positions = Kit.stock([("A", "PAR-01", 5), ("B", "PAR-02", 3)])
        positions[StockKey(sku: "A", locationId: "PAR-01")]!.held = 2
        positions[StockKey(sku: "B", locationId: "PAR-02")]!.held = 1

        // When it is converted.
        let events = try convert(given).get()

        // Then the hold records its conversion, and the order is created with the hold's lines allocated.
        #expect(events.map(\.type) == ["hold.converted", "order.created"])
        #expect(events[0] == .holdConverted(HoldConverted(holdId: "h1", orderId: "o1", lines: lines, occurredAtMs: Self.now)))
        let created = try #require(Kit.orderSteps(events).first)
        #expect(created.step == .created)
        #expect(created.order.lines == [
            OrderLine(id: "1", sku: "A", quantity: 2, locationId: "PAR-01", status: .allocated),
            OrderLine(id: "2", sku: "B", quantity: 1, locationId: "PAR-02", status: .allocated),
        ])
        #expect(created.order.status == .allocated && created.order.holdId == "h1" && created.order.orderNumber == "WEB-1")
        #expect(created.order.fulfilment == Self.toLille)
        #expect(created.order.reference == "cart-1", "the hold's reference carries over when the body has none")
        #expect(created.changes == [
            PositionChange(sku: "A", locationId: "PAR-01", allocated: 2), PositionChange(sku: "B", locationId: "PAR-02", allocated: 1),
        ])
        #expect(created.assigned == ["PAR-01", "PAR-02"])
        #expect(events[1].stream == "order-o1" && events[0].stream == "hold-h1")

        // And the held units are allocated units now, nothing on hand moved.
        let after = Kit.applied(events, to: positions)
        #expect(Kit.at(after, "A", "PAR-01") == Kit.position(5, allocated: 2))
        #expect(Kit.at(after, "B", "PAR-02") == Kit.position(3, allocated: 1))
    }

    @Test func aHoldThatHasEndedIsNotConverted() {
        // At its expiry exactly, whether or not the expiry was recorded.
        #expect(Kit.refusal(convert(hold(expiresAtMs: Self.now))) == [.holdNotActive(holdId: "h1", status: .expired)])
        #expect(Kit.refusal(convert(hold(expiresAtMs: Self.now - 1))) == [.holdNotActive(holdId: "h1", status: .expired)])
        #expect(Kit.refusal(convert(hold(status: .released))) == [.holdNotActive(holdId: "h1", status: .released)])
        #expect(Kit.refusal(convert(hold(status: .converted))) == [.holdNotActive(holdId: "h1", status: .converted)])
        // One millisecond before its expiry it still converts.
        #expect((try? convert(hold(fulfilment: .pickup(locationId: "PAR-01"), expiresAtMs: Self.now + 1)).get())?.count == 2)
    }

    @Test func aPickupHoldMustHaveEveryLineAtThePickupPoint() {
        let lines = [HoldLine(id: "1", sku: "A", locationId: "PAR-01", quantity: 2), HoldLine(id: "2", sku: "B", locationId: "PAR-02", quantity: 1)]
        let faults = Kit.refusal(convert(hold(lines: lines, fulfilment: .pickup(locationId: "PAR-01"))))
        #expect(faults.map(\.code) == ["not-allowed"])
        #expect(faults.map(\.field) == ["fulfilment"])
        // The same when the pickup point comes from the body.
        let fromBody = Kit.refusal(convert(hold(lines: lines), OrderRequest(orderNumber: "WEB-1", holdId: "h1", fulfilment: .pickup(locationId: "PAR-02"))))
        #expect(fromBody.map(\.code) == ["not-allowed"])
    }

    @Test func theFulfilmentComesFromTheBodyWhenTheHoldHasNone() throws {
        let request = OrderRequest(orderNumber: "WEB-1", holdId: "h1", fulfilment: .pickup(locationId: "PAR-01"), reference: "mine")
        let events = try convert(hold(reference: "cart-1"), request).get()
        let order = try #require(Kit.order(after: events))
        #expect(order.fulfilment == .pickup(locationId: "PAR-01"))
        #expect(order.pickupLocationId == "PAR-01")
        #expect(order.reference == "mine", "the body's reference wins over the hold's")
        // Neither the hold nor the body says how the goods go: refused.
        #expect(Kit.refusal(convert(hold())) == [.missingField(field: "fulfilment")])
        // The hold's own fulfilment, repeated in the body, is fine.
        let same = OrderRequest(orderNumber: "WEB-1", holdId: "h1", fulfilment: .pickup(locationId: "PAR-01"))
        #expect((try? convert(hold(fulfilment: .pickup(locationId: "PAR-01")), same).get())?.count == 2)
    }

    @Test func aDifferentFulfilmentThanTheHoldsIsRefused() {
        let request = OrderRequest(orderNumber: "WEB-1", holdId: "h1", fulfilment: Self.toParis)
        let faults = Kit.refusal(convert(hold(fulfilment: .pickup(locationId: "PAR-01")), request))
        #expect(faults == [.notAllowed(field: "fulfilment", reason: "the hold was placed for another fulfilment")])
        // An order from a hold takes the hold's lines, never its own.
        let withLines = OrderRequest(orderNumber: "WEB-1", holdId: "h1", lines: [RequestedLine(sku: "A", quantity: 1)])
        #expect(Kit.refusal(convert(hold(fulfilment: Self.toParis), withLines)).map(\.field) == ["lines"])
    }

    @Test func aHoldIsNotCollectedWhereThePickupPointCannotBeOne() {
        // Given holds at WH-01 (no pickup point), at CLOSED (inactive), and at a location since
        // forgotten; when each is converted for pickup there; then each is refused as a direct
        // pickup order there is, with the same rejection.
        for id in ["WH-01", "CLOSED", "GONE"] {
            let given = hold(lines: [HoldLine(id: "1", sku: "A", locationId: id, quantity: 1)])
            let asked = OrderRequest(orderNumber: "WEB-1", holdId: "h1", fulfilment: .pickup(locationId: id))
            let converted = Kit.refusal(convert(given, asked))
            let direct = Kit.refusal(create([RequestedLine(sku: "A", quantity: 1)], .pickup(locationId: id), Kit.stock([("A", id, 5)])))
            #expect(converted == direct && !converted.isEmpty, "\(id): \(converted) against \(direct)")
        }
        let atWarehouse = [HoldLine(id: "1", sku: "A", locationId: "WH-01", quantity: 1)]
        #expect(Kit.refusal(convert(hold(lines: atWarehouse, fulfilment: .pickup(locationId: "WH-01")))) == [
            .inLine(path: "fulfilment", .locationLacksCapability(locationId: "WH-01", capability: "be a pickup point"))
        ])
        // And when PAR-01 stops being a pickup point after its hold was placed, the hold placed
        // for pickup there is not collected there either.
        var changed = Kit.estate
        changed["PAR-01"]!.capabilities.pickup = false
        #expect(Kit.refusal(convert(hold(fulfilment: .pickup(locationId: "PAR-01")), locations: changed)).map(\.code) == ["location-lacks-capability"])
    }

    @Test func aShippedHoldLeavesOnlyActiveShippingLocationsWithinReach() throws {
        // Given a hold with a line at NOSHIP (does not ship), one at CLOSED (inactive) and one
        // at PAR-01; when it is converted for shipping to Paris; then the first two lines are
        // refused, each as a direct order pinned there is, and PAR-01's line is not.
        let lines = [
            HoldLine(id: "1", sku: "A", locationId: "NOSHIP", quantity: 1), HoldLine(id: "2", sku: "A", locationId: "CLOSED", quantity: 1),
            HoldLine(id: "3", sku: "A", locationId: "PAR-01", quantity: 1),
        ]
        let faults = Kit.refusal(convert(hold(lines: lines, fulfilment: Self.toParis)))
        #expect(faults == [
            .inLine(path: "lines/0", .locationLacksCapability(locationId: "NOSHIP", capability: "ship orders")),
            .inLine(path: "lines/1", .locationInactive(locationId: "CLOSED")),
        ])
        let pinned = [RequestedLine(sku: "A", quantity: 1, locationId: "NOSHIP"), RequestedLine(sku: "A", quantity: 1, locationId: "CLOSED")]
        #expect(Kit.refusal(create(pinned, Self.toParis, Kit.stock([("A", "NOSHIP", 5), ("A", "CLOSED", 5)]))) == faults)

        // When a hold at PAR-01 is converted for shipping to New York, about 5,800 km away; then
        // it is refused, as sourcing never ships beyond its reach.
        let far = Fulfilment.ship(latitude: 40.71, longitude: -74.0)
        #expect(Kit.refusal(convert(hold(fulfilment: far))) == [
            .inLine(path: "lines/0", .locationLacksCapability(locationId: "PAR-01", capability: "ship farther than 1000 km"))
        ])
        // And to Lille, about 200 km away, it converts.
        #expect(try convert(hold(fulfilment: Self.toLille)).get().map(\.type) == ["hold.converted", "order.created"])
    }

    // MARK: Direct creation

    @Test func aShipOrderIsSourcedToTheNearestLocationWithStock() throws {
        // Given A in Paris and at the Orléans warehouse, none in Lille.
        let positions = Kit.stock([("A", "PAR-01", 5), ("A", "WH-01", 10)])
        // When an order for 2 A ships to Lille.
        let events = try create([RequestedLine(sku: "A", quantity: 2)], Self.toLille, positions).get()
        // Then Paris, the nearer, serves it.
        #expect(events.map(\.type) == ["order.created"])
        let created = try #require(Kit.orderSteps(events).first)
        #expect(created.order.lines == [OrderLine(id: "1", sku: "A", quantity: 2, locationId: "PAR-01", status: .allocated)])
        #expect(created.order.reference == "r-2" && created.order.holdId == nil && created.order.createdAtMs == Self.now)
        #expect(created.changes == [PositionChange(sku: "A", locationId: "PAR-01", allocated: 2)])
        #expect(created.assigned == ["PAR-01"])
        #expect(Kit.at(Kit.applied(events, to: positions), "A", "PAR-01") == Kit.position(5, allocated: 2))

        // And once Lille has it, Lille serves it.
        var withLille = positions
        withLille[StockKey(sku: "A", locationId: "LIL-01")] = Kit.position(2)
        let nearer = try create([RequestedLine(sku: "A", quantity: 2)], Self.toLille, withLille).get()
        #expect(Kit.order(after: nearer)?.lines.map(\.locationId) == ["LIL-01"])
        #expect(Kit.at(Kit.applied(nearer, to: withLille), "A", "LIL-01") == Kit.position(2, allocated: 2))
    }

    @Test func oneLocationForTheWholeOrderBeatsANearerSplit() throws {
        // Lille has A, Paris has B, only the farther warehouse has both.
        let positions = Kit.stock([("A", "LIL-01", 5), ("B", "PAR-01", 5), ("A", "WH-01", 3), ("B", "WH-01", 3)])
        let events = try create([RequestedLine(sku: "A", quantity: 1), RequestedLine(sku: "B", quantity: 2)], Self.toLille, positions).get()
        let order = try #require(Kit.order(after: events))
        #expect(order.lines.map(\.locationId) == ["WH-01", "WH-01"])
        #expect(Kit.orderSteps(events).first?.assigned == ["WH-01"])
        let after = Kit.applied(events, to: positions)
        #expect(Kit.at(after, "A", "WH-01") == Kit.position(3, allocated: 1))
        #expect(Kit.at(after, "B", "WH-01") == Kit.position(3, allocated: 2))
        #expect(Kit.at(after, "A", "LIL-01") == Kit.position(5))
    }

    @Test func aLineNoLocationCanServeWholeIsSplitIntoOrderLines() throws {
        let positions = Kit.stock([("A", "LIL-01", 2), ("A", "PAR-01", 2)])
        let events = try create([RequestedLine(sku: "A", quantity: 3)], Self.toLille, positions).get()
        let order = try #require(Kit.order(after: events))
        #expect(order.lines.map(\.id) == ["1", "2"])
        #expect(order.lines.map(\.quantity).reduce(0, +) == 3)
        #expect(Set(order.lines.map(\.locationId)) == ["LIL-01", "PAR-01"])
        #expect(Kit.orderSteps(events).first?.assigned == ["LIL-01", "PAR-01"])
        let after = Kit.applied(events, to: positions)
        #expect(Kit.at(after, "A", "LIL-01").allocated + Kit.at(after, "A", "PAR-01").allocated == 3)
    }

    @Test func aShortOrderIsRefusedLineByLineAndRecordsNothing() {
        // 2 A across the estate (1 in safety stock elsewhere does not count), 1 B, no C.
        var positions = Kit.stock([("A", "PAR-01", 1), ("A", "LIL-01", 1), ("B", "PAR-02", 1), ("A", "PAR-02", 1)])
        positions[StockKey(sku: "A", locationId: "PAR-02")]!.safetyStock = 1
        let faults = Kit.refusal(create(
            [RequestedLine(sku: "A", quantity: 3), RequestedLine(sku: "B", quantity: 1), RequestedLine(sku: "C", quantity: 5)], Self.toLille,
            positions))
        #expect(faults == [
            .inLine(path: "lines/0", .insufficientStock(sku: "A", locationId: nil, requested: 3, available: 2)),
            .inLine(path: "lines/2", .insufficientStock(sku: "C", locationId: nil, requested: 5, available: 0)),
        ])
        #expect(faults.map(\.field) == ["lines/0/quantity", "lines/2/quantity"])
    }

    @Test func aPickupOrderBringsWhatTheStoreLacksByTransfer() throws {
        // Given PAR-01 has A but no B, and the warehouse has B.
        let positions = Kit.stock([("A", "PAR-01", 5), ("B", "WH-01", 4)])

        // When a pickup order at PAR-01 asks for 1 A and 2 B.
        let events = try create([RequestedLine(sku: "A", quantity: 1), RequestedLine(sku: "B", quantity: 2)], .pickup(locationId: "PAR-01"), positions).get()

        // Then B leaves the warehouse at once by transfer, and the order waits for it.
        #expect(events.map(\.type) == ["stock.moved", "transfer.dispatched", "order.created"])
        #expect(Kit.moves(events) == [StockMoved(
            sku: "B", locationId: "WH-01", kind: .transferOut, quantity: 2, onHandDelta: -2, onHandAfter: 2, reason: nil, reference: "t1",
            occurredAtMs: Self.now)])
        let dispatched = try #require(Kit.transferSteps(events).first)
        #expect(dispatched.step == .dispatched)
        #expect(dispatched.transfer == Transfer(
            id: "t1", status: .inTransit, fromLocationId: "WH-01", toLocationId: "PAR-01", orderId: "o1", reference: "WEB-2",
            lines: [TransferLine(sku: "B", quantity: 2)], dispatchedAtMs: Self.now))
        #expect(dispatched.changes == [PositionChange(sku: "B", locationId: "PAR-01", incoming: 2)])
        let created = try #require(Kit.orderSteps(events).first)
        #expect(created.order.lines == [
            OrderLine(id: "1", sku: "A", quantity: 1, locationId: "PAR-01", status: .allocated),
            OrderLine(id: "2", sku: "B", quantity: 2, locationId: "WH-01", status: .inTransit, transferId: "t1"),
        ])
        #expect(created.changes == [PositionChange(sku: "A", locationId: "PAR-01", allocated: 1)], "a line in transit is allocated nowhere")
        #expect(created.assigned == ["PAR-01", "WH-01"])

        // And the positions show it: on hand left the warehouse, incoming at the store.
        let after = Kit.applied(events, to: positions)
        #expect(Kit.at(after, "A", "PAR-01") == Kit.position(5, allocated: 1))
        #expect(Kit.at(after, "B", "WH-01") == Kit.position(2))
        #expect(Kit.at(after, "B", "PAR-01") == Kit.position(0, incoming: 2))
    }

    @Test func aPickupOrderTheStoreCanServeStaysAtTheStore() throws {
        let positions = Kit.stock([("A", "PAR-01", 5), ("A", "PAR-02", 9)])
        let events = try create([RequestedLine(sku: "A", quantity: 2)], .pickup(locationId: "PAR-01"), positions).get()
        #expect(events.map(\.type) == ["order.created"])
        #expect(Kit.order(after: events)?.lines.map(\.locationId) == ["PAR-01"])
        // A pickup point that is not one is refused.
        #expect(Kit.refusal(create([RequestedLine(sku: "A", quantity: 1)], .pickup(locationId: "WH-01"), positions)) == [
            .inLine(path: "fulfilment", .locationLacksCapability(locationId: "WH-01", capability: "be a pickup point")),
        ])
        #expect(Kit.refusal(create([RequestedLine(sku: "A", quantity: 1)], .pickup(locationId: "CLOSED"), positions)) == [
            .inLine(path: "fulfilment", .locationInactive(locationId: "CLOSED")),
        ])
    }

    @Test func pinnedLinesTakeTheirLocationsStockAndTheFulfilmentSourcesTheRest() throws {
        // Lille has everything, but line 0 is pinned to PAR-02.
        let positions = Kit.stock([("A", "PAR-02", 1), ("A", "LIL-01", 5), ("B", "LIL-01", 5)])
        let events = try create(
            [RequestedLine(sku: "A", quantity: 1, locationId: "PAR-02"), RequestedLine(sku: "B", quantity: 1)], Self.toLille, positions).get()
        let created = try #require(Kit.orderSteps(events).first)
        #expect(created.order.lines.map { "\($0.id):\($0.sku)@\($0.locationId)" } == ["1:A@PAR-02", "2:B@LIL-01"])
        #expect(created.assigned == ["LIL-01", "PAR-02"])
        let after = Kit.applied(events, to: positions)
        #expect(Kit.at(after, "A", "PAR-02") == Kit.position(1, allocated: 1))
        #expect(Kit.at(after, "A", "LIL-01") == Kit.position(5))

        // A pinned line is refused at its location, never sourced elsewhere.
        let short = Kit.refusal(create([RequestedLine(sku: "A", quantity: 2, locationId: "PAR-02")], Self.toLille, positions))
        #expect(short == [.inLine(path: "lines/0", .insufficientStock(sku: "A", locationId: "PAR-02", requested: 2, available: 1))])
        // Two pinned lines for one position count together.
        let twice = Kit.refusal(create(
            [RequestedLine(sku: "A", quantity: 3, locationId: "LIL-01"), RequestedLine(sku: "A", quantity: 3, locationId: "LIL-01")], Self.toLille,
            positions))
        #expect(twice == [.inLine(path: "lines/1", .insufficientStock(sku: "A", locationId: "LIL-01", requested: 3, available: 2))])
        let nowhere = Kit.refusal(create(
            [RequestedLine(sku: "A", quantity: 1, locationId: "NOWHERE"), RequestedLine(sku: "A", quantity: 1, locationId: "CLOSED")], Self.toLille,
            positions))
        #expect(nowhere == [
            .inLine(path: "lines/0", .unknownLocation(locationId: "NOWHERE")), .inLine(path: "lines/1", .locationInactive(locationId: "CLOSED")),
        ])
    }

    @Test func aLinePinnedAwayFromThePickupPointTravelsByTransfer() throws {
        let positions = Kit.stock([("A", "PAR-01", 5), ("A", "WH-01", 5)])
        let events = try create([RequestedLine(sku: "A", quantity: 2, locationId: "WH-01")], .pickup(locationId: "PAR-01"), positions).get()
        #expect(events.map(\.type) == ["stock.moved", "transfer.dispatched", "order.created"])
        let order = try #require(Kit.order(after: events))
        #expect(order.lines == [OrderLine(id: "1", sku: "A", quantity: 2, locationId: "WH-01", status: .inTransit, transferId: "t1")])
        let after = Kit.applied(events, to: positions)
        #expect(Kit.at(after, "A", "WH-01") == Kit.position(3))
        #expect(Kit.at(after, "A", "PAR-01") == Kit.position(5, incoming: 2))
    }

    @Test func aLinePinnedToALocationThatDoesNotShipStaysOnlyForItsOwnPickup() throws {
        let positions = Kit.stock([("A", "NOSHIP", 5)])
        let shipped = Kit.refusal(create([RequestedLine(sku: "A", quantity: 1, locationId: "NOSHIP")], Self.toLille, positions))
        #expect(shipped == [.inLine(path: "lines/0", .locationLacksCapability(locationId: "NOSHIP", capability: "ship orders"))])
        let sent = Kit.refusal(create([RequestedLine(sku: "A", quantity: 1, locationId: "NOSHIP")], .pickup(locationId: "PAR-01"), positions))
        #expect(sent == [.inLine(path: "lines/0", .locationLacksCapability(locationId: "NOSHIP", capability: "ship orders"))])
        // Collected where it is, it never leaves.
        let own = try create([RequestedLine(sku: "A", quantity: 1, locationId: "NOSHIP")], .pickup(locationId: "NOSHIP"), positions).get()
        #expect(Kit.order(after: own)?.lines.map(\.status) == [.allocated])
        #expect(Kit.at(Kit.applied(own, to: positions), "A", "NOSHIP") == Kit.position(5, allocated: 1))
    }

    @Test func aLocationAtItsDailyCapacityIsNotChosen() throws {
        let positions = Kit.stock([("A", "LIL-01", 5), ("A", "PAR-01", 5)])
        let events = try create([RequestedLine(sku: "A", quantity: 1)], Self.toLille, positions, ordersToday: ["LIL-01": 100]).get()
        #expect(Kit.order(after: events)?.lines.map(\.locationId) == ["PAR-01"])
        // One below capacity still takes the order.
        let below = try create([RequestedLine(sku: "A", quantity: 1)], Self.toLille, positions, ordersToday: ["LIL-01": 99]).get()
        #expect(Kit.order(after: below)?.lines.map(\.locationId) == ["LIL-01"])
        // Every location full: nothing to source from.
        let full = Kit.refusal(create([RequestedLine(sku: "A", quantity: 1)], Self.toLille, positions, ordersToday: ["LIL-01": 100, "PAR-01": 100]))
        #expect(full == [.inLine(path: "lines/0", .insufficientStock(sku: "A", locationId: nil, requested: 1, available: 0))])
    }

    @Test func aLocationWithoutDailyCapacityIsNeverFull() throws {
        // Given LIL-01 without a daily capacity, having taken a billion orders today, and PAR-01
        // at its capacity of 100.
        var estate = Kit.estate
        estate["LIL-01"]!.dailyCapacity = nil
        let input = SourcingInput(
            locations: estate, positions: Kit.stock([("A", "LIL-01", 5), ("A", "PAR-01", 5)]),
            ordersToday: ["LIL-01": 1_000_000_000, "PAR-01": 100])
        // When an order to Lille is sourced; then LIL-01 takes it, and only PAR-01 is full.
        let request = OrderRequest(orderNumber: "WEB-2", lines: [RequestedLine(sku: "A", quantity: 1)], fulfilment: Self.toLille)
        let events = try Orders.decide(create: request, orderId: "o1", transferIds: ["t1"], nowMs: Self.now, input: input).get()
        #expect(Kit.order(after: events)?.lines.map(\.locationId) == ["LIL-01"])
        let outcome = try Sourcing.source([Sourcing.Demand(line: 0, sku: "A", quantity: 1)], fulfilment: Self.toLille, input: input).get()
        let full = outcome.candidates.filter { $0.reasons.contains { $0.reason == .capacityReached } }.map(\.locationId)
        #expect(full == ["PAR-01"])
        // And a capacity of 0 is a limit: no orders at all.
        estate["LIL-01"]!.dailyCapacity = 0
        var closed = input
        closed.locations = estate
        closed.ordersToday = [:]
        let none = try Orders.decide(create: request, orderId: "o1", transferIds: ["t1"], nowMs: Self.now, input: closed).get()
        #expect(Kit.order(after: none)?.lines.map(\.locationId) == ["PAR-01"])
    }

    @Test func inactiveAndNonShippingLocationsAreNotChosen() throws {
        // CLOSED and NOSHIP are in Lille itself, with plenty.
        let positions = Kit.stock([("A", "CLOSED", 9), ("A", "NOSHIP", 9), ("A", "WH-01", 1)])
        let events = try create([RequestedLine(sku: "A", quantity: 1)], Self.toLille, positions).get()
        #expect(Kit.order(after: events)?.lines.map(\.locationId) == ["WH-01"])
        let none = Kit.refusal(create([RequestedLine(sku: "A", quantity: 2)], Self.toLille, positions))
        #expect(none == [.inLine(path: "lines/0", .insufficientStock(sku: "A", locationId: nil, requested: 2, available: 1))])
        // Nor are they the source of a pickup order's transfer.
        let pickup = Kit.refusal(create([RequestedLine(sku: "A", quantity: 2)], .pickup(locationId: "PAR-01"), positions))
        #expect(pickup.map(\.code) == ["insufficient-stock"])
    }

    @Test func creationRequestsAreValidatedWhole() {
        let request = OrderRequest(orderNumber: "bad number", lines: [RequestedLine(sku: "A", quantity: 0, locationId: "bad id")])
        #expect(Orders.validate(request) == [.invalidIdentifier(field: "orderNumber"), .missingField(field: "fulfilment")])
        let lines = OrderRequest(
            orderNumber: "WEB-1", lines: [RequestedLine(sku: "A", quantity: 0, locationId: "bad id")], fulfilment: Self.toParis, reference: "")
        #expect(Orders.validate(lines) == [
            .invalidText(field: "reference", lengthMax: Limits.referenceLengthMax),
            .inLine(path: "lines/0", .outOfRange(field: "quantity", lower: "1", upper: "\(Limits.holdLineQuantityMax)")),
            .inLine(path: "lines/0", .invalidIdentifier(field: "locationId")),
        ])
        #expect(Orders.validate(OrderRequest(orderNumber: "WEB-1", fulfilment: Self.toParis)) == [.missingField(field: "lines")])
    }

    @Test func tooManyLinesAreRefusedOnce() {
        let request = OrderRequest(
            orderNumber: "WEB-1", lines: Array(repeating: RequestedLine(sku: "A", quantity: 1), count: Limits.orderLinesMax + 1), fulfilment: Self.toParis)
        #expect(Orders.validate(request) == [.tooMany(field: "lines", countMax: Limits.orderLinesMax)])
    }

    @Test func aPickupLineTheStoreHasInPartIsToppedUpByTransfer() throws {
        // The store has 1 A, the warehouse 1 A: 2 in all for 2 asked.
        let positions = Kit.stock([("A", "PAR-01", 1), ("A", "WH-01", 1)])
        let events = try create([RequestedLine(sku: "A", quantity: 2)], .pickup(locationId: "PAR-01"), positions).get()
        let order = try #require(Kit.order(after: events, from: nil))
        #expect(order.lines.map(\.locationId) == ["PAR-01", "WH-01"] && order.lines.map(\.quantity) == [1, 1])
        #expect(order.lines.map(\.status) == [.allocated, .inTransit])
        let after = Kit.applied(events, to: positions)
        #expect(after[StockKey(sku: "A", locationId: "PAR-01")]?.allocated == 1 && after[StockKey(sku: "A", locationId: "PAR-01")]?.incoming == 1)
        // And when even together they are short, the refusal says what there was in all.
        let short = create([RequestedLine(sku: "A", quantity: 3)], .pickup(locationId: "PAR-01"), positions)
        #expect(short == .failure(Rejections(.inLine(path: "lines/0", .insufficientStock(sku: "A", locationId: nil, requested: 3, available: 2)))))
    }

    // MARK: Picking and ready

    @Test func pickingStartsOnceFromAllocated() throws {
        let events = try step(.picking, pickupOrder(), pickupPositions).get().events
        #expect(events.map(\.type) == ["order.picking"])
        let picking = try #require(Kit.order(after: events, from: pickupOrder()))
        #expect(picking.status == .picking && picking.updatedAtMs == Self.now)
        #expect(Kit.orderSteps(events).first?.changes == [])
        #expect(Kit.applied(events, to: pickupPositions) == pickupPositions)
        // Again while picking: nothing happens.
        #expect(try step(.picking, picking, pickupPositions).get() == OrderDecision(events: []))
        // Not from ready.
        let ready = try readyOrder()
        #expect(Kit.refusal(step(.picking, ready, pickupPositions)) == [.invalidTransition(status: "ready", step: "picked")])
    }

    @Test func readyIsForPickupOrdersWithEveryLineAtTheStore() throws {
        // A ship order is never ready for pickup.
        #expect(Kit.refusal(step(.ready, shipOrder(), shipPositions)) == [.invalidTransition(status: "allocated", step: "made ready for pickup")])
        // Not while a line is on its way.
        var waiting = pickupOrder()
        waiting.lines[1].status = .inTransit
        waiting.lines[1].transferId = "t1"
        waiting.lines[1].locationId = "WH-01"
        #expect(Kit.refusal(step(.ready, waiting, pickupPositions)) == [.linesInTransit(orderId: "o1")])

        // From picking: ready, with the pickup window of PAR-01 (3 days).
        let picking = pickupOrder(status: .picking)
        let events = try step(.ready, picking, pickupPositions).get().events
        #expect(events.map(\.type) == ["order.ready"])
        let ready = try #require(Kit.order(after: events, from: picking))
        #expect(ready.status == .ready && ready.readyAtMs == Self.now)
        #expect(ready.pickupExpiresAtMs == Self.now + 3 * 86_400_000)
        #expect(Kit.applied(events, to: pickupPositions) == pickupPositions)
        // Again: nothing.
        #expect(try step(.ready, ready, pickupPositions).get().events == [])
    }

    // MARK: Collection

    @Test func theRightCodeHandsTheOrderOver() throws {
        let ready = try readyOrder()
        let decision = try step(.collect(codeMatches: true), ready, pickupPositions).get()
        #expect(decision.refusal == nil)
        #expect(decision.events.map(\.type) == ["order.collected", "stock.moved", "stock.moved"])
        let collected = try #require(Kit.orderSteps(decision.events).first)
        #expect(collected.changes == [
            PositionChange(sku: "A", locationId: "PAR-01", allocated: -2), PositionChange(sku: "B", locationId: "PAR-01", allocated: -1),
        ])
        #expect(collected.order.status == .collected && collected.order.endedAtMs == Self.now)
        #expect(collected.order.lines.map(\.status) == [.collected, .collected])
        #expect(Kit.moves(decision.events).map { "\($0.sku) \($0.kind.rawValue) \($0.onHandDelta)" } == ["A fulfilment -2", "B fulfilment -1"])
        let after = Kit.applied(decision.events, to: pickupPositions)
        #expect(Kit.at(after, "A", "PAR-01") == Kit.position(3))
        #expect(Kit.at(after, "B", "PAR-01") == Kit.position(0))
        // Collecting is only from ready.
        #expect(Kit.refusal(step(.collect(codeMatches: true), pickupOrder(), pickupPositions)) == [
            .invalidTransition(status: "allocated", step: "collected"),
        ])
        #expect(Kit.refusal(step(.collect(codeMatches: true), collected.order, after)) == [.invalidTransition(status: "collected", step: "collected")])
    }

    @Test func wrongCodesAreCountedAndTheFifthLocksUntilUnlocked() throws {
        var order = try readyOrder()
        for attempt in 1...Limits.pickupCodeAttemptsMax {
            let decision = try step(.collect(codeMatches: false), order, pickupPositions).get()
            #expect(decision.events.map(\.type) == ["order.pickup-code-refused"])
            #expect(decision.refusal == Rejections(.pickupCodeWrong(attemptsLeft: Limits.pickupCodeAttemptsMax - attempt)))
            #expect(Kit.applied(decision.events, to: pickupPositions) == pickupPositions)
            order = try #require(Kit.order(after: decision.events, from: order))
            #expect(order.wrongPickupCodes == attempt)
            #expect(order.pickupLocked == (attempt == Limits.pickupCodeAttemptsMax))
            #expect(order.status == .ready)
        }
        // Locked: even the right code is refused, and nothing is recorded.
        #expect(Kit.refusal(step(.collect(codeMatches: true), order, pickupPositions)) == [.pickupLocked(orderId: "o1")])
        #expect(Kit.refusal(step(.collect(codeMatches: false), order, pickupPositions)) == [.pickupLocked(orderId: "o1")])

        // Unlocking resets the count.
        let unlock = try step(.unlock, order, pickupPositions).get().events
        #expect(unlock.map(\.type) == ["order.pickup-unlocked"])
        order = try #require(Kit.order(after: unlock, from: order))
        #expect(order.wrongPickupCodes == 0 && !order.pickupLocked)
        #expect(try step(.unlock, order, pickupPositions).get().events == [], "nothing to unlock")
        #expect(Kit.refusal(step(.unlock, pickupOrder(), pickupPositions)) == [.invalidTransition(status: "allocated", step: "unlocked")])

        // Then the right code collects.
        let collected = try step(.collect(codeMatches: true), order, pickupPositions).get()
        #expect(Kit.order(after: collected.events, from: order)?.status == .collected)
    }

    // MARK: Shipping

    @Test func shippingLinesHandsThemOverAndTheLastShipsTheOrder() throws {
        let first = try step(.ship(lineIds: ["1"], carrier: "DHL", tracking: "JD0001"), shipOrder(), shipPositions).get().events
        #expect(first.map(\.type) == ["order.shipped", "stock.moved"])
        let partly = try #require(Kit.order(after: first, from: shipOrder()))
        #expect(partly.status == .picking, "an order with lines still to ship is in progress")
        #expect(partly.lines.map(\.status) == [.shipped, .allocated])
        #expect(partly.shipments == [Shipment(carrier: "DHL", tracking: "JD0001", lines: ["1"], shippedAtMs: Self.now)])
        #expect(partly.endedAtMs == nil)
        #expect(Kit.moves(first).map(\.kind) == [.fulfilment])
        var positions = Kit.applied(first, to: shipPositions)
        #expect(Kit.at(positions, "A", "PAR-01") == Kit.position(3))

        let second = try step(.ship(lineIds: ["2"], carrier: "DHL", tracking: "JD0002"), partly, positions, at: Self.now + 1).get().events
        let shipped = try #require(Kit.order(after: second, from: partly))
        #expect(shipped.status == .shipped && shipped.endedAtMs == Self.now + 1)
        #expect(shipped.lines.map(\.status) == [.shipped, .shipped])
        #expect(shipped.shipments.count == 2)
        positions = Kit.applied(second, to: positions)
        #expect(Kit.at(positions, "B", "LIL-01") == Kit.position(3))
    }

    @Test func shippingRefusesWhatCannotShip() throws {
        let unknown = Kit.refusal(step(.ship(lineIds: ["1", "9"], carrier: "DHL", tracking: "JD0001"), shipOrder(), shipPositions))
        #expect(unknown == [.inLine(path: "lines/1", .unknownOrderLine(orderId: "o1", lineId: "9"))])
        let twice = Kit.refusal(step(.ship(lineIds: ["1", "1"], carrier: "DHL", tracking: "JD0001"), shipOrder(), shipPositions))
        #expect(twice == [.duplicate(field: "lines", value: "1")])
        let nothing = Kit.refusal(step(.ship(lineIds: [], carrier: "", tracking: "JD0001"), shipOrder(), shipPositions))
        #expect(nothing == [.invalidText(field: "carrier", lengthMax: Limits.referenceLengthMax), .missingField(field: "lines")])
        // A pickup order is never shipped.
        #expect(Kit.refusal(step(.ship(lineIds: ["1"], carrier: "DHL", tracking: "JD0001"), pickupOrder(), pickupPositions)) == [
            .invalidTransition(status: "allocated", step: "shipped"),
        ])
        // A line already shipped is not shipped again.
        let first = try step(.ship(lineIds: ["1"], carrier: "DHL", tracking: "JD0001"), shipOrder(), shipPositions).get().events
        let partly = try #require(Kit.order(after: first, from: shipOrder()))
        #expect(Kit.refusal(step(.ship(lineIds: ["1"], carrier: "DHL", tracking: "JD0003"), partly, Kit.applied(first, to: shipPositions))) == [
            .invalidTransition(status: "line 1 shipped", step: "shipped"),
        ])
        #expect(Orders.shippableLines(partly, scope: .all) == ["2"])
    }

    // MARK: Cancellation

    @Test func cancellingAnOpenOrderReleasesItsAllocations() throws {
        let events = try step(.cancel(reason: "customer"), shipOrder(), shipPositions).get().events
        #expect(events.map(\.type) == ["order.cancelled"])
        let recorded = try #require(Kit.orderSteps(events).first)
        #expect(recorded.reason == "customer")
        #expect(recorded.changes == [
            PositionChange(sku: "A", locationId: "PAR-01", allocated: -2), PositionChange(sku: "B", locationId: "LIL-01", allocated: -1),
        ])
        #expect(recorded.order.status == .cancelled && recorded.order.cancelReason == "customer" && recorded.order.endedAtMs == Self.now)
        #expect(recorded.order.lines.map(\.status) == [.cancelled, .cancelled])
        #expect(recorded.order.lines.map(\.reason) == ["customer", "customer"])
        let after = Kit.applied(events, to: shipPositions)
        #expect(Kit.at(after, "A", "PAR-01") == Kit.position(5))
        #expect(Kit.at(after, "B", "LIL-01") == Kit.position(4))

        // A ready pickup order too, without a reason.
        let ready = try readyOrder()
        let cancelled = try step(.cancel(reason: nil), ready, pickupPositions).get().events
        #expect(Kit.order(after: cancelled, from: ready)?.cancelReason == "cancelled")
        #expect(Kit.applied(cancelled, to: pickupPositions) == Kit.stock([("A", "PAR-01", 5, 0), ("B", "PAR-01", 1, 0)]))
        // A cancelled order is not cancelled again.
        #expect(Kit.refusal(step(.cancel(reason: nil), recorded.order, after)) == [.invalidTransition(status: "cancelled", step: "cancelled")])
    }

    @Test func nothingHandedOverIsCancelled() throws {
        let ready = try readyOrder()
        let collect = try step(.collect(codeMatches: true), ready, pickupPositions).get().events
        let collected = try #require(Kit.order(after: collect, from: ready))
        #expect(Kit.refusal(step(.cancel(reason: "customer"), collected, Kit.applied(collect, to: pickupPositions))) == [
            .invalidTransition(status: "collected", step: "cancelled"),
        ])
        // Nor an order with a line shipped, though other lines are still allocated.
        let ship = try step(.ship(lineIds: ["1"], carrier: "DHL", tracking: "JD0001"), shipOrder(), shipPositions).get().events
        let partly = try #require(Kit.order(after: ship, from: shipOrder()))
        #expect(Kit.refusal(step(.cancel(reason: nil), partly, Kit.applied(ship, to: shipPositions))) == [
            .invalidTransition(status: "picking", step: "cancelled"),
        ])
    }

    @Test func cancellingAnOrderWithALineInTransitReleasesOnlyWhatIsAllocated() throws {
        let positions = Kit.stock([("A", "PAR-01", 5), ("B", "WH-01", 4)])
        let created = try create([RequestedLine(sku: "A", quantity: 1), RequestedLine(sku: "B", quantity: 2)], .pickup(locationId: "PAR-01"), positions).get()
        let order = try #require(Kit.order(after: created))
        var after = Kit.applied(created, to: positions)
        let events = try step(.cancel(reason: "customer"), order, after).get().events
        #expect(Kit.orderSteps(events).first?.changes == [PositionChange(sku: "A", locationId: "PAR-01", allocated: -1)])
        #expect(Kit.order(after: events, from: order)?.lines.map(\.status) == [.cancelled, .cancelled])
        after = Kit.applied(events, to: after)
        #expect(Kit.at(after, "A", "PAR-01") == Kit.position(5))
        #expect(Kit.at(after, "B", "PAR-01") == Kit.position(0, incoming: 2), "the transfer is still on its way")

        // When it arrives, its units are the store's own: the cancelled order takes nothing.
        let cancelled = try #require(Kit.order(after: events, from: order))
        let transfer = Transfers.evolve(nil, try #require(created.first { if case .transfer = $0 { true } else { false } }))
        let received = try Transfers.decide(receive: transfer, received: [(sku: "B", quantity: 2)], order: cancelled, nowMs: Self.now + 5, positions: after).get()
        #expect(received.map(\.type) == ["transfer.received", "stock.moved"])
        #expect(Kit.at(Kit.applied(received, to: after), "B", "PAR-01") == Kit.position(2))
    }

    // MARK: Not found

    @Test func aLineNotFoundIsLostThereAndReSourcedElsewhere() throws {
        // Given 2 A allocated at PAR-01 for a Paris order; PAR-02 has 3, Lille 10.
        let order = Order(
            id: "o1", orderNumber: "WEB-1", status: .picking, holdId: nil, reference: nil, fulfilment: Self.toParis,
            lines: [OrderLine(id: "1", sku: "A", quantity: 2, locationId: "PAR-01", status: .allocated)], createdAtMs: Self.now - 1_000)
        var positions = Kit.stock([("A", "PAR-01", 5, 2), ("A", "PAR-02", 3, 0), ("A", "LIL-01", 10, 0)])

        // When PAR-01 cannot find it.
        let events = try step(.notFound(lineId: "1"), order, positions, resourcing: true).get().events

        // Then the line is not found, a replacement at PAR-02 (the nearest other) replaces it,
        // and PAR-01 loses the units.
        #expect(events.map(\.type) == ["order.line-not-found", "stock.moved"])
        let recorded = try #require(Kit.orderSteps(events).first)
        #expect(recorded.lineId == "1" && recorded.reason == "not-found")
        #expect(recorded.order.lines == [
            OrderLine(id: "1", sku: "A", quantity: 2, locationId: "PAR-01", status: .notFound, reason: "not-found"),
            OrderLine(id: "2", sku: "A", quantity: 2, locationId: "PAR-02", status: .allocated, replaces: "1"),
        ])
        #expect(recorded.order.status == .picking)
        #expect(recorded.changes == [
            PositionChange(sku: "A", locationId: "PAR-01", allocated: -2), PositionChange(sku: "A", locationId: "PAR-02", allocated: 2),
        ])
        #expect(recorded.assigned == ["PAR-02"])
        #expect(Kit.moves(events) == [StockMoved(
            sku: "A", locationId: "PAR-01", kind: .loss, quantity: 2, onHandDelta: -2, onHandAfter: 3, reason: nil, reference: "o1",
            occurredAtMs: Self.now)])
        positions = Kit.applied(events, to: positions)
        #expect(Kit.at(positions, "A", "PAR-01") == Kit.position(3))
        #expect(Kit.at(positions, "A", "PAR-02") == Kit.position(3, allocated: 2))

        // And when PAR-02 cannot find it either, PAR-01 is not tried again (though it has 3 free):
        // Lille serves it.
        let second = try step(.notFound(lineId: "2"), recorded.order, positions, resourcing: true).get().events
        let again = try #require(Kit.orderSteps(second).first)
        #expect(again.order.lines.last == OrderLine(id: "3", sku: "A", quantity: 2, locationId: "LIL-01", status: .allocated, replaces: "2"))
        #expect(again.assigned == ["LIL-01"])
        positions = Kit.applied(second, to: positions)
        #expect(Kit.at(positions, "A", "PAR-02") == Kit.position(1))
        #expect(Kit.at(positions, "A", "LIL-01") == Kit.position(10, allocated: 2))
        #expect(Kit.at(positions, "A", "PAR-01") == Kit.position(3))
    }

    @Test func aLineNothingElseCanServeIsCancelledAndSoIsAnOrderLeftWithNothing() throws {
        let order = Order(
            id: "o1", orderNumber: "WEB-1", status: .allocated, holdId: nil, reference: nil, fulfilment: Self.toParis,
            lines: [OrderLine(id: "1", sku: "A", quantity: 2, locationId: "PAR-01", status: .allocated)], createdAtMs: Self.now - 1_000)
        let positions = Kit.stock([("A", "PAR-01", 5, 2)])
        let events = try step(.notFound(lineId: "1"), order, positions, resourcing: true).get().events
        #expect(events.map(\.type) == ["order.line-not-found", "stock.moved"])
        let recorded = try #require(Kit.orderSteps(events).first)
        #expect(recorded.order.lines == [OrderLine(id: "1", sku: "A", quantity: 2, locationId: "PAR-01", status: .cancelled, reason: "not-found")])
        #expect(recorded.order.status == .cancelled && recorded.order.cancelReason == "stock" && recorded.order.endedAtMs == Self.now)
        #expect(recorded.changes == [PositionChange(sku: "A", locationId: "PAR-01", allocated: -2)])
        #expect(recorded.assigned == [])
        #expect(Kit.at(Kit.applied(events, to: positions), "A", "PAR-01") == Kit.position(3))

        // With another line still to serve, the order goes on.
        let two = shipOrder()
        let partial = try step(.notFound(lineId: "1"), two, shipPositions, resourcing: true).get().events
        let goesOn = try #require(Kit.order(after: partial, from: two))
        #expect(goesOn.status == .allocated && goesOn.cancelReason == nil)
        #expect(goesOn.lines.map(\.status) == [.cancelled, .allocated])
        let after = Kit.applied(partial, to: shipPositions)
        #expect(Kit.at(after, "A", "PAR-01") == Kit.position(3))
        #expect(Kit.at(after, "B", "LIL-01") == Kit.position(4, allocated: 1))
    }

    @Test func aPickupLineNotFoundAtTheStoreComesByTransfer() throws {
        let positions = Kit.stock([("A", "PAR-01", 5, 2), ("B", "PAR-01", 1, 1), ("A", "WH-01", 6, 0)])
        let events = try step(.notFound(lineId: "1"), pickupOrder(), positions, resourcing: true).get().events
        #expect(events.map(\.type) == ["stock.moved", "transfer.dispatched", "order.line-not-found", "stock.moved"])
        let recorded = try #require(Kit.orderSteps(events).first)
        #expect(recorded.order.lines.last == OrderLine(
            id: "3", sku: "A", quantity: 2, locationId: "WH-01", status: .inTransit, transferId: "t7", replaces: "1"))
        #expect(recorded.changes == [PositionChange(sku: "A", locationId: "PAR-01", allocated: -2)])
        #expect(recorded.assigned == ["WH-01"])
        #expect(Kit.moves(events).map { "\($0.kind.rawValue)@\($0.locationId)" } == ["transfer-out@WH-01", "loss@PAR-01"])
        let after = Kit.applied(events, to: positions)
        #expect(Kit.at(after, "A", "PAR-01") == Kit.position(3, incoming: 2))
        #expect(Kit.at(after, "A", "WH-01") == Kit.position(4))
        // Ready waits for the transfer.
        #expect(Kit.refusal(step(.ready, recorded.order, after)) == [.linesInTransit(orderId: "o1")])
    }

    @Test func aLineNotFoundAfterTheOthersShippedLeavesTheOrderShipped() throws {
        let ship = try step(.ship(lineIds: ["2"], carrier: "DHL", tracking: "JD0001"), shipOrder(), shipPositions).get().events
        let partly = try #require(Kit.order(after: ship, from: shipOrder()))
        let positions = Kit.applied(ship, to: shipPositions)
        let events = try step(.notFound(lineId: "1"), partly, positions, resourcing: true).get().events
        let order = try #require(Kit.order(after: events, from: partly))
        #expect(order.status == .shipped && order.cancelReason == nil)
        #expect(order.lines.map(\.status) == [.cancelled, .shipped])
        #expect(Kit.at(Kit.applied(events, to: positions), "A", "PAR-01") == Kit.position(3))
    }

    @Test func notFoundIsForAnAllocatedLineOfAnOrderNotHandedOver() throws {
        #expect(Kit.refusal(step(.notFound(lineId: "9"), shipOrder(), shipPositions, resourcing: true)) == [
            .unknownOrderLine(orderId: "o1", lineId: "9"),
        ])
        let ready = try readyOrder()
        #expect(Kit.refusal(step(.notFound(lineId: "1"), ready, pickupPositions, resourcing: true)) == [
            .invalidTransition(status: "ready", step: "changed"),
        ])
        var order = shipOrder()
        order.lines[0].status = .notFound
        #expect(Kit.refusal(step(.notFound(lineId: "1"), order, shipPositions, resourcing: true)) == [
            .invalidTransition(status: "line 1 not-found", step: "reported not found"),
        ])
    }

    // MARK: No-shows

    @Test func aReadyOrderPastItsWindowExpiresAndReleasesItsStock() throws {
        let ready = try readyOrder()
        let due = try #require(ready.pickupExpiresAtMs)
        // Not yet due: nothing.
        #expect(try step(.expire, ready, pickupPositions, at: due - 1).get().events == [])
        // Not ready: nothing.
        #expect(try step(.expire, pickupOrder(), pickupPositions, at: due + 1).get().events == [])

        let events = try step(.expire, ready, pickupPositions, at: due).get().events
        #expect(events.map(\.type) == ["order.expired"])
        let recorded = try #require(Kit.orderSteps(events).first)
        #expect(recorded.reason == "not-collected")
        #expect(recorded.order.status == .expired && recorded.order.endedAtMs == due)
        #expect(recorded.order.lines.map(\.status) == [.expired, .expired])
        #expect(recorded.order.lines.map(\.reason) == ["not-collected", "not-collected"])
        #expect(recorded.changes == [
            PositionChange(sku: "A", locationId: "PAR-01", allocated: -2), PositionChange(sku: "B", locationId: "PAR-01", allocated: -1),
        ])
        let after = Kit.applied(events, to: pickupPositions)
        #expect(Kit.at(after, "A", "PAR-01") == Kit.position(5))
        #expect(Kit.at(after, "B", "PAR-01") == Kit.position(1))
        // Expired is final.
        #expect(try step(.expire, recorded.order, after, at: due + 1).get().events == [])
    }

    // MARK: Returns

    @Test func returnsAreBoundedByWhatWasHandedOverAndNotYetBrought() throws {
        // Given the pickup order collected at PAR-01.
        let ready = try readyOrder()
        let collect = try step(.collect(codeMatches: true), ready, pickupPositions).get().events
        let collected = try #require(Kit.order(after: collect, from: ready))
        var positions = Kit.applied(collect, to: pickupPositions)
        positions[StockKey(sku: "A", locationId: "PAR-02")] = Kit.position(4)

        // When 1 A comes back to PAR-02 for the shelf and 1 B damaged.
        let events = try step(
            .returned(locationId: "PAR-02", lines: [ReturnLine(sku: "A", quantity: 1, restock: true), ReturnLine(sku: "B", quantity: 1, restock: false)]),
            collected, positions, at: Self.now + 10).get().events

        // Then the order records it, and only the restocked unit joins PAR-02's stock.
        #expect(events.map(\.type) == ["order.returned", "stock.moved"])
        let recorded = try #require(Kit.orderSteps(events).first)
        #expect(recorded.changes == [])
        #expect(recorded.order.status == .collected)
        #expect(recorded.order.lines.map(\.returned) == [1, 0])
        #expect(recorded.order.lines.map(\.damaged) == [0, 1])
        #expect(recorded.order.lines.map(\.returnable) == [1, 0])
        #expect(recorded.order.returns == [OrderReturn(
            locationId: "PAR-02", lines: [ReturnLine(sku: "A", quantity: 1, restock: true), ReturnLine(sku: "B", quantity: 1, restock: false)],
            returnedAtMs: Self.now + 10)])
        #expect(Kit.moves(events) == [StockMoved(
            sku: "A", locationId: "PAR-02", kind: .customerReturn, quantity: 1, onHandDelta: 1, onHandAfter: 5, reason: nil, reference: "o1",
            occurredAtMs: Self.now + 10)])
        positions = Kit.applied(events, to: positions)
        #expect(Kit.at(positions, "A", "PAR-02") == Kit.position(5))
        #expect(Kit.at(positions, "B", "PAR-02") == .empty)
        #expect(Kit.at(positions, "A", "PAR-01") == Kit.position(3))

        // And a second return may not bring back more than is left: 1 A, no B, no C.
        let over = Kit.refusal(step(
            .returned(locationId: "PAR-02", lines: [
                ReturnLine(sku: "A", quantity: 2, restock: true), ReturnLine(sku: "B", quantity: 1, restock: true),
                ReturnLine(sku: "C", quantity: 1, restock: true),
            ]), recorded.order, positions))
        #expect(over == [
            .inLine(path: "lines/0", .outOfRange(field: "quantity", lower: "1", upper: "1 (handed over and not yet returned)")),
            .inLine(path: "lines/1", .outOfRange(field: "quantity", lower: "1", upper: "0 (handed over and not yet returned)")),
            .inLine(path: "lines/2", .outOfRange(field: "quantity", lower: "1", upper: "0 (handed over and not yet returned)")),
        ])
        // Two lines of one SKU count together.
        let split = Kit.refusal(step(
            .returned(locationId: "PAR-02", lines: [ReturnLine(sku: "A", quantity: 1, restock: true), ReturnLine(sku: "A", quantity: 1, restock: false)]),
            recorded.order, positions))
        #expect(split == [.inLine(path: "lines/1", .outOfRange(field: "quantity", lower: "1", upper: "0 (handed over and not yet returned)"))])
        // The last A, damaged: no stock event.
        let damaged = try step(.returned(locationId: "PAR-01", lines: [ReturnLine(sku: "A", quantity: 1, restock: false)]), recorded.order, positions).get()
        #expect(damaged.events.map(\.type) == ["order.returned"])
        #expect(Kit.order(after: damaged.events, from: recorded.order)?.lines.map(\.returnable) == [0, 0])
    }

    @Test func returnsNeedSomethingHandedOverAndAnActiveLocation() throws {
        let nothingHanded = Kit.refusal(step(.returned(locationId: "PAR-02", lines: [ReturnLine(sku: "A", quantity: 1, restock: true)]), pickupOrder(), pickupPositions))
        #expect(nothingHanded == [.invalidTransition(status: "allocated", step: "returned")])
        let ready = try readyOrder()
        let collect = try step(.collect(codeMatches: true), ready, pickupPositions).get().events
        let collected = try #require(Kit.order(after: collect, from: ready))
        let positions = Kit.applied(collect, to: pickupPositions)
        #expect(Kit.refusal(step(.returned(locationId: "CLOSED", lines: [ReturnLine(sku: "A", quantity: 1, restock: true)]), collected, positions)) == [
            .inLine(path: "", .locationInactive(locationId: "CLOSED")),
        ])
        #expect(Kit.refusal(step(.returned(locationId: "NOWHERE", lines: []), collected, positions)) == [
            .inLine(path: "", .unknownLocation(locationId: "NOWHERE")), .missingField(field: "lines"),
        ])
        // A shipped line of an order still in progress may come back.
        let ship = try step(.ship(lineIds: ["1"], carrier: "DHL", tracking: "JD0001"), shipOrder(), shipPositions).get().events
        let partly = try #require(Kit.order(after: ship, from: shipOrder()))
        let back = try step(.returned(locationId: "PAR-01", lines: [ReturnLine(sku: "A", quantity: 2, restock: true)]), partly, Kit.applied(ship, to: shipPositions)).get()
        #expect(Kit.at(Kit.applied(back.events, to: Kit.applied(ship, to: shipPositions)), "A", "PAR-01") == Kit.position(5))
    }

    // MARK: Transfers

    @Test func aTransferNeverSendsMoreThanIsAvailable() throws {
        var positions = Kit.stock([("A", "WH-01", 5, 2)])
        let request = TransferRequest(fromLocationId: "WH-01", toLocationId: "PAR-01", lines: [TransferLine(sku: "A", quantity: 4)], reference: "T-1")
        let short = Kit.refusal(Transfers.decide(dispatch: request, transferId: "t9", nowMs: Self.now, locations: Kit.estate, positions: positions))
        #expect(short == [.inLine(path: "lines/0", .insufficientStock(sku: "A", locationId: "WH-01", requested: 4, available: 3))])

        var three = request
        three.lines[0].quantity = 3
        let events = try Transfers.decide(dispatch: three, transferId: "t9", nowMs: Self.now, locations: Kit.estate, positions: positions).get()
        #expect(events.map(\.type) == ["stock.moved", "transfer.dispatched"])
        #expect(Kit.moves(events).map(\.kind) == [.transferOut])
        let dispatched = try #require(Kit.transferSteps(events).first)
        #expect(dispatched.transfer == Transfer(
            id: "t9", status: .inTransit, fromLocationId: "WH-01", toLocationId: "PAR-01", orderId: nil, reference: "T-1",
            lines: [TransferLine(sku: "A", quantity: 3)], dispatchedAtMs: Self.now))
        #expect(events[1].stream == "transfer-t9" && events[1].locationIds == ["PAR-01", "WH-01"])
        positions = Kit.applied(events, to: positions)
        #expect(Kit.at(positions, "A", "WH-01") == Kit.position(2, allocated: 2))
        #expect(Kit.at(positions, "A", "PAR-01") == Kit.position(0, incoming: 3))

        // Between active locations only, and never to itself.
        let closed = TransferRequest(fromLocationId: "WH-01", toLocationId: "CLOSED", lines: [TransferLine(sku: "A", quantity: 1)])
        #expect(Kit.refusal(Transfers.decide(dispatch: closed, transferId: "t9", nowMs: Self.now, locations: Kit.estate, positions: positions)) == [
            .inLine(path: "toLocationId", .locationInactive(locationId: "CLOSED")),
        ])
        let itself = TransferRequest(fromLocationId: "WH-01", toLocationId: "WH-01", lines: [TransferLine(sku: "A", quantity: 1)])
        #expect(Kit.refusal(Transfers.decide(dispatch: itself, transferId: "t9", nowMs: Self.now, locations: Kit.estate, positions: positions)).map(\.code) == [
            "not-allowed",
        ])
    }

    @Test func receivingShortRecordsTheLossAndOnlyWhatArrivedJoinsTheStock() throws {
        let positions = Kit.stock([("A", "WH-01", 5), ("B", "WH-01", 5)])
        let request = TransferRequest(
            fromLocationId: "WH-01", toLocationId: "PAR-01", lines: [TransferLine(sku: "A", quantity: 3), TransferLine(sku: "B", quantity: 2)])
        let dispatch = try Transfers.decide(dispatch: request, transferId: "t9", nowMs: Self.now, locations: Kit.estate, positions: positions).get()
        let transfer = Transfers.evolve(nil, try #require(dispatch.last))
        var after = Kit.applied(dispatch, to: positions)

        // 2 A arrive, no B.
        let events = try Transfers.decide(receive: transfer, received: [(sku: "A", quantity: 2)], order: nil, nowMs: Self.now + 5, positions: after).get()
        #expect(events.map(\.type) == ["transfer.received", "stock.moved"])
        let received = try #require(Kit.transferSteps(events).first)
        #expect(received.transfer.status == .received && received.transfer.receivedAtMs == Self.now + 5)
        #expect(received.transfer.lines == [TransferLine(sku: "A", quantity: 3, received: 2, lost: 1), TransferLine(sku: "B", quantity: 2, received: 0, lost: 2)])
        #expect(received.changes == [
            PositionChange(sku: "A", locationId: "PAR-01", incoming: -3), PositionChange(sku: "B", locationId: "PAR-01", incoming: -2),
        ])
        #expect(Kit.moves(events) == [StockMoved(
            sku: "A", locationId: "PAR-01", kind: .transferIn, quantity: 2, onHandDelta: 2, onHandAfter: 2, reason: nil, reference: "t9",
            occurredAtMs: Self.now + 5)])
        after = Kit.applied(events, to: after)
        #expect(Kit.at(after, "A", "PAR-01") == Kit.position(2))
        #expect(Kit.at(after, "B", "PAR-01") == Kit.position(0))
        #expect(Kit.at(after, "A", "WH-01") == Kit.position(2))
        #expect(Kit.at(after, "B", "WH-01") == Kit.position(3))

        // Receiving twice is refused.
        let done = Transfers.evolve(transfer, events[0])
        #expect(Kit.refusal(Transfers.decide(receive: done, received: [(sku: "A", quantity: 1)], order: nil, nowMs: Self.now + 6, positions: after)) == [
            .invalidTransition(status: "received", step: "received"),
        ])
        // More than was sent, or a SKU that was not sent, is refused.
        let over = Kit.refusal(Transfers.decide(
            receive: transfer, received: [(sku: "A", quantity: 4), (sku: "C", quantity: 1)], order: nil, nowMs: Self.now + 6, positions: after))
        #expect(over == [
            .inLine(path: "lines/0", .outOfRange(field: "quantity", lower: "0", upper: "3")),
            .inLine(path: "lines/1", .outOfRange(field: "quantity", lower: "0", upper: "0")),
            .inLine(path: "lines/1", .notAllowed(field: "sku", reason: "the transfer did not send 'C'")),
        ])
    }

    @Test func aTransferMadeForAPickupOrderAllocatesItsLineAtTheStoreWhenReceived() throws {
        // Given a pickup order at PAR-01 whose B comes from the warehouse.
        var positions = Kit.stock([("A", "PAR-01", 5), ("B", "WH-01", 4)])
        let created = try create([RequestedLine(sku: "A", quantity: 1), RequestedLine(sku: "B", quantity: 2)], .pickup(locationId: "PAR-01"), positions).get()
        var order = try #require(Kit.order(after: created))
        let transfer = Transfers.evolve(nil, try #require(created.first { if case .transfer = $0 { true } else { false } }))
        positions = Kit.applied(created, to: positions)

        // When the transfer arrives whole.
        let events = try Transfers.decide(receive: transfer, received: [(sku: "B", quantity: 2)], order: order, nowMs: Self.now + 7, positions: positions).get()

        // Then B joins the store's stock and is allocated there to the order.
        #expect(events.map(\.type) == ["transfer.received", "stock.moved", "order.transfer-received"])
        let recorded = try #require(Kit.orderSteps(events).first)
        #expect(recorded.changes == [PositionChange(sku: "B", locationId: "PAR-01", allocated: 2)])
        #expect(recorded.order.lines[1] == OrderLine(id: "2", sku: "B", quantity: 2, locationId: "PAR-01", status: .allocated, transferId: "t1"))
        #expect(recorded.order.status == .allocated && recorded.order.updatedAtMs == Self.now + 7)
        positions = Kit.applied(events, to: positions)
        #expect(Kit.at(positions, "B", "PAR-01") == Kit.position(2, allocated: 2))
        #expect(Kit.at(positions, "B", "WH-01") == Kit.position(2))
        order = try #require(Kit.order(after: events, from: order))

        // And the order can now be made ready and collected, leaving the store with what it had.
        let ready = try step(.ready, order, positions, at: Self.now + 8).get().events
        order = try #require(Kit.order(after: ready, from: order))
        let collect = try step(.collect(codeMatches: true), order, positions, at: Self.now + 9).get().events
        positions = Kit.applied(collect, to: positions)
        #expect(Kit.order(after: collect, from: order)?.status == .collected)
        #expect(Kit.at(positions, "A", "PAR-01") == Kit.position(4))
        #expect(Kit.at(positions, "B", "PAR-01") == Kit.position(0))
    }

    @Test func aTransferArrivingShortCancelsTheOrderLineItWasFor() throws {
        var positions = Kit.stock([("A", "PAR-01", 5), ("B", "WH-01", 4)])
        let created = try create([RequestedLine(sku: "A", quantity: 1), RequestedLine(sku: "B", quantity: 2)], .pickup(locationId: "PAR-01"), positions).get()
        let order = try #require(Kit.order(after: created))
        let transfer = Transfers.evolve(nil, try #require(created.first { if case .transfer = $0 { true } else { false } }))
        positions = Kit.applied(created, to: positions)
        let events = try Transfers.decide(receive: transfer, received: [(sku: "B", quantity: 1)], order: order, nowMs: Self.now + 7, positions: positions).get()
        let recorded = try #require(Kit.orderSteps(events).first)
        #expect(recorded.changes == [])
        #expect(recorded.order.lines[1].status == .cancelled && recorded.order.lines[1].reason == "lost-in-transfer")
        #expect(recorded.order.status == .allocated, "line 1 is still to collect")
        positions = Kit.applied(events, to: positions)
        #expect(Kit.at(positions, "B", "PAR-01") == Kit.position(1), "what arrived is the store's stock")
    }

    // MARK: Small readers

    @Test func capacityCountsByUtcDay() {
        #expect(Orders.day(ofMs: 0) == 0)
        #expect(Orders.day(ofMs: 86_399_999) == 0)
        #expect(Orders.day(ofMs: 86_400_000) == 1)
        #expect(Orders.day(ofMs: -1) == -1)
        #expect(Orders.day(ofMs: -86_400_000) == -1)
        #expect(Orders.day(ofMs: -86_400_001) == -2)
    }

    @Test func anOrderIsQueuedWhereItsLinesAreServed() {
        var order = pickupOrder()
        order.lines[1].locationId = "WH-01"
        order.lines[1].status = .inTransit
        #expect(order.locationIds == ["PAR-01", "WH-01"])
        #expect(order.queueLocationIds == ["PAR-01"], "a source that sent its line on by transfer has no more work")
        var ship = shipOrder()
        ship.lines[0].status = .notFound
        #expect(ship.queueLocationIds == ["LIL-01"])
        ship.lines[1].status = .cancelled
        #expect(ship.queueLocationIds == ["LIL-01", "PAR-01"], "an order served nowhere stays in every queue it was in")
    }
}

/// Given/when/then tests of the sourcing explanation: why each location of an estate was or
/// was not chosen.
@Suite struct SourcingExplanationTests {
    typealias Kit = OrderTestKit

    /// Around Paris: one that serves, one not needed, one empty, one at its safety stock, one
    /// that does not ship, one full for the day, one in New York, one closed.
    static let estate: [String: Location] = [
        "CHOSEN": Kit.location("CHOSEN"),
        "SPARE": Kit.location("SPARE", latitude: 48.90, longitude: 2.40),
        "EMPTY": Kit.location("EMPTY", latitude: 48.87, longitude: 2.33),
        "SAFE": Kit.location("SAFE", latitude: 48.85, longitude: 2.35, safety: 2),
        "NOSHIP": Kit.location("NOSHIP", latitude: 48.86, longitude: 2.35, ships: false),
        "FULL": Kit.location("FULL", latitude: 48.86, longitude: 2.36, capacity: 10),
        "FAR": Kit.location("FAR", latitude: 40.71, longitude: -74.0),
        "CLOSED": Kit.location("CLOSED", latitude: 48.86, longitude: 2.34, active: false),
    ]
    static let positions = Kit.stock([
        ("A", "CHOSEN", 5), ("A", "SPARE", 5), ("A", "SAFE", 3), ("A", "NOSHIP", 9), ("A", "FULL", 9), ("A", "FAR", 9), ("A", "CLOSED", 9),
    ])

    func source(_ demands: [Sourcing.Demand], _ fulfilment: Fulfilment, excluding: Set<String> = []) throws -> SourcingOutcome {
        try Sourcing.source(
            demands, fulfilment: fulfilment, input: SourcingInput(locations: Self.estate, positions: Self.positions, ordersToday: ["FULL": 10]),
            excluding: excluding
        ).get()
    }

    func reasons(_ outcome: SourcingOutcome) -> [String: [String]] {
        Dictionary(uniqueKeysWithValues: outcome.candidates.map { verdict in
            (verdict.locationId, verdict.reasons.map { reason in reason.sku.map { "\(reason.reason.rawValue):\($0)" } ?? reason.reason.rawValue })
        })
    }

    @Test func everyLocationOfTheEstateHasItsVerdict() throws {
        let outcome = try source([Sourcing.Demand(line: 0, sku: "A", quantity: 2)], .ship(latitude: Kit.paris.latitude, longitude: Kit.paris.longitude))
        #expect(outcome.lines.map { "\($0.line) \($0.sku) \($0.quantity)@\($0.locationId) \($0.viaTransfer)" } == ["0 A 2@CHOSEN false"])
        #expect(outcome.unfilled == [] && outcome.locations == ["CHOSEN"])
        #expect(reasons(outcome) == [
            "CHOSEN": [], "SPARE": ["not-needed"], "EMPTY": ["no-stock:A"], "SAFE": ["below-safety-stock:A"], "NOSHIP": ["capability"],
            "FULL": ["capacity-reached"], "FAR": ["too-far"], "CLOSED": ["inactive"],
        ])
        #expect(outcome.candidates.filter(\.chosen).map(\.locationId) == ["CHOSEN"])
        // Nearest first, each with its distance.
        #expect(outcome.candidates.count == Self.estate.count)
        let distances = outcome.candidates.compactMap(\.distanceKilometres)
        #expect(distances == distances.sorted())
        #expect(outcome.candidates.last?.locationId == "FAR")
        #expect((outcome.candidates.last?.distanceKilometres ?? 0) > Limits.sourcingDistanceKilometresMax)
    }

    @Test func stockReasonsNameTheSkuTheLocationLacks() throws {
        // SPARE has A but no B; CHOSEN has neither B: nobody serves B.
        let outcome = try source(
            [Sourcing.Demand(line: 0, sku: "A", quantity: 2), Sourcing.Demand(line: 1, sku: "B", quantity: 1)],
            .ship(latitude: Kit.paris.latitude, longitude: Kit.paris.longitude))
        #expect(outcome.unfilled == [UnfilledLine(line: 1, sku: "B", locationId: nil, requested: 1, available: 0)])
        let why = reasons(outcome)
        #expect(why["EMPTY"] == ["no-stock:A", "no-stock:B"])
        #expect(why["SAFE"] == ["below-safety-stock:A", "no-stock:B"])
        #expect(why["SPARE"] == ["no-stock:B"])
        #expect(why["CHOSEN"] == [])
        // A line no one serves whole is split in rank order: CHOSEN's 5, then the nearest with
        // any (SAFE's 1 above its safety stock), never SAFE's safety stock.
        let big = try source([Sourcing.Demand(line: 0, sku: "A", quantity: 6)], .ship(latitude: Kit.paris.latitude, longitude: Kit.paris.longitude))
        #expect(big.lines.map { "\($0.quantity)@\($0.locationId)" } == ["5@CHOSEN", "1@SAFE"])
    }

    @Test func anExcludedLocationIsNeverChosen() throws {
        let outcome = try source(
            [Sourcing.Demand(line: 0, sku: "A", quantity: 2)], .ship(latitude: Kit.paris.latitude, longitude: Kit.paris.longitude), excluding: ["CHOSEN"])
        #expect(outcome.locations == ["SPARE"])
        #expect(reasons(outcome)["CHOSEN"] == ["no-stock:A"])
    }

    @Test func aPickupIsServedByTheStoreFirstAndTheRestByTransfer() throws {
        var estate = Self.estate
        estate["WH"] = Kit.location("WH", latitude: 48.80, longitude: 2.30, kind: .warehouse, pickup: false)
        var positions = Self.positions
        positions[StockKey(sku: "B", locationId: "WH")] = Kit.position(3)
        let outcome = try Sourcing.source(
            [Sourcing.Demand(line: 0, sku: "A", quantity: 2), Sourcing.Demand(line: 1, sku: "B", quantity: 1)], fulfilment: .pickup(locationId: "CHOSEN"),
            input: SourcingInput(locations: estate, positions: positions, ordersToday: ["FULL": 10])
        ).get()
        #expect(outcome.lines.map { "\($0.line) \($0.sku)@\($0.locationId) \($0.viaTransfer)" } == ["0 A@CHOSEN false", "1 B@WH true"])
        #expect(outcome.locations == ["CHOSEN", "WH"])
        let store = try #require(outcome.candidates.first)
        #expect(store.locationId == "CHOSEN" && store.chosen && store.distanceKilometres == 0)
        #expect(store.reasons.map(\.reason) == [.noStock] && store.reasons.map(\.sku) == ["B"])
        #expect(outcome.candidates.filter { $0.locationId == "CHOSEN" }.count == 1)
        #expect(outcome.candidates.first { $0.locationId == "WH" }?.chosen == true)

        // A pickup point that cannot be one is refused outright.
        let refused = Sourcing.source(
            [Sourcing.Demand(line: 0, sku: "A", quantity: 1)], fulfilment: .pickup(locationId: "WH"),
            input: SourcingInput(locations: estate, positions: positions, ordersToday: [:]))
        #expect(Kit.refusal(refused) == [.inLine(path: "fulfilment", .locationLacksCapability(locationId: "WH", capability: "be a pickup point"))])
    }
}
