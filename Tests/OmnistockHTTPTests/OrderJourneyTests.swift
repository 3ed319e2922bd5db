import Foundation
import HTTPTypes
import Testing

extension Harness {
    /// POSTs `body` (`{}` unless given), with an `Idempotency-Key` when one is given.
    func post(_ uri: String, _ body: String = "{}", key: String, idempotencyKey: String? = nil) async throws -> Reply {
        var headers: HTTPFields = [:]
        if let idempotencyKey { headers[HTTPField.Name("Idempotency-Key")!] = idempotencyKey }
        return try await call(.post, uri, key: key, body: body, headers: headers)
    }

    /// `POST /v1/orders`, by the checkout unless another key is given.
    func order(_ body: String, key: String? = nil, idempotencyKey: String? = nil) async throws -> Reply {
        try await post("/v1/orders", body, key: key ?? keys.checkout, idempotencyKey: idempotencyKey)
    }

    /// A step on an order (`picking`, `ready`, `collect`, `ship`, `cancel`, `returns`, `lines/1/not-found`, …),
    /// by the PAR-01 store unless another key is given.
    func step(_ orderId: String, _ action: String, _ body: String = "{}", key: String? = nil) async throws -> Reply {
        try await post("/v1/orders/\(orderId)/\(action)", body, key: key ?? keys.store)
    }

    /// `GET /v1/orders/{orderId}`, by the admin unless another key is given.
    func readOrder(_ orderId: String, key: String? = nil) async throws -> Reply {
        try await call(.get, "/v1/orders/\(orderId)", key: key ?? keys.admin)
    }

