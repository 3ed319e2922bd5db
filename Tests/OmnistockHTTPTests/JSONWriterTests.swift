import Foundation
import NIOCore
@testable import OmnistockHTTP
import OmnistockCore
import OmnistockStore
import Testing

@Suite struct JSONWriterTests {
    /// The hand-written availability JSON says exactly what JSONEncoder says of the same
    /// figures, in the shape the OpenAPI document gives (`Reference` below).
    @Test func availabilityJSONMatchesTheEncoder() throws {
        let name = "Paris \"Rivoli\" \\ é ☃ \u{1}\n\t"
        let paris = Location(
            id: "PAR-01", name: name, kind: .store, latitude: 48.86, longitude: 2.34,
            capabilities: .init(pickup: true, ships: false), dailyCapacity: nil, priority: 0, pickupWindowDays: 3, active: true,
            safetyStockDefault: 4)
        let depot = Location(
            id: "WH-01", name: "Depot", kind: .warehouse, latitude: 48.90, longitude: 2.20,
            capabilities: .init(pickup: false, ships: true), dailyCapacity: nil, priority: 0, pickupWindowDays: 3, active: true)
        let read = StockRead(
            skus: ["JACKET-M", "JACKET-L", "NONE"], locations: [depot, paris],
            rows: [
                .init(sku: 0, location: 1, position: StockPosition(onHand: 9, held: 1, allocated: 2, safetyStock: nil, incoming: 3)),
                .init(sku: 0, location: 0, position: StockPosition(onHand: 5, held: 0, allocated: 0, safetyStock: nil, incoming: 0)),
                // The same location again, for another SKU: its fixed members are written once and reused.
                .init(sku: 1, location: 1, position: StockPosition(onHand: 1, held: 3, allocated: 0, safetyStock: 0, incoming: 0)),
            ])
        for near in [nil, (latitude: 48.8566, longitude: 2.3522)] {
            let summary = AvailabilitySummary(read, near: near, radiusKilometres: nil)
            let written = try JSONSerialization.jsonObject(with: Data(AvailabilityJSON.write(summary, position: 42).readableBytesView)) as? NSDictionary
            let encoded = try JSONSerialization.jsonObject(with: JSON.encoder.encode(Reference(summary, position: 42))) as? NSDictionary
            #expect(written != nil && written == encoded)
        }
        let summary = AvailabilitySummary(read, near: nil, radiusKilometres: nil)
        #expect(summary.items.map(\.available) == [7, 0, 0] && summary.items.map(\.ship) == [5, 0, 0])
        #expect(summary.items[0].pickup == [0] && summary.items[1].locations[0].position.shortfall == 2)
    }

    /// A writer that outgrows its capacity keeps all it wrote, escapes included.
    @Test func growthKeepsTheBytes() {
        var grown = JSONWriter(capacity: 1)
        grown.beginArray()
        for value in 0..<1_000 { grown.integer(Int64(value)) }
        grown.string("\u{1F}\"\\\r")
        grown.endArray()
        let expected = "[" + (0..<1_000).map(String.init).joined(separator: ",") + ",\"\\u001f\\\"\\\\\\r\"]"
        #expect(String(decoding: grown.bytes, as: UTF8.self) == expected)
    }

    /// Numbers are written as Swift prints them (what JSONEncoder writes), the fast paths for
    /// integers and hundredths included, and integers at their limits.
    @Test func numbersAreWrittenAsSwiftPrintsThem() {
        var generator = SystemRandomNumberGenerator()
        var values: [Double] = [0, -0.0, 0.01, 0.1, 0.5, 1.05, 12.3, 99.99, -3.14, 19_999.99, 1e13, 1e15, 1e16, 123.456, 1.0 / 3]
        for _ in 0..<5_000 { values.append((Double.random(in: -20_000...20_000, using: &generator) * 100).rounded() / 100) }
        for _ in 0..<1_000 { values.append(Double.random(in: -1e6...1e6, using: &generator)) }
        for value in values {
            var writer = JSONWriter()
            writer.number(value)
            let expected = value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : "\(value)"
            #expect(String(decoding: writer.bytes, as: UTF8.self) == expected, "\(value)")
        }
        for value in [Int64.min, Int64.min + 1, -1, 0, 9, 10, Int64.max] {
            var writer = JSONWriter()
            writer.integer(value)
            #expect(String(decoding: writer.bytes, as: UTF8.self) == String(value))
        }
    }
}

