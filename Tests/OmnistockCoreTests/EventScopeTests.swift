import OmnistockCore
import Testing

@Suite struct EventScopeTests {
    static let parisOne: LocationScope = .only(["PAR-01"])
    static let both = [
        HoldLine(id: "1", sku: "A", locationId: "PAR-01", quantity: 1), HoldLine(id: "2", sku: "A", locationId: "PAR-02", quantity: 2),
    ]

    func shown(_ event: LedgerEvent, to scope: LocationScope = Self.parisOne) -> LedgerEvent? {
        switch Access.visibility(of: event, to: scope) {
        case .whole: event
        case .part(let part): part
        case .hidden: nil
        }
    }

    @Test func holdsShowOnlyTheLinesAndUnfilledLinesOfTheCallersLocations() throws {
        let placed = LedgerEvent.holdPlaced(HoldPlaced(
            holdId: "h", reference: "cart", fulfilment: nil, allowPartial: true, lines: Self.both,
            unfilled: [
                UnfilledLine(line: 2, sku: "B", locationId: "PAR-01", requested: 3, available: 1),
                UnfilledLine(line: 3, sku: "B", locationId: "PAR-02", requested: 3, available: 2),
                // Sourced by the engine: its `available` sums every candidate, competitors included.
                UnfilledLine(line: 4, sku: "C", locationId: nil, requested: 9, available: 5),
            ],
            expiresAtMs: 2, occurredAtMs: 1))
        guard case .holdPlaced(let part)? = shown(placed) else { Issue.record("not shown in part"); return }
        #expect(part.lines.map(\.locationId) == ["PAR-01"] && part.unfilled.map(\.line) == [2])
        #expect(Access.visibility(of: placed, to: .all) == .whole)
        #expect(Access.visibility(of: placed, to: .only(["PAR-01", "PAR-02"])) != .whole, "the sourced unfilled line still goes")
        #expect(Access.visibility(of: placed, to: .only(["LIL-01"])) == .hidden)

        let own = LedgerEvent.holdReleased(HoldReleased(holdId: "h", lines: [Self.both[0]], occurredAtMs: 3))
        #expect(Access.visibility(of: own, to: Self.parisOne) == .whole)
        guard case .holdExpired(let expired)? = shown(.holdExpired(HoldExpired(holdId: "h", lines: Self.both, occurredAtMs: 2, recordedAtMs: 3)))
        else { Issue.record("expiry not shown"); return }
        #expect(expired.lines.map(\.id) == ["1"])
        guard case .holdExtended(let extended)? = shown(.holdExtended(HoldExtended(
            holdId: "h", previousExpiresAtMs: 2, expiresAtMs: 4, locationIds: ["PAR-01", "PAR-02"], occurredAtMs: 1)))
        else { Issue.record("extension not shown"); return }
        #expect(extended.locationIds == ["PAR-01"])
        #expect(shown(.holdConverted(HoldConverted(holdId: "h", orderId: "o", lines: [Self.both[1]], occurredAtMs: 3))) == nil)
    }

    func order(_ fulfilment: Fulfilment) -> Order {
        var order = Order(
            id: "o", orderNumber: "WEB-1", status: .allocated, holdId: nil, reference: nil, fulfilment: fulfilment,
            lines: [
                OrderLine(id: "1", sku: "A", quantity: 1, locationId: "PAR-01", status: .shipped),
                OrderLine(id: "2", sku: "A", quantity: 2, locationId: "PAR-02", status: .shipped),
            ],
            createdAtMs: 1)
        order.shipments = [
            Shipment(carrier: "c", tracking: "t1", lines: ["1", "2"], shippedAtMs: 2), Shipment(carrier: "c", tracking: "t2", lines: ["2"], shippedAtMs: 2),
        ]
        order.returns = [
            OrderReturn(locationId: "PAR-01", lines: [ReturnLine(sku: "A", quantity: 1, restock: true)], returnedAtMs: 3),
            OrderReturn(locationId: "LIL-01", lines: [ReturnLine(sku: "A", quantity: 1, restock: false)], returnedAtMs: 3),
        ]
        return order
    }

