import Foundation
import HTTPTypes
import Testing

/// `dailyCapacity` is optional: a location without it has no daily limit on the orders it is
/// given, one with it is still held to it, and either is read back as it was defined.
@Suite struct LocationsDailyCapacityTests {
    static let unlimited = #"{"name": "Big warehouse", "kind": "warehouse", "latitude": 48.93, "longitude": 2.29, "capabilities": {"pickup": false, "ships": true}}"#
    static let limited = #"{"name": "Small warehouse", "kind": "warehouse", "latitude": 48.93, "longitude": 2.29, "capabilities": {"pickup": false, "ships": true}, "dailyCapacity": 2}"#

    static func shipOrder(_ number: String, _ sku: String) -> String {
        #"{"orderNumber": "\#(number)", "lines": [{"sku": "\#(sku)", "quantity": 1}], "fulfilment": {"type": "ship", "address": {"latitude": 48.86, "longitude": 2.34}}}"#
    }

    @Test func aLocationWithoutDailyCapacityTakesOrdersBeyondAnyCount() async throws {
        try await Harness.run { h in
            // Given a warehouse defined without a daily capacity.
            let created = try await h.call(.put, "/v1/locations/WH-09", key: h.keys.admin, body: Self.unlimited)
            #expect(created.status == .created && !created.json.keys.contains("dailyCapacity"), "\(created.text)")
            let read = try await h.call(.get, "/v1/locations/WH-09", key: h.keys.store)
            #expect(read.status == .ok && !read.json.keys.contains("dailyCapacity"), "\(read.text)")
            let listed = try await h.call(.get, "/v1/locations", key: h.keys.admin)
            let entry = (listed.json["items"] as? [[String: Any]])?.first { $0["id"] as? String == "WH-09" }
            #expect(entry != nil && entry?.keys.contains("dailyCapacity") == false, "\(listed.text)")
            #expect(try await h.call(.put, "/v1/locations/WH-09", key: h.keys.admin, body: Self.unlimited).status == .ok)

            // When it is given more orders in a day than any capacity the others have (both
            // the sourced orders and the holds are served there), then every one is taken.
            _ = try await h.receive("BOOT-42", "WH-09", 20)
            for number in 0..<6 {
                let reply = try await h.order(Self.shipOrder("CAP-\(number)", "BOOT-42"))
                #expect(reply.status == .created && reply.orderLines.first?["locationId"] as? String == "WH-09", "\(reply.text)")
            }
            let hold = try await h.hold(#"{"lines": [{"sku": "BOOT-42", "quantity": 1}], "fulfilment": {"type": "ship", "address": {"latitude": 48.86, "longitude": 2.34}}}"#)
            #expect(hold.status == .created && hold.orderLines.first?["locationId"] as? String == "WH-09", "\(hold.text)")
            let availability = try await h.call(.get, "/v1/availability?sku=BOOT-42", key: h.keys.checkout)
            #expect(availability.status == .ok && availability.text.contains("WH-09"), "\(availability.text)")
            let plan = #"{"lines": [{"sku": "BOOT-42", "quantity": 1}], "destination": {"latitude": 48.86, "longitude": 2.34}}"#
            let planned = try await h.call(.post, "/v1/sourcing/plan", key: h.keys.checkout, body: plan)
            #expect(planned.status == .ok && planned.json["locations"] as? [String] == ["WH-09"], "\(planned.text)")

            // And the ledger records the definition without the field; a rebuild reads it back.
            let definitions = try await h.feed("location.defined").compactMap { ($0["data"] as? [String: Any])?["location"] as? [String: Any] }
            let warehouse = definitions.filter { $0["id"] as? String == "WH-09" }
            #expect(warehouse.count == 1 && warehouse.allSatisfy { !$0.keys.contains("dailyCapacity") }, "\(warehouse)")
            // An explicit null is not how to say "no limit": leaving the field out is.
            let null = Self.unlimited.replacingOccurrences(of: "}}", with: #"}, "dailyCapacity": null}"#)
            #expect(try await h.call(.put, "/v1/locations/WH-09", key: h.keys.admin, body: null).status == .badRequest)
            try await h.verifyIsClean()
        }
    }

    @Test func aLocationWithADailyCapacityIsStillHeldToIt() async throws {
        try await Harness.run { h in
            // Given a warehouse limited to 2 orders a day, then the same warehouse unlimited.
            let created = try await h.call(.put, "/v1/locations/WH-08", key: h.keys.admin, body: Self.limited)
            #expect(created.status == .created && created.json["dailyCapacity"] as? Int == 2, "\(created.text)")
            _ = try await h.receive("SOCK-1", "WH-08", 20)
            // When a third order comes that day, then it is refused; once the limit is lifted it is taken.
            #expect(try await h.order(Self.shipOrder("LIM-1", "SOCK-1")).status == .created)
            #expect(try await h.order(Self.shipOrder("LIM-2", "SOCK-1")).status == .created)
            let third = try await h.order(Self.shipOrder("LIM-3", "SOCK-1"))
            #expect(third.status == .conflict && third.codes == ["insufficient-stock"], "\(third.text)")
            let lifted = try await h.call(.put, "/v1/locations/WH-08", key: h.keys.admin, body: Self.unlimited)
            #expect(lifted.status == .ok && !lifted.json.keys.contains("dailyCapacity"), "\(lifted.text)")
            #expect(try await h.order(Self.shipOrder("LIM-4", "SOCK-1")).status == .created)
            // And a capacity put back limits again (already 3 orders today: none more).
            #expect(try await h.call(.put, "/v1/locations/WH-08", key: h.keys.admin, body: Self.limited).json["dailyCapacity"] as? Int == 2)
            #expect(try await h.order(Self.shipOrder("LIM-5", "SOCK-1")).status == .conflict)
            try await h.verifyIsClean()
        }
    }
}
