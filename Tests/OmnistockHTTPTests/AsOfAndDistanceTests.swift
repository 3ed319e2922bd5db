import Foundation
import HTTPTypes
import OmnistockCore
import OmnistockStore
import Testing

extension Harness {
    /// The instant between two steps, to the millisecond, as `asOf` takes it. The pauses on
    /// each side keep the instant clear of both steps' decisions (the database and the test
    /// share the machine's clock).
    func instant() async throws -> String {
        try await Task.sleep(for: .milliseconds(30))
        let now = Date().formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
        try await Task.sleep(for: .milliseconds(30))
        return now
    }

    /// The buckets of a position as of `instant` (onHand, held, allocated, incoming, available).
    func buckets(_ location: String, _ sku: String, asOf instant: String) async throws -> [Int] {
        let reply = try await call(.get, "/v1/stock/\(location)/\(sku)?asOf=\(instant)", key: keys.admin)
        #expect(reply.status == .ok, "\(reply.text)")
        return ["onHand", "held", "allocated", "incoming", "available"].map { reply.json[$0] as? Int ?? -1 }
    }

    /// The same buckets now.
    func buckets(_ location: String, _ sku: String) async throws -> [Int] {
        let position = try await position(location, sku)
        return ["onHand", "held", "allocated", "incoming", "available"].map { position[$0] as? Int ?? -1 }
    }
}

