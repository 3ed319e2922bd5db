import OmnistockCore
import Testing

@Suite struct TimeTravelAndRadiusTests {
    static let key = StockKey(sku: "A", locationId: "PAR-01")

    @Test func unwindingTakesBackEachEventsChangeToThePosition() {
        let now = StockPosition(onHand: 7, held: 0, allocated: 2, safetyStock: nil, incoming: 3)
        let converted = LedgerEvent.holdConverted(HoldConverted(
            holdId: "h", orderId: "o", lines: [HoldLine(id: "1", sku: "A", locationId: "PAR-01", quantity: 2)], occurredAtMs: 5))
        let created = LedgerEvent.order(OrderRecorded(
            step: .created, order: Order(
                id: "o", orderNumber: "1", status: .allocated, holdId: "h", reference: nil, fulfilment: .pickup(locationId: "PAR-01"),
                lines: [], createdAtMs: 5),
            changes: [PositionChange(sku: "A", locationId: "PAR-01", allocated: 2), PositionChange(sku: "B", locationId: "PAR-01", allocated: 9)],
            occurredAtMs: 5))
        let sale = LedgerEvent.stockMoved(StockMoved(
            sku: "A", locationId: "PAR-01", kind: .sale, quantity: 1, onHandDelta: -1, onHandAfter: 7, reason: nil, reference: nil, occurredAtMs: 6))
        let elsewhere = LedgerEvent.stockMoved(StockMoved(
            sku: "A", locationId: "PAR-02", kind: .receipt, quantity: 4, onHandDelta: 4, onHandAfter: 4, reason: nil, reference: nil, occurredAtMs: 6))
        let sent = LedgerEvent.transfer(TransferRecorded(
            step: .dispatched,
            transfer: Transfer(
                id: "t", status: .inTransit, fromLocationId: "PAR-02", toLocationId: "PAR-01", orderId: nil, reference: nil,
                lines: [TransferLine(sku: "A", quantity: 3)], dispatchedAtMs: 7),
            changes: [PositionChange(sku: "A", locationId: "PAR-01", incoming: 3)], occurredAtMs: 7))
        // In any order: the changes add up.
        for events in [[converted, created, sale, elsewhere, sent], [sent, elsewhere, sale, created, converted]] {
            let before = events.reduce(now) { StockLedger.unwind($0, $1, at: Self.key) }
            #expect(before == StockPosition(onHand: 8, held: 2, allocated: 0, safetyStock: nil, incoming: 0))
        }
    }

    func location(_ id: String, kilometresNorth: Double) -> Location {
        Location(
            id: id, name: id, kind: .store, latitude: 48.85 + kilometresNorth / 111.195, longitude: 2.35,
            capabilities: .init(pickup: true, ships: true), dailyCapacity: 10, priority: 1, pickupWindowDays: 7, active: true)
    }

    @Test func theRadiusBoundsTheLocationsAndTheTotalsNearestFirst() {
        let stock = StockPosition(onHand: 2, held: 0, allocated: 0, safetyStock: nil, incoming: 0)
        let positions = [
            (location("A-FAR", kilometresNorth: 9.9), stock), (location("B-EDGE", kilometresNorth: 1), stock),
            (location("C-NEAR", kilometresNorth: 0.3), stock), (location("D-NEAR", kilometresNorth: -0.3), stock),
        ]
        let within = SkuAvailability.summarize(sku: "A", positions: positions, near: (48.85, 2.35), radiusKilometres: 1)
        #expect(within.locations.map(\.location.id) == ["C-NEAR", "D-NEAR", "B-EDGE"], "inclusive, nearest first, ties by id")
        #expect(within.locations.map(\.distanceKilometres) == [0.3, 0.3, 1.0])
        #expect(within.available == 6 && within.ship == 6 && within.pickup.map(\.location.id) == ["C-NEAR", "D-NEAR", "B-EDGE"])
        let everywhere = SkuAvailability.summarize(sku: "A", positions: positions, near: (48.85, 2.35), radiusKilometres: nil)
        #expect(everywhere.locations.map(\.location.id) == ["C-NEAR", "D-NEAR", "B-EDGE", "A-FAR"] && everywhere.available == 8)
        let unplaced = SkuAvailability.summarize(sku: "A", positions: positions, near: nil, radiusKilometres: nil)
        #expect(unplaced.locations.map(\.location.id) == ["A-FAR", "B-EDGE", "C-NEAR", "D-NEAR"])
        #expect(unplaced.locations.allSatisfy { $0.distanceKilometres == nil })
    }
}
