import Foundation
import HTTPTypes
import OmnistockCore
import OmnistockStore
import Testing

/// A hold turned into an order is refused where its locations can no longer do the job, with
/// the problem a direct order there gets: a hold reserves stock, not a fulfilment.
@Suite struct OrdersFromHoldsTests {
    /// PAR-01 as the harness defines it, with `change` applied to its JSON definition.
    static func parRivoli(_ change: (String) -> String) -> String { change(Harness.locationBody) }

    /// The parts of a problem two answers must share to be the same refusal.
    static func problem(_ reply: Harness.Reply) -> [String] {
        ["\(reply.status.code)", reply.json["type"] as? String ?? "", reply.json["title"] as? String ?? ""] + reply.codes + reply.fields
    }

    @Test func aHoldIsNotCollectedWhereTheStoreStoppedBeingAPickupPoint() async throws {
        try await Harness.run { h in
            // Given a hold for pickup at PAR-01, then PAR-01 no longer a pickup point.
            _ = try await h.receive("JACKET-M", "PAR-01", 5)
            let hold = try await h.hold(#"{"lines": [{"sku": "JACKET-M", "quantity": 1}], "fulfilment": {"type": "pickup", "locationId": "PAR-01"}}"#)
            let holdId = try #require(hold.json["id"] as? String, "\(hold.text)")
            let noPickup = Self.parRivoli { $0.replacingOccurrences(of: #""pickup": true"#, with: #""pickup": false"#) }
            #expect(try await h.call(.put, "/v1/locations/PAR-01", key: h.keys.admin, body: noPickup).status == .ok)

            // When it is converted, and when the same order is placed directly.
            let converted = try await h.order(#"{"orderNumber": "WEB-8101", "holdId": "\#(holdId)"}"#)
            let direct = try await h.order(
                #"{"orderNumber": "WEB-8102", "lines": [{"sku": "JACKET-M", "quantity": 1}], "fulfilment": {"type": "pickup", "locationId": "PAR-01"}}"#)

            // Then both answer the same problem+json, and the hold still holds its unit.
            #expect(converted.isProblem && converted.status == .unprocessableContent, "\(converted.text)")
            #expect(converted.codes == ["location-lacks-capability"] && converted.fields == ["/fulfilment/locationId"], "\(converted.text)")
            #expect(Self.problem(converted) == Self.problem(direct), "\(converted.text) against \(direct.text)")
            let after = try await h.position("PAR-01", "JACKET-M")
            #expect(after["held"] as? Int == 1 && after["allocated"] as? Int == 0, "\(after)")
            #expect(try await h.call(.get, "/v1/holds/\(holdId)", key: h.keys.checkout).json["status"] as? String == "active")

            // The store's other path (one order per transaction) refuses it the same way.
            let request = OrderRequest(orderNumber: "WEB-8103", holdId: holdId)
            let checkout = Principal(apiKeyId: "test", role: .checkout, scope: .all)
            let refusal = await #expect(throws: Rejections.self) {
                _ = try await h.services.database.transaction { connection in
                    try await h.services.orders.create(request, principal: checkout, metadata: EventMetadata(actor: "test"), in: Transaction(connection))
                }
            }
            #expect(refusal?.all.map(\.code) == ["location-lacks-capability"])
            #expect(try await h.feed("order.created").isEmpty)
            try await h.verifyIsClean()
        }
    }

    @Test func aHoldIsNotShippedFromAStoreThatClosed() async throws {
        try await Harness.run { h in
            // Given a hold at PAR-02 named by the checkout, then PAR-02 closed.
            _ = try await h.receive("JACKET-M", "PAR-02", 5)
            let hold = try await h.hold(#"{"lines": [{"sku": "JACKET-M", "quantity": 1, "locationId": "PAR-02"}]}"#)
            let holdId = try #require(hold.json["id"] as? String, "\(hold.text)")
            let closed = Self.parRivoli { $0.replacingOccurrences(of: #""active": true"#, with: #""active": false"#) }
            #expect(try await h.call(.put, "/v1/locations/PAR-02", key: h.keys.admin, body: closed).status == .ok)

            // When it is converted for shipping, and when the same line is ordered pinned there.
            let ship = #""fulfilment": {"type": "ship", "address": {"latitude": 48.86, "longitude": 2.34}}"#
            let converted = try await h.order(#"{"orderNumber": "WEB-8201", "holdId": "\#(holdId)", \#(ship)}"#)
            let direct = try await h.order(#"{"orderNumber": "WEB-8202", "lines": [{"sku": "JACKET-M", "quantity": 1, "locationId": "PAR-02"}], \#(ship)}"#)

            // Then both are refused alike, naming the line.
            #expect(converted.codes == ["location-inactive"] && converted.fields == ["/lines/0/locationId"], "\(converted.text)")
            #expect(Self.problem(converted) == Self.problem(direct), "\(converted.text) against \(direct.text)")
            #expect(try await h.position("PAR-02", "JACKET-M")["held"] as? Int == 1)
            try await h.verifyIsClean()
        }
    }
}
