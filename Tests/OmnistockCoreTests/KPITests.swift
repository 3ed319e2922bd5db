import OmnistockCore
import Testing

/// The KPI figures, given a small known history (decided by the core at chosen times), when a
/// period is read, then each figure with its numerator and denominator; orders that cross the
/// period's edges count where their own events fall.
@Suite struct KPITests {
    typealias Kit = OrderTestKit
    static let hour: Int64 = 3_600_000
    /// The start of an hour well after the kit's clock.
    static let h0 = KPIs.hourMs(Kit.now) + hour

    /// A history folded as the projection folds it: the counters each event adds, and the
    /// positions' levels before and after it.
    struct History {
        var positions: [StockKey: StockPosition]
        var orders: [String: Order] = [:]
        var tally = KPITally()
        var tracked: Set<StockKey>

        init(stock: [StockKey: StockPosition]) {
            positions = stock
            tracked = Set(stock.keys)
        }

        mutating func record(_ events: [LedgerEvent], at ms: Int64) {
            for event in events {
                var previous: Order?
                if case .order(let recorded) = event {
                    previous = orders[recorded.order.id]
                    orders[recorded.order.id] = recorded.order
                }
                for change in event.positionChanges {
                    let before = positions[change.key] ?? .empty
                    let after = before.applying(change)
                    positions[change.key] = after
                    let isTracked = tracked.contains(change.key)
                    tally.position(
                        change.key, before: before, trackedBefore: isTracked, after: after, trackedAfter: isTracked,
                        locationDefault: Kit.estate[change.key.locationId]?.safetyStockDefault ?? 0, by: event, atMs: ms)
                }
                KPIs.count(event, previous: previous, atMs: ms, into: &tally)
            }
        }

        mutating func create(_ id: String, _ lines: [RequestedLine], _ fulfilment: Fulfilment, at ms: Int64) throws -> Order {
            let events = try Orders.decide(
                create: OrderRequest(orderNumber: "N-\(id)", lines: lines, fulfilment: fulfilment), orderId: id, transferIds: ["t-\(id)"],
                nowMs: ms, input: SourcingInput(locations: Kit.estate, positions: positions, ordersToday: [:])
            ).get()
            record(events, at: ms)
            return orders[id]!
        }

        mutating func step(_ action: OrderAction, _ id: String, at ms: Int64) throws {
            let decision = try Orders.decide(
                action, order: orders[id]!, nowMs: ms, positions: positions, locations: Kit.estate,
                input: SourcingInput(locations: Kit.estate, positions: positions, ordersToday: [:]), transferIds: ["r-\(id)"]
            ).get()
            #expect(decision.refusal == nil, "\(action)")
            record(decision.events, at: ms)
        }

        /// The figures of [from, to), summed from the hours' counters as the store sums rows.
        func figures(from: Int64, to: Int64, promiseSeconds: Int64 = 7_200) -> KPIFigures {
            let period = tally.counters.filter { $0.key.hourMs >= from && $0.key.hourMs < to }.values.reduce(KPICounters(), +)
            let levels = tally.counters.filter { $0.key.hourMs < to }.values.reduce(KPICounters(), +)
            var minutes: [Int: Int64] = [:]
            for (key, count) in tally.readyMinutes where key.bucket.hourMs >= from && key.bucket.hourMs < to { minutes[key.minute, default: 0] += count }
            return KPIFigures.of(KPIInput(period: period, levels: levels, readyMinutes: minutes), promiseSeconds: promiseSeconds)
        }
    }

    static func pickup(_ store: String = "PAR-01") -> Fulfilment { .pickup(locationId: store) }
    static func line(_ sku: String, _ quantity: Int64 = 1) -> RequestedLine { RequestedLine(sku: sku, quantity: quantity) }