    @Test func ordersShowTheirOwnLinesAndThePickupStoreSeesThemAll() throws {
        let changes = [PositionChange(sku: "A", locationId: "PAR-01", allocated: -1), PositionChange(sku: "A", locationId: "PAR-02", allocated: -2)]
        let shipped = LedgerEvent.order(OrderRecorded(
            step: .shipped, order: order(.ship(latitude: 48.86, longitude: 2.34)), changes: changes, assigned: ["PAR-01", "PAR-02"],
            lineId: "2", occurredAtMs: 2))
        guard case .order(let part)? = shown(shipped) else { Issue.record("not shown in part"); return }
        #expect(part.order.lines.map(\.id) == ["1"] && part.changes.map(\.locationId) == ["PAR-01"] && part.assigned == ["PAR-01"])
        #expect(part.order.shipments.map(\.lines) == [["1"]], "a shipment of another store's line alone goes")
        #expect(part.order.returns.map(\.locationId) == ["PAR-01"] && part.lineId == nil)

        // The pickup store hands the whole order over: every line, but only its own positions' changes.
        let atPickup = LedgerEvent.order(OrderRecorded(
            step: .created, order: order(.pickup(locationId: "PAR-01")), changes: changes, occurredAtMs: 1))
        guard case .order(let pickup)? = shown(atPickup) else { Issue.record("not shown in part"); return }
        #expect(pickup.order.lines.map(\.id) == ["1", "2"] && pickup.changes.map(\.locationId) == ["PAR-01"])
        // The store that sends a line sees that line and where it goes.
        guard case .order(let source)? = shown(atPickup, to: .only(["PAR-02"])) else { Issue.record("not shown to the source"); return }
        #expect(source.order.lines.map(\.id) == ["2"] && source.order.pickupLocationId == "PAR-01" && source.changes.map(\.locationId) == ["PAR-02"])
    }

    @Test func aReturnTakenBackAtAnotherStoreIsThatStoresEventToo() throws {
        // Lines at PAR-01 and PAR-02; the step records the return taken back at LIL-01 (the last).
        let returned = LedgerEvent.order(OrderRecorded(step: .returned, order: order(.ship(latitude: 48.86, longitude: 2.34)), changes: [], occurredAtMs: 3))
        #expect(returned.locationIds == ["LIL-01", "PAR-01", "PAR-02"])
        guard case .order(let part)? = shown(returned, to: .only(["LIL-01"])) else { Issue.record("hidden from the store that took it back"); return }
        #expect(part.order.lines.isEmpty && part.order.returns.map(\.locationId) == ["LIL-01"])
        // Another step of the same order is not LIL-01's.
        let shipped = LedgerEvent.order(OrderRecorded(step: .shipped, order: order(.ship(latitude: 48.86, longitude: 2.34)), changes: [], occurredAtMs: 2))
        #expect(shown(shipped, to: .only(["LIL-01"])) == nil)
    }

    @Test func transfersNameBothEndsAndOnlyTheirOwnChanges() throws {
        let transfer = Transfer(
            id: "t", status: .inTransit, fromLocationId: "PAR-02", toLocationId: "PAR-01", orderId: nil, reference: nil,
            lines: [TransferLine(sku: "A", quantity: 3)], dispatchedAtMs: 1)
        let dispatched = LedgerEvent.transfer(TransferRecorded(
            step: .dispatched, transfer: transfer, changes: [PositionChange(sku: "A", locationId: "PAR-01", incoming: 3)], occurredAtMs: 1))
        #expect(Access.visibility(of: dispatched, to: Self.parisOne) == .whole)
        guard case .transfer(let source)? = shown(dispatched, to: .only(["PAR-02"])) else { Issue.record("not shown to the source"); return }
        #expect(source.transfer == transfer && source.changes.isEmpty)
        #expect(shown(dispatched, to: .only(["LIL-01"])) == nil)
    }

    @Test func aLocationsOwnEventsAreWholeOrHidden() {
        let moved = LedgerEvent.stockMoved(StockMoved(
            sku: "A", locationId: "PAR-02", kind: .receipt, quantity: 1, onHandDelta: 1, onHandAfter: 1, reason: nil, reference: nil,
            occurredAtMs: 1))
        #expect(Access.visibility(of: moved, to: .only(["PAR-02"])) == .whole)
        #expect(Access.visibility(of: moved, to: Self.parisOne) == .hidden)
    }
}
