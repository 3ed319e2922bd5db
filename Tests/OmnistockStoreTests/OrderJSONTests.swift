import Foundation
import OmnistockCore
@testable import OmnistockStore
import Testing

/// The hand-written order documents and payloads (`OrderJSON`) are the encoder's, byte for
/// byte, and read back; what their readers do not take goes to the decoder.
@Suite struct OrderJSONTests {
    static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    /// Orders of every shape: fresh, ended with every optional member, shipped with
    /// coordinates Swift prints in several forms, and text that needs escapes.
    static func orders() -> [Order] {
        let tricky = "Ref \"quoted\" \\ é ☃ \n\r\t\u{1}\u{1F} / 🧥 \u{7F}\u{2028}"
        var fresh = Order(
            id: "ord_1", orderNumber: "1001", status: .allocated, holdId: "hld_1", reference: nil, fulfilment: .pickup(locationId: "PAR-01"),
            lines: [OrderLine(id: "1", sku: "JACKET-M", quantity: 2, locationId: "PAR-01", status: .allocated)], createdAtMs: 1_800_000_000_000)
        var ended = fresh
        ended.id = "ord_2"
        ended.holdId = nil
        ended.reference = tricky
        ended.status = .cancelled
        ended.lines.append(OrderLine(
            id: "2", sku: "B", quantity: 1, locationId: "LYS-02", status: .notFound, transferId: "trf_9", replaces: "1", returned: 0,
            damaged: 0, reason: tricky))
        ended.lines.append(OrderLine(id: "3", sku: "C", quantity: 5, locationId: "L", status: .collected, returned: 2, damaged: 1))
        ended.wrongPickupCodes = 3
        ended.pickupLocked = true
        ended.updatedAtMs = 1_800_000_100_000
        ended.readyAtMs = 1_800_000_050_000
        ended.pickupExpiresAtMs = 1_800_172_850_000
        ended.endedAtMs = Int64.max
        ended.returns = [
            OrderReturn(locationId: "PAR-01", lines: [ReturnLine(sku: "C", quantity: 2, restock: true), ReturnLine(sku: "C", quantity: 1, restock: false)],
                        returnedAtMs: 1_800_000_200_000)
        ]
        ended.cancelReason = tricky
        fresh.lines = []
        var shipped = Order(
            id: "ord_3", orderNumber: "1003", status: .shipped, holdId: "hld_3", reference: "web", fulfilment: .ship(latitude: 48.8566, longitude: 2.3522),
            lines: [OrderLine(id: "1", sku: "A", quantity: 1, locationId: "WH", status: .shipped)], createdAtMs: 0)
        shipped.shipments = [Shipment(carrier: "colissimo", tracking: "6A/123", lines: ["1"], shippedAtMs: 5)]
        var points = [shipped]
        for (latitude, longitude) in [(-33.0, 151.0), (0.00001, -179.999999), (45.123456789, 1e-7), (-0.5, 90.25)] {
            var order = shipped
            order.fulfilment = .ship(latitude: latitude, longitude: longitude)
            points.append(order)
        }
        return [fresh, ended] + points
    }

    @Test func documentsAreTheEncodersAndReadBack() throws {
        for order in Self.orders() {
            let written = OrderJSON.document(order)
            let byEncoder = String(decoding: try Self.encoder().encode(order), as: UTF8.self)
            #expect(written == byEncoder)
            for text in [written, JSONReaderTests.spaced(written), " \n" + written + "\t"] {
                #expect(OrderJSON.order(text) == order, "\(text)")
                #expect(try OrderStore.order((text, 7)) == OrderRecord(order: order, version: 7))
            }
        }
    }

    @Test func payloadsAreTheEncodersAndReadBack() throws {
        for (index, order) in Self.orders().enumerated() {
            let recorded = OrderRecorded(
                step: OrderStep.allCases[index % OrderStep.allCases.count], order: order,
                changes: [PositionChange(sku: "A", locationId: "L", held: -1, allocated: 1), PositionChange(sku: "B", locationId: "M", incoming: Int64.min)],
                assigned: index.isMultiple(of: 2) ? [] : ["PAR-01", "LYS-02"], lineId: index == 1 ? "2" : nil, reason: index == 1 ? "customer" : nil,
                occurredAtMs: 1_800_000_000_000 + Int64(index))
            let event = LedgerEvent.order(recorded)
            let written = try EventCodec.encode(event, with: Self.encoder())
            let byEncoder = String(decoding: try Self.encoder().encode(recorded), as: UTF8.self)
            #expect(written == byEncoder)
            for payload in [written, JSONReaderTests.spaced(written)] {
                #expect(EventCodec.fastDecode(type: event.type, payload: payload) == event, "\(payload)")
                #expect(try EventCodec.decode(type: event.type, payload: payload) == event)
            }
        }
    }

    /// A document the hand reader does not take (an unknown key, a shape its writer never
    /// writes, a value out of its range) is read, or refused, by the decoder as before.
    @Test(arguments: [
        (#"{"createdAtMs":1,"fulfilment":{"locationId":"L","type":"pickup"},"id":"o","lines":[],"orderNumber":"1","pickupLocked":false,"returns":[],"shipments":[],"status":"allocated","updatedAtMs":1,"wrongPickupCodes":0,"extra":1}"#, true),
        (#"{"createdAtMs":1,"fulfilment":{"address":{"latitude":1,"longitude":2},"locationId":"L","type":"pickup"},"id":"o","lines":[],"orderNumber":"1","pickupLocked":false,"returns":[],"shipments":[],"status":"allocated","updatedAtMs":1,"wrongPickupCodes":0}"#, true),
        (#"{"createdAtMs":1,"fulfilment":{"locationId":"L","type":"pickup"},"id":"o","lines":[],"orderNumber":"1","pickupLocked":false,"shipments":[],"status":"allocated","updatedAtMs":1,"wrongPickupCodes":0}"#, false),
        (#"{"createdAtMs":1,"fulfilment":{"locationId":"L","type":"pickup"},"id":"o","lines":[],"orderNumber":"1","pickupLocked":false,"returns":[],"shipments":[],"status":"lost","updatedAtMs":1,"wrongPickupCodes":0}"#, false),
        (#"{"createdAtMs":1,"fulfilment":{"locationId":"L","type":"drone"},"id":"o","lines":[],"orderNumber":"1","pickupLocked":false,"returns":[],"shipments":[],"status":"allocated","updatedAtMs":1,"wrongPickupCodes":0}"#, false),
    ])
    func whatTheReaderDoesNotTakeGoesToTheDecoder(document: String, decodes: Bool) {
        #expect(OrderJSON.order(document) == nil)
        let standard = try? JSONDecoder().decode(Order.self, from: Data(document.utf8))
        let read = try? OrderStore.order((document, 1))
        #expect(read?.order == standard)
        #expect((read != nil) == decodes, "\(document)")
    }
}
