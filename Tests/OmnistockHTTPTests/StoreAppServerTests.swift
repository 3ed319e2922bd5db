import Foundation
import HTTPTypes
import OmnistockCore
@testable import OmnistockHTTP
import NIOCore
import Testing

/// What the store app needs of the server, route by route: its page and headers, the calling
/// key, the queue's position and promise, an order found by number for a return in any store,
/// the transfers on their way to a store, and the feed of a store key. The app itself is
/// tested in a real browser (scripts/store-app.py).
@Suite struct StoreAppServerTests {
    @Test func thePageIsServedWithItsSecurityHeadersAndRevalidated() async throws {
        try await Harness.run { h in
            let page = try await h.call(.get, "/store/", key: nil)
            #expect(page.status == .ok && page.headers[.contentType] == "text/html; charset=utf-8")
            #expect(page.text.contains("<html"))
            let policy = try #require(page.headers[HTTPField.Name("Content-Security-Policy")!])
            for directive in ["default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"] {
                #expect(policy.contains(directive), "\(policy)")
            }
            #expect(!policy.contains("unsafe-inline") && !policy.contains("unsafe-eval"))
            #expect(page.headers[HTTPField.Name("X-Content-Type-Options")!] == "nosniff")
            #expect(page.headers[HTTPField.Name("X-Frame-Options")!] == "DENY")
            #expect(page.headers[HTTPField.Name("Referrer-Policy")!] == "no-referrer")
            let etag = try #require(page.headers[.eTag])

            // Without the slash, the same page; with the client's copy, 304 and no body.
            let bare = try await h.call(.get, "/store", key: nil)
            #expect(bare.status == .ok && bare.text == page.text)
            let again = try await h.call(.get, "/store/", key: nil, headers: [.ifNoneMatch: etag])
            #expect(again.status == .notModified && again.text.isEmpty)
            let stale = try await h.call(.get, "/store/", key: nil, headers: [.ifNoneMatch: "\"0\""])
            #expect(stale.status == .ok)

            let missing = try await h.call(.get, "/store/nope.js", key: nil)
            #expect(missing.status == .notFound && missing.isProblem)
            let escape = try await h.call(.get, "/store/..%2Fopenapi.yaml", key: nil)
            #expect(escape.status == .notFound)
            let post = try await h.call(.post, "/store/", key: nil)
            #expect(post.status == .methodNotAllowed)
        }
    }