    /// A direct order, placed by the checkout, of `quantity` × `sku` to collect at `store`: its id and pickup code.
    func pickupOrder(_ number: String, _ sku: String, _ quantity: Int = 1, at store: String = "PAR-01") async throws -> (id: String, code: String) {
        let reply = try await order(
            #"{"orderNumber": "\#(number)", "lines": [{"sku": "\#(sku)", "quantity": \#(quantity)}], "fulfilment": {"type": "pickup", "locationId": "\#(store)"}}"#)
        #expect(reply.status == .created, "\(reply.text)")
        let id = try #require(reply.json["id"] as? String, "\(reply.text)")
        let code = try #require(reply.json["pickupCode"] as? String, "\(reply.text)")
        return (id, code)
    }

    /// A direct order, placed by the checkout, of `quantity` × `sku` shipped to an address in Paris
    /// (48.86, 2.34 unless given); its line pinned to `location` when one is given. Answers its id.
    func shipOrder(
        _ number: String, _ sku: String, _ quantity: Int = 1, from location: String? = nil, latitude: Double = 48.86, longitude: Double = 2.34
    ) async throws -> String {
        let pin = location.map { #", "locationId": "\#($0)""# } ?? ""
        let reply = try await order(
            #"{"orderNumber": "\#(number)", "lines": [{"sku": "\#(sku)", "quantity": \#(quantity)\#(pin)}], "fulfilment": {"type": "ship", "address": {"latitude": \#(latitude), "longitude": \#(longitude)}}}"#)
        #expect(reply.status == .created, "\(reply.text)")
        return try #require(reply.json["id"] as? String, "\(reply.text)")
    }

    /// Defines a warehouse that ships and is no pickup point (north-west Paris unless told).
    func defineWarehouse(_ id: String = "WH-01", latitude: Double = 48.93, longitude: Double = 2.29) async throws {
        let body = #"{"name": "Warehouse \#(id)", "kind": "warehouse", "latitude": \#(latitude), "longitude": \#(longitude), "capabilities": {"pickup": false, "ships": true}, "dailyCapacity": 1000}"#
        let reply = try await call(.put, "/v1/locations/\(id)", key: keys.admin, body: body)
        #expect(reply.status == .created, "\(reply.text)")
    }

    /// A new store key bound to `locations`, made by the admin through the API.
    func newStoreKey(_ locations: [String]) async throws -> String {
        let ids = locations.map { "\"\($0)\"" }.joined(separator: ", ")
        let reply = try await call(
            .post, "/v1/api-keys", key: keys.admin, body: #"{"name": "till \#(locations.joined(separator: " "))", "role": "store", "locations": [\#(ids)]}"#)
        #expect(reply.status == .created, "\(reply.text)")
        return try #require(reply.json["key"] as? String, "\(reply.text)")
    }

    /// The feed's events of these types, oldest first (read by the admin).
    func feed(_ types: String...) async throws -> [[String: Any]] {
        let query = types.map { "type=\($0)" }.joined(separator: "&")
        let reply = try await call(.get, "/v1/events?limit=1000&\(query)", key: keys.admin)
        #expect(reply.status == .ok, "\(reply.text)")
        return reply.json["events"] as? [[String: Any]] ?? []
    }

    /// The data of the `stock.moved` events of one kind (`loss`, `fulfilment`, `return`, `transfer-in`, …).
    func movements(kind: String) async throws -> [[String: Any]] {
        try await feed("stock.moved").compactMap { $0["data"] as? [String: Any] }.filter { $0["kind"] as? String == kind }
    }

    /// Milliseconds since 1970, `days` from now, in whatever integer type the caller takes.
    func epochMilliseconds<T: BinaryInteger>(daysFromNow days: Double = 0) -> T {
        T(((Date().timeIntervalSince1970 + days * 86_400) * 1_000).rounded())
    }
}

extension Harness.Reply {
    var orderLines: [[String: Any]] { json["lines"] as? [[String: Any]] ?? [] }
    var firstError: [String: Any] { (json["errors"] as? [[String: Any]])?.first ?? [:] }
    /// The status an order or transfer is in, as a refused step reports it.
    var currentStatus: String? { firstError["currentStatus"] as? String }
    /// The ids of the orders of a queue page.
    var listedOrderIds: [String] { (json["orders"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String } }
    /// 409 `invalid-transition` naming `status` as where the order (or transfer) is.
    func isInvalidTransition(from status: String) -> Bool {
        self.status == .conflict && codes == ["invalid-transition"] && currentStatus == status
    }
}

/// A pickup code that is not `code` (both made of letters no alphabet leaves out).
func wrongCode(for code: String) -> String {
    code == "KKKKKKKK" ? "MMMMMMMM" : "KKKKKKKK"
}

/// Whole journeys through the API, each by the callers that would make them, each ending with
/// the projections checked against the ledger.
@Suite struct OrderJourneyTests {
    @Test func buyOnlineCollectInStoreTheSameDay() async throws {
        try await Harness.run { h in
            _ = try await h.receive("JACKET-M", "PAR-01", 3)
            // The checkout holds the jacket at PAR-01 while the shopper pays.
            let hold = try await h.hold(
                #"{"lines": [{"sku": "JACKET-M", "quantity": 1}], "fulfilment": {"type": "pickup", "locationId": "PAR-01"}, "reference": "cart-7"}"#)
            #expect(hold.status == .created, "\(hold.text)")
            let holdId = try #require(hold.json["id"] as? String)
            #expect(try await h.position("PAR-01", "JACKET-M")["held"] as? Int == 1)

            // Paid: the hold becomes the order, and the pickup code is shown this once.
            let conversion = #"{"orderNumber": "WEB-1001", "holdId": "\#(holdId)", "reference": "cart-7"}"#
            let created = try await h.order(conversion)
            #expect(created.status == .created, "\(created.text)")
            let id = try #require(created.json["id"] as? String)
            let code = try #require(created.json["pickupCode"] as? String)
            #expect(id.hasPrefix("ord_") && id.count == 36, "\(id)")
            let alphabet = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZ23456789")
            #expect(code.count == 8 && code.allSatisfy { alphabet.contains($0) }, "\(code)")
            #expect(!code.contains("O") && !code.contains("I"), "no look-alikes: \(code)")
            #expect(created.json["status"] as? String == "allocated" && created.json["holdId"] as? String == holdId)
            #expect(created.json["orderNumber"] as? String == "WEB-1001" && created.json["reference"] as? String == "cart-7")
            let fulfilment = created.json["fulfilment"] as? [String: Any]
            #expect(fulfilment?["type"] as? String == "pickup" && fulfilment?["locationId"] as? String == "PAR-01")
            let line = try #require(created.orderLines.first)
            #expect(created.orderLines.count == 1 && line["id"] as? String == "1" && line["sku"] as? String == "JACKET-M")
            #expect(line["quantity"] as? Int == 1 && line["locationId"] as? String == "PAR-01" && line["status"] as? String == "allocated")
            #expect(created.json["wrongPickupCodes"] as? Int == 0 && created.json["pickupLocked"] as? Bool == false)

            // A retry of the conversion is the same order, without the code.
            let again = try await h.order(conversion)
            #expect(again.status == .ok && again.json["id"] as? String == id, "\(again.text)")
            #expect(again.json["pickupCode"] as? String == nil, "the code is shown once")
            let position = try await h.position("PAR-01", "JACKET-M")
            #expect(position["held"] as? Int == 0 && position["allocated"] as? Int == 1 && position["available"] as? Int == 2, "\(position)")
            #expect(try await h.call(.get, "/v1/holds/\(holdId)", key: h.keys.checkout).json["status"] as? String == "converted")
            #expect(try await h.feed("hold.converted").count == 1)
            #expect(try await h.feed("order.created").count == 1)

            // The store picks it and puts it out; the integration tells the customer.
            let picking = try await h.step(id, "picking")
            #expect(picking.status == .ok && picking.json["status"] as? String == "picking", "\(picking.text)")
            let ready = try await h.step(id, "ready")
            #expect(ready.status == .ok && ready.json["status"] as? String == "ready", "\(ready.text)")
            let readyAt = try #require(ready.json["readyAt"] as? String)
            let expiresAt = try #require(ready.json["pickupExpiresAt"] as? String)
            #expect(expiresAt > readyAt)
            let notices = try await h.feed("order.ready")
            #expect(notices.count == 1 && notices.first?["stream"] as? String == "order-\(id)", "\(notices)")

            // The customer comes in the same afternoon: a mistyped code first, then the right one.
            let mistyped = try await h.step(id, "collect", #"{"pickupCode": "\#(wrongCode(for: code))"}"#)
            #expect(mistyped.status == .unprocessableContent && mistyped.codes == ["pickup-code-wrong"], "\(mistyped.text)")
            #expect(mistyped.firstError["attemptsLeft"] as? Int == 4)
            #expect(try await h.readOrder(id).json["wrongPickupCodes"] as? Int == 1)
            let collected = try await h.step(id, "collect", #"{"pickupCode": "\#(code)"}"#)
            #expect(collected.status == .ok && collected.json["status"] as? String == "collected", "\(collected.text)")
            #expect(collected.orderLines.first?["status"] as? String == "collected")
            #expect(collected.json["pickupCode"] as? String == nil)

            let after = try await h.position("PAR-01", "JACKET-M")
            #expect(after["onHand"] as? Int == 2 && after["allocated"] as? Int == 0 && after["held"] as? Int == 0, "\(after)")
            #expect(after["available"] as? Int == 2)
            let handedOver = try await h.movements(kind: "fulfilment")
            #expect(handedOver.count == 1 && handedOver.first?["locationId"] as? String == "PAR-01" && handedOver.first?["quantity"] as? Int == 1)
            #expect(try await h.feed("order.collected").count == 1)
            try await h.verifyIsClean()
        }
    }

    @Test func aStoreShipsWhenTheWarehouseIsOut() async throws {
        try await Harness.run { h in
            // The warehouse next to the customer sold its last pair this morning; PAR-01 has some.
            try await h.defineWarehouse("WH-01", latitude: 48.93, longitude: 2.29)
            _ = try await h.receive("BOOT-42", "WH-01", 2)
            let sold = try await h.call(
                .post, "/v1/stock/movements", key: h.keys.integration,
                body: #"{"movements": [{"sku": "BOOT-42", "locationId": "WH-01", "kind": "sale", "quantity": 2}]}"#)
            #expect(sold.status == .created, "\(sold.text)")
            _ = try await h.receive("BOOT-42", "PAR-01", 3)

            let created = try await h.order(
                #"{"orderNumber": "WEB-2001", "lines": [{"sku": "BOOT-42", "quantity": 2}], "fulfilment": {"type": "ship", "address": {"latitude": 48.93, "longitude": 2.29}}}"#)
            #expect(created.status == .created, "\(created.text)")
            let id = try #require(created.json["id"] as? String)
            #expect(created.json["status"] as? String == "allocated" && created.json["pickupCode"] as? String == nil, "no code for a parcel")
            #expect((created.json["fulfilment"] as? [String: Any])?["type"] as? String == "ship")
            let line = try #require(created.orderLines.first)
            #expect(created.orderLines.count == 1 && line["locationId"] as? String == "PAR-01" && line["status"] as? String == "allocated", "\(created.text)")
            let promised = try await h.position("PAR-01", "BOOT-42")
            #expect(promised["allocated"] as? Int == 2 && promised["available"] as? Int == 1, "\(promised)")

            // The store sees it in its queue, packs it and hands it to the carrier.
            let queue = try await h.call(.get, "/v1/orders?locationId=PAR-01", key: h.keys.store)
            #expect(queue.status == .ok && queue.listedOrderIds == [id], "\(queue.text)")
            let shipped = try await h.step(id, "ship", #"{"carrier": "DHL", "tracking": "JD0001"}"#)
            #expect(shipped.status == .ok && shipped.json["status"] as? String == "shipped", "\(shipped.text)")
            #expect(shipped.orderLines.first?["status"] as? String == "shipped")
            let shipment = try #require((shipped.json["shipments"] as? [[String: Any]])?.first, "\(shipped.text)")
            #expect(shipment["carrier"] as? String == "DHL" && shipment["tracking"] as? String == "JD0001")
            #expect(shipment["lines"] as? [String] == ["1"] && shipment["shippedAt"] is String)

            let store = try await h.position("PAR-01", "BOOT-42")
            #expect(store["onHand"] as? Int == 1 && store["allocated"] as? Int == 0 && store["available"] as? Int == 1, "\(store)")
            #expect(try await h.position("WH-01", "BOOT-42")["onHand"] as? Int == 0)
            #expect(try await h.call(.get, "/v1/orders?locationId=PAR-01", key: h.keys.store).listedOrderIds.isEmpty, "shipped orders leave the queue")
            #expect(try await h.feed("order.shipped").count == 1)
            try await h.verifyIsClean()
        }
    }

    @Test func anItemNotFoundInStoreIsSourcedElsewhere() async throws {
        try await Harness.run { h in
            // PAR-02 a little further from the customer than PAR-01; both have the jacket.
            let further = Harness.locationBody.replacingOccurrences(of: "48.8606", with: "48.88").replacingOccurrences(of: "2.3376", with: "2.36")
            #expect(try await h.call(.put, "/v1/locations/PAR-02", key: h.keys.admin, body: further).status == .ok)
            _ = try await h.receive("JACKET-M", "PAR-01", 2)
            _ = try await h.receive("JACKET-M", "PAR-02", 3)
            let id = try await h.shipOrder("WEB-3001", "JACKET-M", 2)
            #expect(try await h.readOrder(id).orderLines.first?["locationId"] as? String == "PAR-01")
            #expect(try await h.step(id, "picking").status == .ok)

            // The shelf at PAR-01 is empty after all.
            let missing = try await h.step(id, "lines/1/not-found")
            #expect(missing.status == .ok, "\(missing.text)")
            #expect(["allocated", "picking"].contains(missing.json["status"] as? String ?? ""), "\(missing.text)")
            let original = try #require(missing.orderLines.first { $0["id"] as? String == "1" })
            #expect(original["status"] as? String == "not-found" && original["locationId"] as? String == "PAR-01")
            let replacement = try #require(missing.orderLines.first { $0["replaces"] as? String == "1" }, "\(missing.text)")
            #expect(replacement["id"] as? String != "1" && replacement["sku"] as? String == "JACKET-M" && replacement["quantity"] as? Int == 2)
            #expect(replacement["locationId"] as? String == "PAR-02" && replacement["status"] as? String == "allocated")

            let lost = try await h.position("PAR-01", "JACKET-M")
            #expect(lost["onHand"] as? Int == 0 && lost["allocated"] as? Int == 0, "the units are written off: \(lost)")
            let elsewhere = try await h.position("PAR-02", "JACKET-M")
            #expect(elsewhere["onHand"] as? Int == 3 && elsewhere["allocated"] as? Int == 2 && elsewhere["available"] as? Int == 1, "\(elsewhere)")
            let losses = try await h.movements(kind: "loss")
            #expect(losses.count == 1 && losses.first?["locationId"] as? String == "PAR-01" && losses.first?["quantity"] as? Int == 2, "\(losses)")
            #expect(try await h.feed("order.line-not-found").count == 1)
            // The order moved from PAR-01's queue to PAR-02's.
            #expect(try await h.call(.get, "/v1/orders?locationId=PAR-01", key: h.keys.store).listedOrderIds.isEmpty)
            let par02 = try await h.newStoreKey(["PAR-02"])
            #expect(try await h.call(.get, "/v1/orders?locationId=PAR-02", key: par02).listedOrderIds == [id])
            let shipped = try await h.step(id, "ship", #"{"carrier": "DHL", "tracking": "JD0002"}"#, key: par02)
            #expect(shipped.status == .ok && shipped.json["status"] as? String == "shipped", "\(shipped.text)")
            #expect(try await h.position("PAR-02", "JACKET-M")["onHand"] as? Int == 1)

            // The last cap is not on the shelf either, and no one else has one: the order is cancelled.
            _ = try await h.receive("CAP-NAVY", "PAR-01", 1)
            let lastOne = try await h.shipOrder("WEB-3002", "CAP-NAVY", 1)
            let gone = try await h.step(lastOne, "lines/1/not-found")
            #expect(gone.status == .ok, "\(gone.text)")
            #expect(gone.json["status"] as? String == "cancelled" && gone.json["cancelReason"] as? String == "stock", "\(gone.text)")
            #expect(gone.orderLines.count == 1, "nothing replaces it")
            #expect(gone.orderLines.first?["status"] as? String == "cancelled" && gone.orderLines.first?["reason"] as? String == "not-found")
            let cap = try await h.position("PAR-01", "CAP-NAVY")
            #expect(cap["onHand"] as? Int == 0 && cap["allocated"] as? Int == 0, "\(cap)")
            #expect(try await h.movements(kind: "loss").count == 2)
            try await h.verifyIsClean()
        }
    }

    @Test func aPickupNotCollectedExpires() async throws {
        try await Harness.run { h in
            _ = try await h.receive("JACKET-M", "PAR-01", 2)
            let (id, code) = try await h.pickupOrder("WEB-4001", "JACKET-M")
            let ready = try await h.step(id, "ready")
            #expect(ready.status == .ok && ready.json["pickupExpiresAt"] is String, "\(ready.text)")
            let waiting = try await h.position("PAR-01", "JACKET-M")
            #expect(waiting["allocated"] as? Int == 1 && waiting["available"] as? Int == 1, "\(waiting)")

            // Within the window the sweeper leaves it; eight days on (the window is seven), it expires.
            let early = try await h.services.orders.expireNoShows(asOfMs: h.epochMilliseconds(), limit: 100)
            #expect(early == 0)
            #expect(try await h.readOrder(id).json["status"] as? String == "ready")
            let expired = try await h.services.orders.expireNoShows(asOfMs: h.epochMilliseconds(daysFromNow: 8), limit: 100)
            #expect(expired == 1)

            let read = try await h.readOrder(id, key: h.keys.store)
            #expect(read.status == .ok && read.json["status"] as? String == "expired", "\(read.text)")
            #expect(!read.orderLines.isEmpty && read.orderLines.allSatisfy { $0["status"] as? String == "expired" }, "\(read.text)")
            let released = try await h.position("PAR-01", "JACKET-M")
            #expect(released["onHand"] as? Int == 2 && released["allocated"] as? Int == 0 && released["available"] as? Int == 2, "\(released)")
            let events = try await h.feed("order.expired")
            #expect(events.count == 1 && (events.first?["data"] as? [String: Any])?["reason"] as? String == "not-collected", "\(events)")

            // The customer turns up on day nine.
            let late = try await h.step(id, "collect", #"{"pickupCode": "\#(code)"}"#)
            #expect(late.isInvalidTransition(from: "expired"), "\(late.text)")
            let sweptAgain = try await h.services.orders.expireNoShows(asOfMs: h.epochMilliseconds(daysFromNow: 8), limit: 100)
            #expect(sweptAgain == 0, "an expired order is not expired twice")
            try await h.verifyIsClean()
        }
    }

    @Test func aWebOrderIsReturnedInAnotherStore() async throws {
        try await Harness.run { h in
            _ = try await h.receive("JACKET-M", "PAR-01", 3)
            let id = try await h.shipOrder("WEB-5001", "JACKET-M", 2)
            let shipped = try await h.step(id, "ship", #"{"carrier": "Colissimo", "tracking": "6A123"}"#)
            #expect(shipped.status == .ok && shipped.json["status"] as? String == "shipped", "\(shipped.text)")

            // The customer brings both jackets to PAR-02: one is fine, one is torn.
            let par02 = try await h.newStoreKey(["PAR-02"])
            let fine = #"{"locationId": "PAR-02", "lines": [{"sku": "JACKET-M", "quantity": 1, "restock": true}]}"#
            let torn = #"{"locationId": "PAR-02", "lines": [{"sku": "JACKET-M", "quantity": 1, "restock": false}]}"#
            let notHere = try await h.step(id, "returns", fine)
            #expect(notHere.status == .forbidden && notHere.codes == ["location-forbidden"], "PAR-01's till cannot take it at PAR-02: \(notHere.text)")
            #expect(try await h.step(id, "returns", fine, key: h.keys.checkout).status == .forbidden)

            let restocked = try await h.step(id, "returns", fine, key: par02)
            #expect(restocked.status == .ok && restocked.json["status"] as? String == "shipped", "\(restocked.text)")
            #expect(restocked.orderLines.first?["returned"] as? Int == 1 && restocked.orderLines.first?["damaged"] as? Int == 0, "\(restocked.text)")
            #expect(try await h.position("PAR-02", "JACKET-M")["onHand"] as? Int == 1)
            let setAside = try await h.step(id, "returns", torn, key: par02)
            #expect(setAside.status == .ok, "\(setAside.text)")
            #expect(setAside.orderLines.first?["returned"] as? Int == 1 && setAside.orderLines.first?["damaged"] as? Int == 1, "\(setAside.text)")
            let returns = setAside.json["returns"] as? [[String: Any]] ?? []
            #expect(returns.count == 2 && returns.allSatisfy { $0["locationId"] as? String == "PAR-02" && $0["returnedAt"] is String }, "\(setAside.text)")
            #expect((returns.first?["lines"] as? [[String: Any]])?.first?["restock"] as? Bool == true)

            let shop = try await h.position("PAR-02", "JACKET-M")
            #expect(shop["onHand"] as? Int == 1 && shop["available"] as? Int == 1, "the torn one is not for sale: \(shop)")
            #expect(try await h.position("PAR-01", "JACKET-M")["onHand"] as? Int == 1)
            // Both units are back: a third is refused and changes nothing.
            let third = try await h.step(id, "returns", fine, key: par02)
            #expect(third.status == .unprocessableContent && third.codes == ["out-of-range"] && third.fields == ["/lines/0/quantity"], "\(third.text)")
            #expect(try await h.position("PAR-02", "JACKET-M")["onHand"] as? Int == 1)
            let back = try await h.movements(kind: "return")
            #expect(back.count == 1 && back.first?["locationId"] as? String == "PAR-02" && back.first?["quantity"] as? Int == 1, "\(back)")
            #expect(try await h.feed("order.returned").count == 2)
            try await h.verifyIsClean()
        }
    }

    @Test func aTransferArrivesShort() async throws {
        try await Harness.run { h in
            try await h.defineWarehouse()
            _ = try await h.receive("JACKET-M", "WH-01", 25)
            // The warehouse system sends ten jackets to PAR-01.
            let sent = try await h.post(
                "/v1/transfers", #"{"fromLocationId": "WH-01", "toLocationId": "PAR-01", "lines": [{"sku": "JACKET-M", "quantity": 10}], "reference": "T-1"}"#,
                key: h.keys.integration)
            #expect(sent.status == .created, "\(sent.text)")
            let id = try #require(sent.json["id"] as? String)
            #expect(id.hasPrefix("trf_") && id.count == 36 && sent.json["status"] as? String == "in-transit", "\(sent.text)")
            #expect(sent.json["fromLocationId"] as? String == "WH-01" && sent.json["toLocationId"] as? String == "PAR-01")
            #expect(sent.json["reference"] as? String == "T-1" && sent.json["dispatchedAt"] is String && sent.json["orderId"] as? String == nil)
            let source = try await h.position("WH-01", "JACKET-M")
            #expect(source["onHand"] as? Int == 15 && source["available"] as? Int == 15, "\(source)")
            let coming = try await h.position("PAR-01", "JACKET-M")
            #expect(coming["incoming"] as? Int == 10 && coming["onHand"] as? Int == 0 && coming["available"] as? Int == 0, "\(coming)")

            // Eight arrive at the store.
            let arrived = try await h.post("/v1/transfers/\(id)/receive", #"{"lines": [{"sku": "JACKET-M", "quantity": 8}]}"#, key: h.keys.store)
            #expect(arrived.status == .ok && arrived.json["status"] as? String == "received", "\(arrived.text)")
            let line = try #require(arrived.orderLines.first)
            #expect(line["quantity"] as? Int == 10 && line["received"] as? Int == 8 && line["lost"] as? Int == 2, "\(arrived.text)")
            #expect(arrived.json["receivedAt"] is String)
            let store = try await h.position("PAR-01", "JACKET-M")
            #expect(store["onHand"] as? Int == 8 && store["incoming"] as? Int == 0 && store["available"] as? Int == 8, "\(store)")
            #expect(try await h.position("WH-01", "JACKET-M")["onHand"] as? Int == 15)

            let twice = try await h.post("/v1/transfers/\(id)/receive", #"{"lines": [{"sku": "JACKET-M", "quantity": 2}]}"#, key: h.keys.store)
            #expect(twice.isInvalidTransition(from: "received"), "\(twice.text)")
            #expect(try await h.position("PAR-01", "JACKET-M")["onHand"] as? Int == 8)
            let read = try await h.call(.get, "/v1/transfers/\(id)", key: h.keys.store)
            #expect(read.status == .ok && read.json["status"] as? String == "received", "\(read.text)")

            let out = try await h.movements(kind: "transfer-out")
            #expect(out.count == 1 && out.first?["locationId"] as? String == "WH-01" && out.first?["quantity"] as? Int == 10, "\(out)")
            let into = try await h.movements(kind: "transfer-in")
            #expect(into.count == 1 && into.first?["locationId"] as? String == "PAR-01" && into.first?["quantity"] as? Int == 8, "\(into)")
            #expect(try await h.feed("transfer.dispatched").count == 1)
            #expect(try await h.feed("transfer.received").count == 1)
            try await h.verifyIsClean()
        }
    }
}