    @Test func ordersCountWhereTheirOwnEventsFallAcrossThePeriodsEdges() throws {
        // Given: stock at PAR-01; an order placed in the hour before the period and ready in it,
        // one placed and ready in it (ready after 3 h: late), one placed in it and ready after.
        var history = History(stock: Kit.stock([("JACKET-M", "PAR-01", 10)]))
        let minute: Int64 = 60_000
        _ = try history.create("o1", [Self.line("JACKET-M")], Self.pickup(), at: Self.h0 - 30 * minute)
        try history.step(.ready, "o1", at: Self.h0 + 15 * minute)
        _ = try history.create("o2", [Self.line("JACKET-M")], Self.pickup(), at: Self.h0 + 5 * minute)
        try history.step(.ready, "o2", at: Self.h0 + 185 * minute)
        _ = try history.create("o3", [Self.line("JACKET-M")], Self.pickup(), at: Self.h0 + 4 * Self.hour - 10 * minute)
        try history.step(.ready, "o3", at: Self.h0 + 4 * Self.hour + 20 * minute)

        // When: the period is the four hours from h0.
        let figures = history.figures(from: Self.h0, to: Self.h0 + 4 * Self.hour)

        // Then: two orders placed in it (o2, o3), both pickups; two ready in it (o1 after 45
        // minutes, o2 after 180): one within the two-hour promise.
        #expect(figures.clickAndCollectShare == KPIRatio(2, of: 2))
        #expect(figures.orderToReady.orders == 2)
        #expect(figures.orderToReady.withinPromise == KPIRatio(1, of: 2))
        #expect(figures.orderToReady.medianSeconds == 45 * 60 + 30 && figures.orderToReady.p90Seconds == 180 * 60 + 30)
        #expect(figures.noShowRate == KPIRatio(0, of: 2) && figures.orderErrorRate == KPIRatio(0, of: 2))
        // A shorter promise moves the line, not the counters.
        #expect(history.figures(from: Self.h0, to: Self.h0 + 4 * Self.hour, promiseSeconds: 30 * 60).orderToReady.withinPromise == KPIRatio(0, of: 2))
        #expect(figures.oversoldUnits == 0)
    }

    @Test func errorsNoShowsAndSplitsAreCountedFromTheirSteps() throws {
        // Given: a pickup at PAR-01 whose line is found nowhere else (cancelled for stock), a
        // pickup that expires uncollected, and a parcel split between two locations.
        var history = History(stock: Kit.stock([("BOOT-42", "PAR-01", 1), ("JACKET-M", "PAR-01", 1), ("SCARF", "PAR-02", 1), ("SCARF", "WH-01", 1)]))
        _ = try history.create("lost", [Self.line("BOOT-42")], Self.pickup(), at: Self.h0)
        try history.step(.notFound(lineId: "1"), "lost", at: Self.h0 + 1_000)
        _ = try history.create("late", [Self.line("JACKET-M")], Self.pickup(), at: Self.h0 + 2_000)
        try history.step(.ready, "late", at: Self.h0 + 3_000)
        try history.step(.expire, "late", at: Self.h0 + 3_000 + 3 * 86_400_000)
        _ = try history.create("split", [Self.line("SCARF", 2)], Fulfilment.ship(latitude: Kit.paris.latitude, longitude: Kit.paris.longitude), at: Self.h0 + 4_000)

        // When: a period covering it all.
        let figures = history.figures(from: Self.h0, to: Self.h0 + 100 * Self.hour)

        // Then: 3 orders; 1 line not found and 1 order cancelled for stock; 1 no-show of 1 ready; 1 split.
        #expect(history.orders["lost"]?.status == .cancelled)
        #expect(figures.orderErrorRate == KPIRatio(2, of: 3) && figures.linesNotFound == 1 && figures.ordersCancelledForStock == 1)
        #expect(figures.noShowRate == KPIRatio(1, of: 1))
        #expect(figures.splitShipmentRate == KPIRatio(1, of: 3))
        #expect(figures.clickAndCollectShare == KPIRatio(2, of: 3))
    }

