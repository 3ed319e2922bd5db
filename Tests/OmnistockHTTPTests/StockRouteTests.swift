import Foundation
import HTTPTypes
import Testing

func isoNow(minus seconds: Double = 0) -> String {
    Date(timeIntervalSinceNow: -seconds).formatted(.iso8601)
}

extension Harness {
    func receive(_ sku: String, _ location: String, _ quantity: Int, at occurredAt: String? = nil) async throws -> Reply {
        let time = occurredAt.map { ", \"occurredAt\": \"\($0)\"" } ?? ""
        return try await call(
            .post, "/v1/stock/movements", key: keys.admin,
            body: #"{"movements": [{"sku": "\#(sku)", "locationId": "\#(location)", "kind": "receipt", "quantity": \#(quantity)\#(time)}]}"#)
    }
}

@Suite struct StockRouteTests {
    @Test func movementsChangePositionsAndAreRefusedWhole() async throws {
        try await Harness.run { h in
            let body = #"""
                {"movements": [
                  {"sku": "JACKET-M", "locationId": "PAR-01", "kind": "receipt", "quantity": 6, "reason": "asn", "reference": "ASN-7731"},
                  {"sku": "JACKET-M", "locationId": "PAR-01", "kind": "sale", "quantity": 2},
                  {"sku": "JACKET-M", "locationId": "PAR-02", "kind": "adjustment", "quantity": 3}]}
                """#
            let created = try await h.call(.post, "/v1/stock/movements", key: h.keys.admin, body: body)
            #expect(created.status == .created && created.json["events"] as? Int == 3 && created.json["positions"] as? Int == 2)
            let position = try await h.call(.get, "/v1/stock/PAR-01/JACKET-M", key: h.keys.checkout)
            #expect(position.json["onHand"] as? Int == 4 && position.json["available"] as? Int == 4 && position.json["version"] as? Int == 2)

            let tooMuch = try await h.call(
                .post, "/v1/stock/movements", key: h.keys.admin,
                body: #"{"movements": [{"sku": "JACKET-M", "locationId": "PAR-02", "kind": "receipt", "quantity": 1}, {"sku": "JACKET-M", "locationId": "PAR-01", "kind": "sale", "quantity": 5}]}"#)
            #expect(tooMuch.status == .conflict && tooMuch.codes == ["insufficient-on-hand"] && tooMuch.fields == ["/movements/1/quantity"], "\(tooMuch.text)")
            let unknown = try await h.call(
                .post, "/v1/stock/movements", key: h.keys.admin,
                body: #"{"movements": [{"sku": "JACKET-M", "locationId": "PAR-99", "kind": "receipt", "quantity": 1}]}"#)
            #expect(unknown.status == .unprocessableContent && unknown.codes == ["unknown-location"] && unknown.fields == ["/movements/0/locationId"])
            let typo = try await h.call(
                .post, "/v1/stock/movements", key: h.keys.admin,
                body: #"{"movements": [{"sku": "JACKET-M", "locationId": "PAR-01", "kind": "receipt", "qty": 1}]}"#)
            #expect(typo.status == .badRequest && typo.codes == ["unknown-field"] && typo.fields == ["/movements/0/qty"])
            let after = try await h.call(.get, "/v1/stock/PAR-02/JACKET-M", key: h.keys.admin)
            #expect(after.json["onHand"] as? Int == 3, "the refused requests changed nothing")
        }
    }

    @Test func aLateCountKeepsLaterSales() async throws {
        try await Harness.run { h in
            _ = try await h.receive("BOOT-42", "PAR-01", 10, at: isoNow(minus: 600))
            _ = try await h.call(
                .post, "/v1/stock/movements", key: h.keys.store,
                body: #"{"movements": [{"sku": "BOOT-42", "locationId": "PAR-01", "kind": "sale", "quantity": 3, "occurredAt": "\#(isoNow(minus: 60))"}]}"#)
            // Counted 8 five minutes ago, when the ledger held 10; the sale came after.
            let count = try await h.call(
                .post, "/v1/stock/counts", key: h.keys.store,
                body: #"{"locationId": "PAR-01", "countedAt": "\#(isoNow(minus: 300))", "lines": [{"sku": "BOOT-42", "quantity": 8}]}"#)
            #expect(count.status == .created, "\(count.text)")
            let differences = count.json["differences"] as? [[String: Any]]
            #expect(differences?.first?["expected"] as? Int == 10 && differences?.first?["applied"] as? Int == -2)
            let position = try await h.call(.get, "/v1/stock/PAR-01/BOOT-42", key: h.keys.store)
            #expect(position.json["onHand"] as? Int == 5)
            let past = try await h.call(.get, "/v1/stock/PAR-01/BOOT-42?asOf=\(isoNow(minus: 120))", key: h.keys.store)
            #expect(past.json["onHand"] as? Int == 8, "10 received, 2 found missing at the count, the sale still to come")

            let future = try await h.call(
                .post, "/v1/stock/counts", key: h.keys.admin,
                body: #"{"locationId": "PAR-01", "countedAt": "\#(isoNow(minus: -3600))", "lines": [{"sku": "BOOT-42", "quantity": 1}]}"#)
            #expect(future.status == .unprocessableContent && future.codes == ["count-time-out-of-range"])
            let notATime = try await h.call(
                .post, "/v1/stock/counts", key: h.keys.admin,
                body: #"{"locationId": "PAR-01", "countedAt": "yesterday", "lines": [{"sku": "BOOT-42", "quantity": 1}]}"#)
            #expect(notATime.status == .unprocessableContent && notATime.fields == ["/countedAt"])
            let nowhere = try await h.call(
                .post, "/v1/stock/counts", key: h.keys.admin,
                body: #"{"locationId": "PAR-77", "countedAt": "\#(isoNow())", "lines": [{"sku": "BOOT-42", "quantity": 1}]}"#)
            #expect(nowhere.status == .unprocessableContent && nowhere.fields == ["/locationId"])
        }
    }

    @Test func safetyStockIsNeverSold() async throws {
        try await Harness.run { h in
            _ = try await h.receive("CAP", "PAR-01", 5)
            let set = try await h.call(.put, "/v1/stock/PAR-01/CAP/safety-stock", key: h.keys.store, body: #"{"quantity": 2}"#)
            #expect(set.status == .ok && set.json["available"] as? Int == 3 && set.json["ownSafetyStock"] as? Bool == true)
            let cleared = try await h.call(.put, "/v1/stock/PAR-01/CAP/safety-stock", key: h.keys.store, body: #"{"quantity": null}"#)
            #expect(cleared.json["available"] as? Int == 5 && cleared.json["ownSafetyStock"] as? Bool == false)
            // The location's default applies to positions without their own.
            let store = Harness.locationBody.replacingOccurrences(of: "\"active\": true", with: "\"active\": true, \"safetyStockDefault\": 4")
            #expect(try await h.call(.put, "/v1/locations/PAR-01", key: h.keys.admin, body: store).status == .ok)
            let withDefault = try await h.call(.get, "/v1/availability?sku=CAP", key: h.keys.checkout)
            let entry = ((withDefault.json["items"] as? [[String: Any]])?.first?["locations"] as? [[String: Any]])?.first
            #expect(entry?["safetyStock"] as? Int == 4 && entry?["available"] as? Int == 1)
            let negative = try await h.call(.put, "/v1/stock/PAR-01/CAP/safety-stock", key: h.keys.admin, body: #"{"quantity": -1}"#)
            #expect(negative.status == .unprocessableContent && negative.fields == ["/quantity"])
            let forbidden = try await h.call(.put, "/v1/stock/PAR-02/CAP/safety-stock", key: h.keys.store, body: #"{"quantity": 1}"#)
            #expect(forbidden.status == .forbidden)
            let missing = try await h.call(.put, "/v1/stock/PAR-77/CAP/safety-stock", key: h.keys.admin, body: #"{"quantity": 1}"#)
            #expect(missing.status == .notFound)
        }
    }

    @Test func availabilitySumsChannelsAndOrdersPickupPointsByDistance() async throws {
        try await Harness.run { h in
            // PAR-01 and PAR-02 sit at the same point in the harness; move PAR-02 to Lille and add a warehouse.
            let lille = Harness.locationBody.replacingOccurrences(of: "48.8606", with: "50.63").replacingOccurrences(of: "2.3376", with: "3.06")
            _ = try await h.call(.put, "/v1/locations/PAR-02", key: h.keys.admin, body: lille)
            let warehouse = #"{"name": "WH", "kind": "warehouse", "latitude": 48.93, "longitude": 2.29, "capabilities": {"pickup": false, "ships": true}, "dailyCapacity": 1000}"#
            _ = try await h.call(.put, "/v1/locations/WH-01", key: h.keys.admin, body: warehouse)
            let closed = #"{"name": "Closed", "kind": "store", "latitude": 48.86, "longitude": 2.34, "capabilities": {"pickup": true, "ships": true}, "dailyCapacity": 10, "active": false}"#
            _ = try await h.call(.put, "/v1/locations/OLD-01", key: h.keys.admin, body: closed)
            for (location, quantity) in [("PAR-01", 2), ("PAR-02", 3), ("WH-01", 10), ("OLD-01", 7)] {
                _ = try await h.receive("BOOT-42", location, quantity)
            }
            // Near Lille: PAR-02 first.
            let reply = try await h.call(.get, "/v1/availability?sku=BOOT-42&sku=NOPE&near=50.63,3.06", key: h.keys.checkout)
            #expect(reply.status == .ok)
            let items = reply.json["items"] as? [[String: Any]] ?? []
            #expect(items.map { $0["sku"] as? String } == ["BOOT-42", "NOPE"])
            let boot = items[0]
            #expect(boot["available"] as? Int == 15, "the inactive location is left out")
            #expect(boot["ship"] as? Int == 15)
            let pickup = boot["pickup"] as? [[String: Any]] ?? []
            #expect(pickup.compactMap { $0["locationId"] as? String } == ["PAR-02", "PAR-01"])
            #expect((pickup.first?["distanceKm"] as? Double ?? 99) < 1)
            #expect(items[1]["available"] as? Int == 0)
            let nearby = try await h.call(.get, "/v1/availability?sku=BOOT-42&near=50.63,3.06&radiusKm=50", key: h.keys.checkout)
            let close = ((nearby.json["items"] as? [[String: Any]])?.first?["pickup"] as? [[String: Any]])?.compactMap { $0["locationId"] as? String }
            #expect(close == ["PAR-02"])
            let one = try await h.call(.get, "/v1/availability?sku=BOOT-42&locationId=WH-01", key: h.keys.store)
            #expect((((one.json["items"] as? [[String: Any]])?.first?["locations"]) as? [Any])?.count == 1)

            for (query, field) in [
                ("", "sku"), ("sku=a%20b", "sku"), ("sku=A&near=91,0", "near"), ("sku=A&near=abc", "near"),
                ("sku=A&radiusKm=5", "radiusKm"), ("sku=A&near=1,1&radiusKm=0", "radiusKm"), ("sku=A&locationId=a%20b", "locationId"),
                (Array(repeating: "sku=X", count: 1).joined() + (0...500).map { "&sku=S\($0)" }.joined(), "sku"),
            ] {
                let bad = try await h.call(.get, "/v1/availability?\(query)", key: h.keys.checkout)
                #expect(bad.status == .badRequest && bad.fields == [field], "\(query.prefix(40)): \(bad.text)")
            }
        }
    }

    @Test func historyPagesWithBalances() async throws {
        try await Harness.run { h in
            for quantity in [5, 3, 2] { _ = try await h.receive("TEE", "PAR-01", quantity) }
            let first = try await h.call(.get, "/v1/stock/PAR-01/TEE/history?limit=2", key: h.keys.integration)
            let entries = first.json["entries"] as? [[String: Any]] ?? []
            #expect(entries.compactMap { ($0["balance"] as? [String: Any])?["onHand"] as? Int } == [5, 8])
            let cursor = try #require(first.json["nextCursor"] as? String)
            let second = try await h.call(.get, "/v1/stock/PAR-01/TEE/history?limit=2&after=\(cursor)", key: h.keys.integration)
            let rest = second.json["entries"] as? [[String: Any]] ?? []
            #expect(rest.compactMap { ($0["balance"] as? [String: Any])?["onHand"] as? Int } == [10] && second.json["nextCursor"] == nil)
            #expect(rest.first?["type"] as? String == "stock.moved")
            let empty = try await h.call(.get, "/v1/stock/PAR-01/NEVER", key: h.keys.checkout)
            #expect(empty.status == .ok && empty.json["onHand"] as? Int == 0 && empty.json["version"] as? Int == 0)
            let badTime = try await h.call(.get, "/v1/stock/PAR-01/TEE?asOf=tomorrow", key: h.keys.checkout)
            #expect(badTime.status == .badRequest && badTime.fields == ["asOf"])
            let huge = try await h.call(.get, "/v1/stock/PAR-01/TEE/history?after=9223372036854775807", key: h.keys.checkout)
            #expect(huge.status == .badRequest && huge.fields == ["after"])
            let far = try await h.call(.get, "/v1/stock/PAR-01/TEE/history?after=4611686018427387903", key: h.keys.checkout)
            #expect(far.status == .ok && (far.json["entries"] as? [Any])?.isEmpty == true)
            let nowhere = try await h.call(.get, "/v1/stock/PAR-77/TEE/history", key: h.keys.checkout)
            #expect(nowhere.status == .notFound)
        }
    }

    @Test func retriedMovementsApplyOnce() async throws {
        try await Harness.run { h in
            let headers: HTTPFields = [HTTPField.Name("Idempotency-Key")!: "asn-7731"]
            let body = #"{"movements": [{"sku": "JACKET-M", "locationId": "PAR-01", "kind": "receipt", "quantity": 40}]}"#
            let first = try await h.call(.post, "/v1/stock/movements", key: h.keys.integration, body: body, headers: headers)
            let retry = try await h.call(.post, "/v1/stock/movements", key: h.keys.integration, body: body, headers: headers)
            #expect(first.status == .created && retry.status == .created && retry.text == first.text)
            #expect(retry.headers[HTTPField.Name("Idempotent-Replayed")!] == "true")
            let position = try await h.call(.get, "/v1/stock/PAR-01/JACKET-M", key: h.keys.admin)
            #expect(position.json["onHand"] as? Int == 40)
        }
    }
}
