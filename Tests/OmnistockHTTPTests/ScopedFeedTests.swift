import Foundation
import HTTPTypes
import Testing

extension Harness {
    /// A new integration key bound to `locations`, made by the admin through the API.
    func newIntegrationKey(_ locations: [String]) async throws -> String {
        let ids = locations.map { "\"\($0)\"" }.joined(separator: ", ")
        let reply = try await call(
            .post, "/v1/api-keys", key: keys.admin, body: #"{"name": "erp \#(locations.joined(separator: " "))", "role": "integration", "locations": [\#(ids)]}"#)
        #expect(reply.status == .created, "\(reply.text)")
        return try #require(reply.json["key"] as? String, "\(reply.text)")
    }

    /// The whole feed as `key` sees it.
    func feed(as key: String) async throws -> [[String: Any]] {
        let reply = try await call(.get, "/v1/events?limit=1000", key: key)
        #expect(reply.status == .ok, "\(reply.text)")
        return reply.json["events"] as? [[String: Any]] ?? []
    }
}

/// The `data` of an event as JSON text, to look for a location's id anywhere in it.
private func text(_ event: [String: Any]) -> String {
    String(decoding: (try? JSONSerialization.data(withJSONObject: event["data"] ?? [:], options: [.sortedKeys])) ?? Data(), as: UTF8.self)
}

private func data(_ event: [String: Any]) -> [String: Any] { event["data"] as? [String: Any] ?? [:] }

private func locations(of items: Any?) -> [String] {
    (items as? [[String: Any]] ?? []).compactMap { $0["locationId"] as? String }
}

@Suite struct ScopedFeedTests {
    @Test func aBoundKeySeesOnlyItsOwnLocationsPartsOfAnEvent() async throws {
        try await Harness.run { h in
            let paris2 = try await h.newIntegrationKey(["PAR-02"])
            let pickupId = try await Self.writeAcrossTwoStores(h)
            try await Self.expectParis1Parts(h, pickupId: pickupId)
            try await Self.expectParis2Parts(h, key: paris2, pickupId: pickupId)
            // The cursor still moves over what a bound key is not shown.
            let page = try await h.call(.get, "/v1/events?limit=1000", key: h.keys.boundIntegration)
            #expect(page.json["nextAfter"] as? Int == page.json["headPosition"] as? Int)
        }
    }