    @Test func everyFileOfThePageHasAKnownTypeAndTheIndexOnlyReferencesItsOwnFiles() throws {
        let page = try WebPage.store.get()
        #expect(page.assets["index.html"] != nil)
        for (name, asset) in page.assets {
            #expect(WebPage.contentType(of: name) == asset.contentType, "\(name)")
        }
        let index = String(buffer: try #require(page.assets["index.html"]).bytes)
        // Nothing from outside: no absolute URL to another origin in the page.
        #expect(!index.contains("http://") && !index.contains("https://") && !index.contains("//cdn"))
        #expect(!index.contains("<script>") && !index.contains(" onclick="), "no inline script")
    }

    @Test func meSaysTheKeysRoleAndLocations() async throws {
        try await Harness.run { h in
            let store = try await h.call(.get, "/v1/me", key: h.keys.store)
            #expect(store.status == .ok)
            #expect(store.json["role"] as? String == "store" && store.json["locationIds"] as? [String] == ["PAR-01"])
            #expect((store.json["apiKeyId"] as? String)?.hasPrefix("key_") == true)
            let admin = try await h.call(.get, "/v1/me", key: h.keys.admin)
            #expect(admin.json["role"] as? String == "admin" && admin.text.contains(#""locationIds":null"#), "\(admin.text)")
            let anonymous = try await h.call(.get, "/v1/me", key: nil)
            #expect(anonymous.status == .unauthorized)
        }
    }

    @Test func theQueueSaysItsPositionAndEachPickupItsPromise() async throws {
        try await Harness.run { h in
            _ = try await h.receive("JACKET-M", "PAR-01", 5)
            let before = try await h.call(.get, "/v1/orders?locationId=PAR-01", key: h.keys.store)
            let start = try #require(before.json["position"] as? Int)
            let pickup = try await h.pickupOrder("WEB-8001", "JACKET-M")
            let parcel = try await h.shipOrder("WEB-8002", "JACKET-M", 1)
            let queue = try await h.call(.get, "/v1/orders?locationId=PAR-01", key: h.keys.store)
            let position = try #require(queue.json["position"] as? Int)
            #expect(position > start)
            // The page reflects every event up to its position: both orders are in it.
            let orders = queue.json["orders"] as? [[String: Any]] ?? []
            #expect(Set(orders.compactMap { $0["id"] as? String }) == [pickup.id, parcel])

            let read = try await h.readOrder(pickup.id).json
            let style = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
            let created = try Date(try #require(read["createdAt"] as? String), strategy: style)
            let readyBy = try Date(try #require(read["readyBy"] as? String), strategy: style)
            #expect(readyBy.timeIntervalSince(created) == Double(Limits.pickupPromiseSecondsDefault))
            #expect(try await h.readOrder(parcel).json["readyBy"] == nil, "a parcel is promised nothing at a counter")
        }
    }

    @Test func aReturnFindsTheOrderByNumberInAnyStoreWithWhatCanComeBack() async throws {
        try await Harness.run { h in
            _ = try await h.receive("JACKET-M", "PAR-01", 5)
            let pickup = try await h.pickupOrder("WEB-8101", "JACKET-M", 2)
            let early = try await h.call(.get, "/v1/returnable-orders/WEB-8101", key: h.keys.store)
            #expect(early.status == .ok && early.json["status"] as? String == "allocated")
            #expect((early.json["lines"] as? [[String: Any]])?.first?["returnable"] as? Int == 0)
            for step in ["picking", "ready"] { #expect(try await h.step(pickup.id, step).status == .ok) }
            #expect(try await h.step(pickup.id, "collect", #"{"pickupCode": "\#(pickup.code)"}"#).status == .ok)

            // A key of another store finds it (a web order comes back in any store), and sees
            // nothing of the customer; it still cannot read the order itself.
            let elsewhere = try await h.services.apiKeys.create(
                try ApiKeySpec.validate(name: "PAR-02", role: .store, locations: ["PAR-02"]).get(), createdBy: "test",
                on: h.services.database
            ).1
            let found = try await h.call(.get, "/v1/returnable-orders/WEB-8101", key: elsewhere)
            #expect(found.status == .ok && found.json["id"] as? String == pickup.id && found.json["fulfilmentType"] as? String == "pickup")
            #expect(found.json["reference"] == nil && found.json["pickupCode"] == nil && !found.text.contains("PAR-01"), "\(found.text)")
            let line = try #require((found.json["lines"] as? [[String: Any]])?.first)
            #expect(line["returnable"] as? Int == 2 && line["sku"] as? String == "JACKET-M", "\(line)")
            #expect(try await h.readOrder(pickup.id, key: elsewhere).status == .forbidden)

            let back = #"{"locationId": "PAR-02", "lines": [{"sku": "JACKET-M", "quantity": 1, "restock": false}]}"#
            #expect(try await h.step(pickup.id, "returns", back, key: elsewhere).status == .ok)
            let after = try await h.call(.get, "/v1/returnable-orders/WEB-8101", key: elsewhere)
            let left = try #require((after.json["lines"] as? [[String: Any]])?.first)
            #expect(left["returnable"] as? Int == 1 && left["damaged"] as? Int == 1, "\(left)")

            let unknown = try await h.call(.get, "/v1/returnable-orders/WEB-0000", key: elsewhere)
            #expect(unknown.status == .notFound && unknown.codes == ["unknown-order"], "\(unknown.text)")
            let checkout = try await h.call(.get, "/v1/returnable-orders/WEB-8101", key: h.keys.checkout)
            #expect(checkout.status == .forbidden)
        }
    }

    @Test func aStoreListsTheTransfersOnTheirWayToItPageByPage() async throws {
        try await Harness.run { h in
            _ = try await h.receive("JACKET-M", "PAR-02", 9)
            var sent: [String] = []
            for _ in 0..<3 {
                let transfer = try await h.post(
                    "/v1/transfers", #"{"fromLocationId": "PAR-02", "toLocationId": "PAR-01", "lines": [{"sku": "JACKET-M", "quantity": 3}]}"#,
                    key: h.keys.admin)
                sent.append(try #require(transfer.json["id"] as? String, "\(transfer.text)"))
            }
            var seen: [String] = []
            var after: String?
            for _ in 0..<4 {
                let uri = "/v1/transfers?toLocationId=PAR-01&limit=2" + (after.map { "&after=\($0)" } ?? "")
                let page = try await h.call(.get, uri, key: h.keys.store)
                #expect(page.status == .ok, "\(page.text)")
                seen += (page.json["transfers"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
                after = page.json["next"] as? String
                if after == nil { break }
            }
            #expect(seen == sent.sorted())

            let received = try await h.post("/v1/transfers/\(sent[0])/receive", #"{"lines": [{"sku": "JACKET-M", "quantity": 3}]}"#, key: h.keys.store)
            #expect(received.status == .ok, "\(received.text)")
            let open = try await h.call(.get, "/v1/transfers?toLocationId=PAR-01", key: h.keys.store)
            #expect((open.json["transfers"] as? [[String: Any]])?.count == 2)
            let done = try await h.call(.get, "/v1/transfers?toLocationId=PAR-01&status=received", key: h.keys.store)
            #expect((done.json["transfers"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == [sent[0]])

            let missing = try await h.call(.get, "/v1/transfers", key: h.keys.store)
            #expect(missing.status == .badRequest && missing.codes == ["missing-field"], "\(missing.text)")
            let badStatus = try await h.call(.get, "/v1/transfers?toLocationId=PAR-01&status=lost", key: h.keys.store)
            #expect(badStatus.status == .badRequest)
            let otherStore = try await h.call(.get, "/v1/transfers?toLocationId=PAR-02", key: h.keys.store)
            #expect(otherStore.status == .forbidden)
        }
    }

    @Test func aStoreKeyReadsTheFeedOfItsOwnStoresOnly() async throws {
        try await Harness.run { h in
            _ = try await h.receive("JACKET-M", "PAR-01", 2)
            _ = try await h.receive("JACKET-M", "PAR-02", 2)
            let mine = try await h.pickupOrder("WEB-8201", "JACKET-M")
            let theirs = try await h.pickupOrder("WEB-8202", "JACKET-M", at: "PAR-02")
            let feed = try await h.call(.get, "/v1/events?type=order.created", key: h.keys.store)
            #expect(feed.status == .ok)
            let streams = (feed.json["events"] as? [[String: Any]] ?? []).compactMap { $0["stream"] as? String }
            #expect(streams == ["order-\(mine.id)"], "not order-\(theirs.id): \(streams)")
        }
    }
}