/// The availability answer as Codable structs: the reference `AvailabilityJSON` is checked against.
private struct Reference: Codable {
    struct LocationEntry: Codable {
        var locationId: String
        var name: String
        var kind: Location.Kind
        var onHand: Int64
        var held: Int64
        var allocated: Int64
        var safetyStock: Int64
        var incoming: Int64
        var available: Int64
        var short: Int64
        var distanceKm: Double?
    }
    struct PickupPoint: Codable {
        var locationId: String
        var name: String
        var available: Int64
        var distanceKm: Double?
    }
    struct Item: Codable {
        var sku: String
        var available: Int64
        var ship: Int64
        var pickup: [PickupPoint]
        var locations: [LocationEntry]
    }
    var position: Int64
    var items: [Item]

    init(_ summary: AvailabilitySummary, position: Int64) {
        self.position = position
        items = summary.items.map { item in
            Item(
                sku: item.sku, available: item.available, ship: item.ship,
                pickup: item.pickup.map { index in
                    let point = item.locations[index]
                    let location = summary.locations[Int(point.location)]!
                    return PickupPoint(locationId: location.id, name: location.name, available: point.available, distanceKm: point.distanceKilometres)
                },
                locations: item.locations.map { entry in
                    let location = summary.locations[Int(entry.location)]!
                    return LocationEntry(
                        locationId: location.id, name: location.name, kind: location.kind, onHand: entry.position.onHand,
                        held: entry.position.held, allocated: entry.position.allocated, safetyStock: entry.safetyStock,
                        incoming: entry.position.incoming, available: entry.available, short: entry.position.shortfall,
                        distanceKm: entry.distanceKilometres)
                })
        }
    }
}

@Suite struct OrderViewJSONTests {
    /// The hand-written order answer is JSON.encoder's, byte for byte, for orders of every
    /// shape (the store tests' `OrderJSONTests.orders`, rebuilt here with what a view adds).
    @Test func orderAnswersAreTheEncoders() throws {
        let tricky = "Ref \"quoted\" \\ é ☃ \n\t\u{1} / 🧥"
        var order = Order(
            id: "ord_2", orderNumber: "1002", status: .ready, holdId: "hld_2", reference: tricky, fulfilment: .pickup(locationId: "PAR-01"),
            lines: [
                OrderLine(id: "1", sku: "JACKET-M", quantity: 2, locationId: "PAR-01", status: .collected, returned: 1, damaged: 1),
                OrderLine(id: "2", sku: "B", quantity: 1, locationId: "LYS-02", status: .notFound, transferId: "trf_1", replaces: "1", reason: tricky),
            ],
            createdAtMs: 1_800_000_000_000)
        order.readyAtMs = 1_800_000_050_000
        order.pickupExpiresAtMs = 1_800_172_850_123
        order.endedAtMs = 1_800_000_060_000
        order.cancelReason = tricky
        order.wrongPickupCodes = 2
        order.pickupLocked = true
        order.returns = [OrderReturn(locationId: "PAR-01", lines: [ReturnLine(sku: "JACKET-M", quantity: 1, restock: false)], returnedAtMs: 7)]
        var shipped = Order(
            id: "ord_3", orderNumber: "1003", status: .shipped, holdId: nil, reference: nil, fulfilment: .ship(latitude: 48.8566, longitude: -0.00001),
            lines: [OrderLine(id: "1", sku: "A", quantity: 1, locationId: "WH", status: .shipped)], createdAtMs: 0)
        shipped.shipments = [Shipment(carrier: "colissimo", tracking: "6A/123", lines: ["1"], shippedAtMs: 5)]
        let fresh = Order(
            id: "ord_1", orderNumber: "1001", status: .allocated, holdId: "hld_1", reference: nil, fulfilment: .pickup(locationId: "L"),
            lines: [], createdAtMs: 1)
        for (order, code, token) in [(order, "123456", "tok"), (shipped, nil, nil), (fresh, nil, nil)] {
            let record = OrderRecord(order: order, version: 9)
            let view = OrderView(record, pickupCode: code, trackingToken: token, promiseSeconds: 7_200)
            let written = try OrderView.render(record, pickupCode: code, trackingToken: token, promiseSeconds: 7_200)
            #expect(String(decoding: written, as: UTF8.self) == String(decoding: try JSON.encoder.encode(view), as: UTF8.self))
        }
    }
}