@Suite struct AsOfAndDistanceTests {
    @Test func asOfShowsHeldAndAllocatedAsTheyWere() async throws {
        try await Harness.run { h in
            _ = try await h.receive("JACKET-M", "PAR-01", 100, at: isoNow(minus: 600))
            _ = try await h.receive("JACKET-M", "PAR-02", 20, at: isoNow(minus: 600))
            let start = try await h.instant()
            // Fifty held for a checkout, then turned into a pickup order.
            let placed = try await h.hold(#"{"lines": [{"sku": "JACKET-M", "quantity": 50, "locationId": "PAR-01"}]}"#)
            let holdId = try #require(placed.json["id"] as? String, "\(placed.text)")
            let held = try await h.instant()
            let converted = try await h.order(
                #"{"orderNumber": "WEB-1", "holdId": "\#(holdId)", "fulfilment": {"type": "pickup", "locationId": "PAR-01"}}"#)
            let orderId = try #require(converted.json["id"] as? String, "\(converted.text)")
            let ordered = try await h.instant()
            // Ten held for two seconds: they stop counting at the expiry, recorded or not.
            let brief = try await h.hold(#"{"lines": [{"sku": "JACKET-M", "quantity": 10, "locationId": "PAR-01"}], "ttlSeconds": 2}"#)
            let briefId = try #require(brief.json["id"] as? String, "\(brief.text)")
            let briefly = try await h.instant()
            try await Task.sleep(for: .milliseconds(2_100))
            let lapsed = try await h.instant()
            #expect(try await h.buckets("PAR-01", "JACKET-M", asOf: briefly) == [100, 10, 50, 0, 40])
            #expect(try await h.buckets("PAR-01", "JACKET-M", asOf: lapsed) == [100, 0, 50, 0, 50], "the expiry is not recorded yet")
            // Three collected from a direct order; the fifty cancelled; five sent from PAR-02.
            let (pickupId, code) = try await h.pickupOrder("WEB-2", "JACKET-M", 3)
            #expect(try await h.step(pickupId, "ready").status == .ok)
            #expect(try await h.step(pickupId, "collect", #"{"pickupCode": "\#(code)"}"#).status == .ok)
            let collected = try await h.instant()
            #expect(try await h.step(orderId, "cancel", #"{"reason": "customer"}"#, key: h.keys.checkout).status == .ok)
            let cancelled = try await h.instant()
            let sent = try await h.post(
                "/v1/transfers", #"{"fromLocationId": "PAR-02", "toLocationId": "PAR-01", "lines": [{"sku": "JACKET-M", "quantity": 5}]}"#,
                key: h.keys.admin)
            let transferId = try #require(sent.json["id"] as? String, "\(sent.text)")
            let inTransit = try await h.instant()
            _ = try await h.services.holdWriter.submit(.expire(holdIds: [briefId]), metadata: EventMetadata(actor: "system:test"))
            let received = try await h.post("/v1/transfers/\(transferId)/receive", #"{"lines": [{"sku": "JACKET-M", "quantity": 5}]}"#, key: h.keys.admin)
            #expect(received.status == .ok, "\(received.text)")

            // [onHand, held, allocated, incoming, available] at each instant.
            #expect(try await h.buckets("PAR-01", "JACKET-M", asOf: start) == [100, 0, 0, 0, 100])
            #expect(try await h.buckets("PAR-01", "JACKET-M", asOf: held) == [100, 50, 0, 0, 50])
            #expect(try await h.buckets("PAR-01", "JACKET-M", asOf: ordered) == [100, 0, 50, 0, 50])
            #expect(try await h.buckets("PAR-01", "JACKET-M", asOf: briefly) == [100, 10, 50, 0, 40])
            #expect(try await h.buckets("PAR-01", "JACKET-M", asOf: lapsed) == [100, 0, 50, 0, 50], "the expiry is recorded now")
            #expect(try await h.buckets("PAR-01", "JACKET-M", asOf: collected) == [97, 0, 50, 0, 47])
            #expect(try await h.buckets("PAR-01", "JACKET-M", asOf: cancelled) == [97, 0, 0, 0, 97])
            #expect(try await h.buckets("PAR-01", "JACKET-M", asOf: inTransit) == [97, 0, 0, 5, 97])
            #expect(try await h.buckets("PAR-02", "JACKET-M", asOf: inTransit) == [15, 0, 0, 0, 15])
            // As of now, time travel agrees with the position itself.
            let now = try await h.instant()
            #expect(try await h.buckets("PAR-01", "JACKET-M", asOf: now) == [102, 0, 0, 0, 102])
            #expect(try await h.buckets("PAR-01", "JACKET-M") == [102, 0, 0, 0, 102])
            try await h.verifyIsClean()
        }
    }

    @Test func asOfKeepsTheSafetyStockOfItsTime() async throws {
        try await Harness.run { h in
            _ = try await h.receive("CAP", "PAR-01", 10, at: isoNow(minus: 600))
            #expect(try await h.call(.put, "/v1/stock/PAR-01/CAP/safety-stock", key: h.keys.admin, body: #"{"quantity": 2}"#).status == .ok)
            let two = try await h.instant()
            #expect(try await h.call(.put, "/v1/stock/PAR-01/CAP/safety-stock", key: h.keys.admin, body: #"{"quantity": 4}"#).status == .ok)
            let four = try await h.instant()
            #expect(try await h.call(.put, "/v1/stock/PAR-01/CAP/safety-stock", key: h.keys.admin, body: #"{"quantity": null}"#).status == .ok)
            func safety(_ instant: String) async throws -> (Int?, Bool?) {
                let reply = try await h.call(.get, "/v1/stock/PAR-01/CAP?asOf=\(instant)", key: h.keys.admin)
                return (reply.json["safetyStock"] as? Int, reply.json["ownSafetyStock"] as? Bool)
            }
            #expect(try await safety(two) == (2, true))
            #expect(try await safety(four) == (4, true))
            #expect(try await safety(try await h.instant()) == (0, false))
            #expect(try await safety(isoNow(minus: 300)) == (0, false))
        }
    }

    @Test func asOfReadsABoundedNumberOfEvents() async throws {
        try await Harness.run { h in
            let key = StockKey(sku: "TEE", locationId: "PAR-01")
            _ = try await h.receive("TEE", "PAR-01", 10, at: isoNow(minus: 600))
            let before: Int64 = h.epochMilliseconds()
            try await Task.sleep(for: .milliseconds(30))
            for _ in 0..<3 { _ = try await h.receive("TEE", "PAR-01", 1) }
            // Three events since `before`: two may be read back, not three.
            await #expect(throws: Rejections.self) {
                _ = try await h.services.stock.position(key, asOfMs: before, eventsMax: 2, on: h.services.database)
            }
            let within = try await h.services.stock.position(key, asOfMs: before, eventsMax: 3, on: h.services.database)
            #expect(within.onHand == 10)
            do {
                _ = try await h.services.stock.position(key, asOfMs: before, eventsMax: 2, on: h.services.database)
            } catch let refusal as Rejections {
                // The refusal names the earliest time that can be answered: the third latest event's.
                guard case .outOfRange(let field, let lower, _) = refusal.all.first else { Issue.record("\(refusal)"); return }
                #expect(field == "asOf" && lower.hasSuffix("Z"), "\(lower)")
                let earliest = try #require(try? Date(lower, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)))
                let answered = try await h.services.stock.position(
                    key, asOfMs: Int64((earliest.timeIntervalSince1970 * 1000).rounded()), eventsMax: 2, on: h.services.database)
                #expect(answered.onHand == 11)
            }
            // Over HTTP, with the real bound: one more event than it allows since `asOf` is a 400 naming asOf.
            let lines = Array(repeating: #"{"sku": "TEE", "locationId": "PAR-01", "kind": "receipt", "quantity": 1}"#, count: Limits.asOfEventsReadMax - 3)
            let bulk = try await h.call(.post, "/v1/stock/movements", key: h.keys.admin, body: #"{"movements": [\#(lines.joined(separator: ","))]}"#)
            #expect(bulk.status == .created, "\(bulk.text.prefix(300))")
            let instant = isoNow(minus: 300)
            let fine = try await h.call(.get, "/v1/stock/PAR-01/TEE?asOf=\(instant)", key: h.keys.admin)
            #expect(fine.status == .ok && fine.json["onHand"] as? Int == 10, "\(fine.text)")
            _ = try await h.receive("TEE", "PAR-01", 1)
            let tooFar = try await h.call(.get, "/v1/stock/PAR-01/TEE?asOf=\(instant)", key: h.keys.admin)
            #expect(tooFar.status == .badRequest && tooFar.isProblem && tooFar.fields == ["asOf"] && tooFar.codes == ["out-of-range"], "\(tooFar.text)")
            let recent = try await h.call(.get, "/v1/stock/PAR-01/TEE?asOf=\(try await h.instant())", key: h.keys.admin)
            #expect(recent.status == .ok && recent.json["onHand"] as? Int == Limits.asOfEventsReadMax + 11, "\(recent.text)")
        }
    }

    @Test func theRadiusBoundsLocationsAndTotalsAndDistanceOrdersThem() async throws {
        try await Harness.run { h in
            // From a point in central Paris: PAR-02 0.5 km north, WH-01 9.9 km north, PAR-01 0.5 km south
            // (ids in the other order than distances, and one more at the same distance as PAR-02).
            func place(_ id: String, _ latitude: Double) async throws {
                let body = Harness.locationBody
                    .replacingOccurrences(of: "48.8606", with: "\(latitude)").replacingOccurrences(of: "2.3376", with: "2.35")
                let reply = try await h.call(.put, "/v1/locations/\(id)", key: h.keys.admin, body: body)
                #expect(reply.status == .ok || reply.status == .created, "\(reply.text)")
            }
            let origin = 48.85
            let kilometre = 1 / 111.195
            try await place("PAR-01", origin - 0.5 * kilometre)
            try await place("PAR-02", origin + 0.4 * kilometre)
            try await place("PAR-00", origin + 0.4 * kilometre)
            try await place("WH-01", origin + 9.9 * kilometre)
            for (location, quantity) in [("PAR-00", 1), ("PAR-01", 2), ("PAR-02", 3), ("WH-01", 10)] {
                _ = try await h.receive("BOOT-42", location, quantity)
            }
            func item(_ query: String) async throws -> [String: Any] {
                let reply = try await h.call(.get, "/v1/availability?sku=BOOT-42&\(query)", key: h.keys.checkout)
                #expect(reply.status == .ok, "\(reply.text)")
                return (reply.json["items"] as? [[String: Any]])?.first ?? [:]
            }
            let within = try await item("near=\(origin),2.35&radiusKm=1")
            let locations = within["locations"] as? [[String: Any]] ?? []
            #expect(locations.compactMap { $0["locationId"] as? String } == ["PAR-00", "PAR-02", "PAR-01"], "nearest first, ties by id")
            #expect(locations.compactMap { $0["distanceKm"] as? Double } == [0.4, 0.4, 0.5])
            #expect(within["available"] as? Int == 6 && within["ship"] as? Int == 6, "the warehouse 9.9 km away is out of range")
            #expect((within["pickup"] as? [[String: Any]])?.compactMap { $0["locationId"] as? String } == ["PAR-00", "PAR-02", "PAR-01"])
            // The radius is inclusive: a location at exactly the radius (as shown) is in range.
            let edge = try await item("near=\(origin),2.35&radiusKm=0.5")
            #expect((edge["locations"] as? [[String: Any]])?.count == 3 && edge["available"] as? Int == 6, "\(edge)")
            // Without a radius every location counts, nearest first, each with its distance.
            let everywhere = try await item("near=\(origin),2.35")
            let all = everywhere["locations"] as? [[String: Any]] ?? []
            #expect(all.compactMap { $0["locationId"] as? String } == ["PAR-00", "PAR-02", "PAR-01", "WH-01"])
            #expect(all.last?["distanceKm"] as? Double == 9.9 && everywhere["available"] as? Int == 16)
            // Without `near` no distance is shown, locations come in id order, and a radius is refused.
            let plain = try await item("")
            #expect((plain["locations"] as? [[String: Any]])?.compactMap { $0["locationId"] as? String } == ["PAR-00", "PAR-01", "PAR-02", "WH-01"])
            #expect((plain["locations"] as? [[String: Any]])?.allSatisfy { $0["distanceKm"] == nil } == true)
            let radiusAlone = try await h.call(.get, "/v1/availability?sku=BOOT-42&radiusKm=1", key: h.keys.checkout)
            #expect(radiusAlone.status == .badRequest && radiusAlone.fields == ["radiusKm"] && radiusAlone.isProblem, "\(radiusAlone.text)")
        }
    }
}