    @Test func availabilityIsTheShareOfTrackedPositionsSellableAtThePeriodsEnd() throws {
        // Given: three positions; an order takes the last unit of one in the second hour.
        var history = History(stock: Kit.stock([("A", "PAR-01", 1), ("B", "PAR-01", 2), ("C", "PAR-02", 0)]))
        // The levels start somewhere: each position is stocked in the first hour.
        for key in history.positions.keys.sorted() {
            history.tally.position(
                key, before: .empty, trackedBefore: false, after: history.positions[key]!, trackedAfter: true, locationDefault: 0,
                by: .safetyStockSet(SafetyStockSet(sku: key.sku, locationId: key.locationId, quantity: nil, occurredAtMs: Self.h0)), atMs: Self.h0)
        }
        _ = try history.create("o1", [Self.line("A")], Self.pickup(), at: Self.h0 + Self.hour + 1)

        // Then: two of three sellable after the first hour, one of three after the second.
        #expect(history.figures(from: Self.h0, to: Self.h0 + Self.hour).unifiedAvailability == KPIRatio(2, of: 3))
        #expect(history.figures(from: Self.h0, to: Self.h0 + 2 * Self.hour).unifiedAvailability == KPIRatio(1, of: 3))
        #expect(history.figures(from: Self.h0 + Self.hour, to: Self.h0 + 2 * Self.hour).oversoldUnits == 0)
    }

    @Test func aPromiseBeyondStockIsCountedAsAnOversell() {
        // Given a position with 1 unit; when an event promises 3 (the core never decides it:
        // this is what the figure would show if a bug did), then 2 units are oversold.
        var tally = KPITally()
        let key = StockKey(sku: "A", locationId: "PAR-01")
        let placed = LedgerEvent.holdPlaced(HoldPlaced(
            holdId: "h1", reference: nil, fulfilment: nil, allowPartial: false, lines: [HoldLine(id: "1", sku: "A", locationId: "PAR-01", quantity: 3)],
            unfilled: [], expiresAtMs: Self.h0 + 60_000, occurredAtMs: Self.h0))
        tally.position(
            key, before: Kit.position(1), trackedBefore: true, after: Kit.position(1, held: 3), trackedAfter: true, locationDefault: 0, by: placed,
            atMs: Self.h0)
        #expect(tally.counters[KPIBucket(locationId: "PAR-01", hourMs: Self.h0)]?.oversoldUnits == 2)
        // A count that finds less than was promised is a shortfall, not an oversell.
        var counted = KPITally()
        let count = LedgerEvent.safetyStockSet(SafetyStockSet(sku: "A", locationId: "PAR-01", quantity: nil, occurredAtMs: Self.h0))
        counted.position(
            key, before: Kit.position(3, held: 3), trackedBefore: true, after: Kit.position(1, held: 3), trackedAfter: true, locationDefault: 0,
            by: count, atMs: Self.h0)
        #expect((counted.counters[KPIBucket(locationId: "PAR-01", hourMs: Self.h0)]?.oversoldUnits ?? 0) == 0)
    }

    @Test func holdsConvertOrEndAndTransfersAreInFlightUntilReceived() {
        var tally = KPITally()
        let lines = [HoldLine(id: "1", sku: "A", locationId: "PAR-01", quantity: 1)]
        KPIs.count(.holdConverted(HoldConverted(holdId: "h1", orderId: "o1", lines: lines, occurredAtMs: Self.h0)), previous: nil, atMs: Self.h0, into: &tally)
        KPIs.count(.holdReleased(HoldReleased(holdId: "h2", lines: lines, occurredAtMs: Self.h0)), previous: nil, atMs: Self.h0, into: &tally)
        let counters = tally.counters[KPIBucket(locationId: "PAR-01", hourMs: Self.h0)]
        #expect(counters?.holdsConverted == 1 && counters?.holdsEnded == 2)
        let figures = KPIFigures.of(KPIInput(period: counters!, levels: counters!, readyMinutes: [:]), promiseSeconds: 7_200)
        #expect(figures.holdConversionRate == KPIRatio(1, of: 2) && figures.holdConversionRate.value == 0.5)
        #expect(KPIRatio(0, of: 0).value == nil)
    }

    @Test func hoursAreUTCHoursAndLongWaitsShareTheLastMinute() {
        #expect(KPIs.hourMs(Self.h0 + 3_599_999) == Self.h0 && KPIs.hourMs(Self.h0 + 3_600_000) == Self.h0 + Self.hour)
        #expect(KPIs.hourMs(-1) == -3_600_000)
        #expect(KPIs.readyMinute(59_999) == 0 && KPIs.readyMinute(60_000) == 1)
        #expect(KPIs.readyMinute(30 * 86_400_000) == Limits.kpiReadyMinutesMax)
    }
}
