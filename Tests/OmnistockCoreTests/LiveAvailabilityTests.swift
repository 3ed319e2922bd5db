import OmnistockCore
import Testing

/// Given/when/then tests of the in-memory availability model: what a read counts, when an
/// expired hold stops counting, and which positions each event reports as changed.
@Suite struct LiveAvailabilityTests {
    static let now: Int64 = 1_800_000_000_000
    static let paris = HoldTests.location("PAR-01")
    static let lille = HoldTests.location("LIL-01", latitude: 50.63, longitude: 3.06)
    static let jacket = StockKey(sku: "JACKET-M", locationId: "PAR-01")

    /// A model at position 0 with two stores, then `events` applied in order.
    func given(_ events: [LedgerEvent]) -> LiveAvailability {
        var model = LiveAvailability(position: 0)
        for event in [LedgerEvent.locationDefined(.init(location: Self.paris, created: true)), .locationDefined(.init(location: Self.lille, created: true))] + events {
            _ = model.apply(event, at: model.position + 1)
        }
        return model
    }

    static func receipt(_ quantity: Int64, at location: String = "PAR-01", onHandAfter: Int64? = nil) -> LedgerEvent {
        .stockMoved(.init(
            sku: "JACKET-M", locationId: location, kind: .receipt, quantity: quantity, onHandDelta: quantity,
            onHandAfter: onHandAfter ?? quantity, reason: nil, reference: nil, occurredAtMs: now))
    }

    static func hold(_ id: String, _ quantity: Int64, expiresAtMs: Int64) -> LedgerEvent {
        .holdPlaced(.init(
            holdId: id, reference: nil, fulfilment: nil, allowPartial: false,
            lines: [HoldLine(id: "1", sku: "JACKET-M", locationId: "PAR-01", quantity: quantity)], unfilled: [],
            expiresAtMs: expiresAtMs, occurredAtMs: now))
    }

    static func line(_ quantity: Int64) -> [HoldLine] { [HoldLine(id: "1", sku: "JACKET-M", locationId: "PAR-01", quantity: quantity)] }

    func held(_ model: LiveAvailability) -> Int64? { model.counted(Self.jacket)?.held }

    @Test func aHoldCountsUntilItsExpiryInstantInclusive() {
        var model = given([Self.receipt(10), Self.hold("h1", 3, expiresAtMs: Self.now + 60_000)])
        #expect(held(model) == 3)
        #expect(model.nextExpiryMs() == Self.now + 60_000)
        #expect(model.sweep(nowMs: Self.now + 59_999).isEmpty)
        #expect(held(model) == 3)
        #expect(model.sweep(nowMs: Self.now + 60_000) == [Self.jacket])
        #expect(held(model) == 0)
        #expect(model.nextExpiryMs() == nil)
        let row = model.rows(skus: ["JACKET-M"], locationId: nil)
        #expect(row.count == 1 && row[0].position.available(locationDefault: 0) == 10)
    }

    @Test func aRecordedExpiryAfterTheSweepIsNotCountedTwice() {
        var model = given([Self.receipt(10), Self.hold("h1", 3, expiresAtMs: Self.now + 1_000), Self.hold("h2", 2, expiresAtMs: Self.now + 120_000)])
        _ = model.sweep(nowMs: Self.now + 1_000)
        #expect(held(model) == 2)
        let changed = model.apply(.holdExpired(.init(holdId: "h1", lines: Self.line(3), occurredAtMs: Self.now + 1_000, recordedAtMs: Self.now + 5_000)), at: model.position + 1)
        #expect(changed == [Self.jacket])
        #expect(held(model) == 2)
        #expect(model.entry(Self.jacket)?.position.held == 2)
        #expect(model.sweptUnits.isEmpty)
    }

    @Test func anExtensionAfterTheSweepCountsTheHoldAgain() {
        var model = given([Self.receipt(10), Self.hold("h1", 3, expiresAtMs: Self.now + 1_000)])
        _ = model.sweep(nowMs: Self.now + 1_000)
        #expect(held(model) == 0)
        let extended = LedgerEvent.holdExtended(.init(
            holdId: "h1", previousExpiresAtMs: Self.now + 1_000, expiresAtMs: Self.now + 90_000, locationIds: ["PAR-01"], occurredAtMs: Self.now + 999))
        #expect(model.apply(extended, at: model.position + 1) == [Self.jacket])
        #expect(model.sweep(nowMs: Self.now + 2_000).isEmpty)
        #expect(held(model) == 3)
        #expect(model.nextExpiryMs() == Self.now + 90_000)
    }