    /// Stock at both stores, a hold across both converted into a ship order, a hold at PAR-02
    /// alone, a transfer PAR-02 → PAR-01, and a pickup at PAR-01 served from PAR-02; the
    /// pickup order's id.
    static func writeAcrossTwoStores(_ h: Harness) async throws -> String {
        _ = try await h.receive("JACKET-M", "PAR-01", 5)
        _ = try await h.receive("JACKET-M", "PAR-02", 5)
        _ = try await h.receive("SCARF", "PAR-02", 4)
        // A checkout holds at both stores, then the shopper pays: hold, conversion, order.
        let spanning = try await h.hold(
            #"{"lines": [{"sku": "JACKET-M", "quantity": 1, "locationId": "PAR-01"}, {"sku": "JACKET-M", "quantity": 2, "locationId": "PAR-02"}]}"#)
        let holdId = try #require(spanning.json["id"] as? String, "\(spanning.text)")
        let ordered = try await h.order(
            #"{"orderNumber": "WEB-1", "holdId": "\#(holdId)", "fulfilment": {"type": "ship", "address": {"latitude": 48.86, "longitude": 2.34}}}"#)
        #expect(ordered.status == .created, "\(ordered.text)")
        // A hold at PAR-02 alone, a transfer PAR-02 → PAR-01, and a pickup at PAR-01 served from PAR-02.
        #expect(try await h.hold(#"{"lines": [{"sku": "JACKET-M", "quantity": 1, "locationId": "PAR-02"}]}"#).status == .created)
        let sent = try await h.post(
            "/v1/transfers", #"{"fromLocationId": "PAR-02", "toLocationId": "PAR-01", "lines": [{"sku": "JACKET-M", "quantity": 1}]}"#,
            key: h.keys.admin)
        #expect(sent.status == .created, "\(sent.text)")
        let (pickupId, _) = try await h.pickupOrder("WEB-2", "SCARF", 2, at: "PAR-01")
        return pickupId
    }

    /// The admin sees every line; PAR-01's key only PAR-01's parts, its own movements whole.
    static func expectParis1Parts(_ h: Harness, pickupId: String) async throws {
        let admin = try await h.feed(as: h.keys.admin)
        let whole = try #require(admin.first { $0["type"] as? String == "hold.placed" })
        #expect(locations(of: data(whole)["lines"]) == ["PAR-01", "PAR-02"], "the admin sees every line")

        // PAR-01's key: the spanning hold, its conversion and the ship order show PAR-01's parts only.
        let paris1 = try await h.feed(as: h.keys.boundIntegration)
        let placed = paris1.filter { $0["type"] as? String == "hold.placed" }
        #expect(placed.count == 1, "the hold at PAR-02 alone is not shown")
        #expect(locations(of: data(placed[0])["lines"]) == ["PAR-01"] && placed[0]["locationIds"] as? [String] == ["PAR-01"])
        #expect((placed[0]["metadata"] as? [String: Any])?.isEmpty == true, "another caller's request metadata is not shown")
        let converted = try #require(paris1.first { $0["type"] as? String == "hold.converted" })
        #expect(locations(of: data(converted)["lines"]) == ["PAR-01"])
        let shipOrder = try #require(paris1.first {
            $0["type"] as? String == "order.created" && (data($0)["order"] as? [String: Any])?["orderNumber"] as? String == "WEB-1"
        })
        #expect(locations(of: (data(shipOrder)["order"] as? [String: Any])?["lines"]) == ["PAR-01"])
        #expect(locations(of: data(shipOrder)["changes"]) == ["PAR-01"] && data(shipOrder)["assigned"] as? [String] == ["PAR-01"])
        for event in [placed[0], converted, shipOrder] {
            #expect(!text(event).contains("PAR-02"), "\(event["type"] ?? ""): \(text(event))")
        }
        // Its own movements are whole, metadata included; PAR-02's are not shown.
        let moved = paris1.filter { $0["type"] as? String == "stock.moved" }
        #expect(!moved.isEmpty && moved.allSatisfy { data($0)["locationId"] as? String == "PAR-01" }, "\(moved)")
        #expect(moved.allSatisfy { ($0["metadata"] as? [String: Any])?["actor"] is String })
        // A transfer names both ends (the goods go from one to the other) and only its own position changes.
        let transfers = paris1.filter { $0["type"] as? String == "transfer.dispatched" }
        #expect(transfers.count == 2 && transfers.allSatisfy { (data($0)["transfer"] as? [String: Any])?["fromLocationId"] as? String == "PAR-02" })
        #expect(transfers.allSatisfy { locations(of: data($0)["changes"]) == ["PAR-01"] })
        // The pickup store sees every line of its pickup order, wherever it comes from.
        let pickup = try #require(paris1.first { ($0["stream"] as? String) == "order-\(pickupId)" })
        #expect(locations(of: (data(pickup)["order"] as? [String: Any])?["lines"]) == ["PAR-02"], "\(text(pickup))")
    }

    /// PAR-02's key: its own line of the ship order, and of the pickup order the line it sends and where it goes.
    static func expectParis2Parts(_ h: Harness, key paris2: String, pickupId: String) async throws {
        let other = try await h.feed(as: paris2)
        let itsOrder = try #require(other.first {
            $0["type"] as? String == "order.created" && (data($0)["order"] as? [String: Any])?["orderNumber"] as? String == "WEB-1"
        })
        #expect(locations(of: (data(itsOrder)["order"] as? [String: Any])?["lines"]) == ["PAR-02"])
        #expect(!text(itsOrder).contains("PAR-01"), "\(text(itsOrder))")
        let itsPickup = try #require(other.first { ($0["stream"] as? String) == "order-\(pickupId)" })
        let fulfilment = (data(itsPickup)["order"] as? [String: Any])?["fulfilment"] as? [String: Any]
        #expect(fulfilment?["locationId"] as? String == "PAR-01")
        #expect(locations(of: data(itsPickup)["changes"]).allSatisfy { $0 == "PAR-02" }, "\(text(itsPickup))")
        let sentFromHere = other.filter { $0["type"] as? String == "transfer.dispatched" }
        #expect(sentFromHere.count == 2 && sentFromHere.allSatisfy { locations(of: data($0)["changes"]).isEmpty })
        #expect(other.filter { $0["type"] as? String == "hold.placed" }.count == 2)
    }
}