    @Test func aConversionMovesHeldUnitsToAllocatedThroughTheOrderEvent() {
        var model = given([Self.receipt(10), Self.hold("h1", 3, expiresAtMs: Self.now + 60_000)])
        let converted = LedgerEvent.holdConverted(.init(holdId: "h1", orderId: "o1", lines: Self.line(3), occurredAtMs: Self.now))
        #expect(model.apply(converted, at: model.position + 1) == [Self.jacket])
        #expect(held(model) == 0)
        #expect(model.holds.isEmpty)
        #expect(model.sweep(nowMs: Self.now + 60_000).isEmpty, "a converted hold never expires")
    }

    @Test func readsListStockedPositionsAtActiveLocationsOnly() {
        var model = given([Self.receipt(4), Self.receipt(6, at: "LIL-01")])
        #expect(model.rows(skus: ["JACKET-M"], locationId: nil).map(\.location.id) == ["LIL-01", "PAR-01"])
        #expect(model.rows(skus: ["JACKET-M"], locationId: "LIL-01").map(\.position.onHand) == [6])
        #expect(model.rows(skus: ["JACKET-M", "UNKNOWN"], locationId: "NOWHERE").isEmpty)
        var closed = Self.lille
        closed.active = false
        let changed = model.apply(.locationDefined(.init(location: closed, created: false)), at: model.position + 1)
        #expect(changed == [StockKey(sku: "JACKET-M", locationId: "LIL-01")])
        #expect(model.rows(skus: ["JACKET-M"], locationId: nil).map(\.location.id) == ["PAR-01"])
    }

    @Test func incomingAloneDoesNotMakeAPositionListed() {
        let change = PositionChange(sku: "JACKET-M", locationId: "LIL-01", incoming: 5)
        var model = given([Self.receipt(4)])
        let transfer = LedgerEvent.transfer(TransferRecorded(
            step: .dispatched,
            transfer: Transfer(
                id: "t", status: .inTransit, fromLocationId: "PAR-01", toLocationId: "LIL-01", orderId: nil, reference: nil,
                lines: [TransferLine(sku: "JACKET-M", quantity: 5)], dispatchedAtMs: Self.now),
            changes: [change], occurredAtMs: Self.now))
        #expect(model.apply(transfer, at: model.position + 1) == [StockKey(sku: "JACKET-M", locationId: "LIL-01")])
        #expect(model.rows(skus: ["JACKET-M"], locationId: nil).map(\.location.id) == ["PAR-01"])
        #expect(model.entry(StockKey(sku: "JACKET-M", locationId: "LIL-01"))?.position.incoming == 5)
    }

    @Test func aLoadedModelEqualsTheFoldedOne() {
        var folded = given([Self.receipt(10), Self.hold("h1", 3, expiresAtMs: Self.now + 60_000)])
        var loaded = LiveAvailability(
            position: folded.position, locations: [Self.paris, Self.lille],
            entries: folded.allEntries().map { ($0.key, $0.value) },
            holds: folded.holds.map { ($0.key, $0.value) })
        #expect(loaded.differences(from: folded).isEmpty)
        #expect(loaded.allEntries() == folded.allEntries() && loaded.holds == folded.holds)
        #expect(loaded.sweep(nowMs: Self.now + 60_000) == folded.sweep(nowMs: Self.now + 60_000))
        #expect(loaded.differences(from: folded).isEmpty && loaded.sweptUnits == folded.sweptUnits)
    }

    @Test func differencesNameEachPositionAndHoldThatDiffersInKeyOrder() {
        let folded = given([Self.receipt(10), Self.receipt(4, at: "LIL-01", onHandAfter: 4), Self.hold("h1", 3, expiresAtMs: Self.now + 60_000)])
        let lille = StockKey(sku: "JACKET-M", locationId: "LIL-01")
        var entries = folded.allEntries()
        entries[lille]?.position.onHand = 5
        entries[StockKey(sku: "COAT-L", locationId: "PAR-01")] = .init(position: StockPosition(onHand: 1, held: 0, allocated: 0, safetyStock: nil, incoming: 0), stocked: true)
        entries[Self.jacket] = nil
        let loaded = LiveAvailability(
            position: folded.position, locations: [Self.paris, Self.lille], entries: entries.map { ($0.key, $0.value) },
            holds: [("h0", folded.holds["h1"]!)])
        let found = loaded.differences(from: folded)
        #expect(found.count == 5, "\(found)")
        #expect(found.map { $0.prefix(while: { $0 != ":" }) } == [
            "position COAT-L@PAR-01", "position JACKET-M@LIL-01", "position JACKET-M@PAR-01", "hold h0", "hold h1",
        ])
        #expect(found[2].hasSuffix("vs absent") == false && found[2].contains("absent vs"))
        #expect(loaded.differences(from: folded, limit: 2).count == 2)
    }
}
