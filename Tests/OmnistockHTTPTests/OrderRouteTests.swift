import Foundation
import HTTPTypes
import Testing

/// The orders, sourcing and transfers routes one rule at a time: steps, roles, the pickup-code
/// lockout, the store queue, refusals. The helpers are in OrderJourneyTests.swift.
@Suite struct OrderRouteTests {
    static let nobody = "ord_" + String(repeating: "0", count: 32)

    @Test func illegalStepsAre409WithTheCurrentStatus() async throws {
        try await Harness.run { h in
            _ = try await h.receive("JACKET-M", "PAR-01", 10)
            let pickup = try await h.pickupOrder("WEB-7001", "JACKET-M")
            let parcel = try await h.shipOrder("WEB-7002", "JACKET-M", 1)
            let collect = #"{"pickupCode": "\#(pickup.code)"}"#
            let carrier = #"{"carrier": "DHL", "tracking": "JD0009"}"#
            let version = try await h.readOrder(pickup.id).json["version"] as? Int
            #expect(version != nil)

            let early = try await h.step(pickup.id, "collect", collect)
            #expect(early.isInvalidTransition(from: "allocated") && early.isProblem, "collect before ready: \(early.text)")
            let shipPickup = try await h.step(pickup.id, "ship", carrier)
            #expect(shipPickup.isInvalidTransition(from: "allocated"), "a pickup order is not shipped: \(shipPickup.text)")
            let readyParcel = try await h.step(parcel, "ready")
            #expect(readyParcel.isInvalidTransition(from: "allocated"), "a parcel is never ready for pickup: \(readyParcel.text)")
            #expect(try await h.readOrder(pickup.id).json["version"] as? Int == version, "refused steps change nothing")
            #expect(try await h.readOrder(parcel).json["status"] as? String == "allocated")

            // Picking twice is the same as once.
            let picking = try await h.step(parcel, "picking")
            let pickingAgain = try await h.step(parcel, "picking")
            #expect(picking.status == .ok && pickingAgain.status == .ok && pickingAgain.json["status"] as? String == "picking", "\(pickingAgain.text)")
            #expect(pickingAgain.json["version"] as? Int == picking.json["version"] as? Int)

            #expect(try await h.step(pickup.id, "ready").status == .ok)
            let pickAReadyOrder = try await h.step(pickup.id, "picking")
            #expect(pickAReadyOrder.isInvalidTransition(from: "ready"), "\(pickAReadyOrder.text)")
            #expect(try await h.step(pickup.id, "collect", collect).status == .ok)
            let cancelCollected = try await h.step(pickup.id, "cancel", #"{"reason": "customer"}"#, key: h.keys.checkout)
            #expect(cancelCollected.isInvalidTransition(from: "collected"), "no cancel after the hand-over: \(cancelCollected.text)")
            let readyCollected = try await h.step(pickup.id, "ready")
            #expect(readyCollected.isInvalidTransition(from: "collected"), "\(readyCollected.text)")

            #expect(try await h.step(parcel, "ship", carrier).status == .ok)
            let cancelShipped = try await h.step(parcel, "cancel", key: h.keys.checkout)
            #expect(cancelShipped.isInvalidTransition(from: "shipped"), "\(cancelShipped.text)")
            let shipTwice = try await h.step(parcel, "ship", carrier)
            #expect(shipTwice.status == .conflict && shipTwice.codes == ["invalid-transition"], "\(shipTwice.text)")
            let notFoundAfterShipping = try await h.step(parcel, "lines/1/not-found")
            #expect(notFoundAfterShipping.isInvalidTransition(from: "shipped"), "\(notFoundAfterShipping.text)")
            let returnUncollected = try await h.pickupOrder("WEB-7003", "JACKET-M")
            let earlyReturn = try await h.step(
                returnUncollected.id, "returns", #"{"locationId": "PAR-01", "lines": [{"sku": "JACKET-M", "quantity": 1, "restock": true}]}"#)
            #expect(earlyReturn.isInvalidTransition(from: "allocated"), "nothing handed over, nothing to return: \(earlyReturn.text)")
            try await h.verifyIsClean()
        }
    }

    @Test func theCheckoutCreatesReadsAndCancelsButDoesNoStoreWork() async throws {
        try await Harness.run { h in
            _ = try await h.receive("JACKET-M", "PAR-01", 10)
            let pickup = try await h.pickupOrder("WEB-7101", "JACKET-M")
            let parcel = try await h.shipOrder("WEB-7102", "JACKET-M", 1)
            let work: [(String, String, String)] = [
                (pickup.id, "picking", "{}"),
                (pickup.id, "ready", "{}"),
                (pickup.id, "collect", #"{"pickupCode": "\#(pickup.code)"}"#),
                (pickup.id, "unlock", "{}"),
                (parcel, "ship", #"{"carrier": "DHL", "tracking": "JD0001"}"#),
                (parcel, "lines/1/not-found", "{}"),
                (parcel, "returns", #"{"locationId": "PAR-01", "lines": [{"sku": "JACKET-M", "quantity": 1, "restock": true}]}"#),
            ]
            for (id, action, body) in work {
                let reply = try await h.step(id, action, body, key: h.keys.checkout)
                #expect(reply.status == .forbidden && reply.isProblem && reply.codes == ["role-forbidden"], "\(action): \(reply.text)")
            }
            let queue = try await h.call(.get, "/v1/orders?locationId=PAR-01", key: h.keys.checkout)
            #expect(queue.status == .forbidden && queue.codes == ["role-forbidden"], "\(queue.text)")
            let transfer = try await h.post(
                "/v1/transfers", #"{"fromLocationId": "PAR-01", "toLocationId": "PAR-02", "lines": [{"sku": "JACKET-M", "quantity": 1}]}"#,
                key: h.keys.checkout)
            #expect(transfer.status == .forbidden && transfer.codes == ["role-forbidden"], "\(transfer.text)")
            #expect(try await h.position("PAR-01", "JACKET-M")["onHand"] as? Int == 10, "nothing moved")

            let read = try await h.readOrder(pickup.id, key: h.keys.checkout)
            #expect(read.status == .ok && read.json["status"] as? String == "allocated", "\(read.text)")
            let plan = try await h.post("/v1/sourcing/plan", #"{"lines": [{"sku": "JACKET-M", "quantity": 1}], "destination": {"latitude": 48.86, "longitude": 2.34}}"#, key: h.keys.checkout)
            #expect(plan.status == .ok, "\(plan.text)")
            let cancelled = try await h.step(parcel, "cancel", #"{"reason": "customer"}"#, key: h.keys.checkout)
            #expect(cancelled.status == .ok && cancelled.json["status"] as? String == "cancelled", "\(cancelled.text)")
            try await h.verifyIsClean()
        }
    }

    @Test func aStoreActsOnlyOnItsOwnOrders() async throws {
        try await Harness.run { h in
            _ = try await h.receive("JACKET-M", "PAR-01", 5)
            _ = try await h.receive("JACKET-M", "PAR-02", 5)
            let other = try await h.pickupOrder("WEB-7201", "JACKET-M", at: "PAR-02")
            for (name, key) in [("store", h.keys.store), ("bound integration", h.keys.boundIntegration)] {
                let read = try await h.readOrder(other.id, key: key)
                #expect(read.status == .forbidden && read.codes == ["location-forbidden"], "\(name) read: \(read.text)")
                for action in ["picking", "ready", "cancel", "unlock"] {
                    let reply = try await h.step(other.id, action, key: key)
                    #expect(reply.status == .forbidden && reply.codes == ["location-forbidden"], "\(name) \(action): \(reply.text)")
                }
                let collect = try await h.step(other.id, "collect", #"{"pickupCode": "\#(other.code)"}"#, key: key)
                #expect(collect.status == .forbidden && collect.codes == ["location-forbidden"], "\(name) collect: \(collect.text)")
                let queue = try await h.call(.get, "/v1/orders?locationId=PAR-02", key: key)
                #expect(queue.status == .forbidden && queue.codes == ["location-forbidden"], "\(name) queue: \(queue.text)")
            }
            #expect(try await h.readOrder(other.id).json["status"] as? String == "allocated", "the refusals changed nothing")

            // A store cannot order for another store's counter, nor send its stock.
            let foreign = try await h.order(
                #"{"orderNumber": "POS-1", "lines": [{"sku": "JACKET-M", "quantity": 1}], "fulfilment": {"type": "pickup", "locationId": "PAR-02"}}"#,
                key: h.keys.store)
            #expect(foreign.status == .forbidden && foreign.codes == ["location-forbidden"], "\(foreign.text)")
            let send = try await h.post(
                "/v1/transfers", #"{"fromLocationId": "PAR-02", "toLocationId": "PAR-01", "lines": [{"sku": "JACKET-M", "quantity": 1}]}"#, key: h.keys.store)
            #expect(send.status == .forbidden && send.codes == ["location-forbidden"], "\(send.text)")
            let pinned = try await h.order(
                #"{"orderNumber": "POS-2", "lines": [{"sku": "JACKET-M", "quantity": 1, "locationId": "PAR-02"}], "fulfilment": {"type": "ship", "address": {"latitude": 48.86, "longitude": 2.34}}}"#,
                key: h.keys.store)
            #expect(pinned.status == .forbidden && pinned.codes == ["location-forbidden"], "\(pinned.text)")

            // Its own counter is its to work, and its queue shows only its orders.
            let own = try await h.order(
                #"{"orderNumber": "POS-3", "lines": [{"sku": "JACKET-M", "quantity": 1}], "fulfilment": {"type": "pickup", "locationId": "PAR-01"}}"#,
                key: h.keys.store)
            #expect(own.status == .created, "\(own.text)")
            let ownId = try #require(own.json["id"] as? String)
            #expect(try await h.readOrder(ownId, key: h.keys.store).status == .ok)
            #expect(try await h.step(ownId, "picking").status == .ok)
            let queue = try await h.call(.get, "/v1/orders?locationId=PAR-01", key: h.keys.store)
            #expect(queue.status == .ok && queue.listedOrderIds == [ownId], "\(queue.text)")
            let everything = try await h.call(.get, "/v1/orders?locationId=PAR-02", key: h.keys.integration)
            #expect(everything.status == .ok && everything.listedOrderIds == [other.id], "\(everything.text)")
            try await h.verifyIsClean()
        }
    }

    @Test func fiveWrongCodesLockThePickupUntilTheStoreUnlocksIt() async throws {
        try await Harness.run { h in
            _ = try await h.receive("JACKET-M", "PAR-01", 2)
            let (id, code) = try await h.pickupOrder("WEB-7301", "JACKET-M")
            #expect(try await h.step(id, "ready").status == .ok)
            let wrong = #"{"pickupCode": "\#(wrongCode(for: code))"}"#
            let right = #"{"pickupCode": "\#(code)"}"#
            for attemptsLeft in [4, 3, 2, 1, 0] {
                let reply = try await h.step(id, "collect", wrong)
                #expect(reply.status == .unprocessableContent && reply.codes == ["pickup-code-wrong"], "\(reply.text)")
                #expect(reply.firstError["attemptsLeft"] as? Int == attemptsLeft, "\(reply.text)")
            }
            let locked = try await h.readOrder(id)
            #expect(locked.json["status"] as? String == "ready" && locked.json["pickupLocked"] as? Bool == true, "\(locked.text)")
            #expect(locked.json["wrongPickupCodes"] as? Int == 5)

            // Locked: even the right code is refused, and so is another guess.
            let rightButLocked = try await h.step(id, "collect", right)
            #expect(rightButLocked.status == .conflict && rightButLocked.codes == ["pickup-locked"], "\(rightButLocked.text)")
            let guess = try await h.step(id, "collect", wrong)
            #expect(guess.status == .conflict && guess.codes == ["pickup-locked"], "\(guess.text)")
            #expect(try await h.position("PAR-01", "JACKET-M")["onHand"] as? Int == 2)

            // The checkout and other stores cannot unlock it; the pickup store can.
            #expect(try await h.step(id, "unlock", key: h.keys.checkout).status == .forbidden)
            let par02 = try await h.newStoreKey(["PAR-02"])
            let elsewhere = try await h.step(id, "unlock", key: par02)
            #expect(elsewhere.status == .forbidden && elsewhere.codes == ["location-forbidden"], "\(elsewhere.text)")
            let unlocked = try await h.step(id, "unlock")
            #expect(unlocked.status == .ok && unlocked.json["pickupLocked"] as? Bool == false && unlocked.json["wrongPickupCodes"] as? Int == 0, "\(unlocked.text)")
            #expect(unlocked.json["status"] as? String == "ready")
            let collected = try await h.step(id, "collect", right)
            #expect(collected.status == .ok && collected.json["status"] as? String == "collected", "\(collected.text)")

            #expect(try await h.feed("order.pickup-code-refused").count >= 5)
            #expect(try await h.feed("order.pickup-unlocked").count == 1)
            try await h.verifyIsClean()
        }
    }

    @Test func theStoreQueueListsOldestFirstFiltersAndPages() async throws {
        try await Harness.run { h in
            _ = try await h.receive("JACKET-M", "PAR-01", 20)
            _ = try await h.receive("JACKET-M", "PAR-02", 20)
            var queued: [String] = []
            for n in 1...3 {
                let order = try await h.pickupOrder("WEB-750\(n)", "JACKET-M")
                queued.append(order.id)
                try await Task.sleep(for: .milliseconds(3))
            }
            // A parcel allocated at PAR-01 is in its queue too; one at PAR-02 is not.
            let parcel = try await h.shipOrder("WEB-7504", "JACKET-M", 1, from: "PAR-01")
            queued.append(parcel)
            try await Task.sleep(for: .milliseconds(3))
            let elsewhere = try await h.shipOrder("WEB-7505", "JACKET-M", 1, from: "PAR-02")
            let cancelled = try await h.pickupOrder("WEB-7506", "JACKET-M").id
            #expect(try await h.step(cancelled, "cancel", key: h.keys.checkout).status == .ok)
            #expect(try await h.step(queued[1], "ready").status == .ok)
            #expect(try await h.step(queued[3], "picking").status == .ok)

            let open = try await h.call(.get, "/v1/orders?locationId=PAR-01", key: h.keys.store)
            #expect(open.status == .ok && open.listedOrderIds == queued, "oldest first, open ones only: \(open.text)")
            #expect(open.json["next"] as? String == nil)
            let ready = try await h.call(.get, "/v1/orders?locationId=PAR-01&status=ready", key: h.keys.store)
            #expect(ready.listedOrderIds == [queued[1]], "\(ready.text)")
            let some = try await h.call(.get, "/v1/orders?locationId=PAR-01&status=allocated&status=picking", key: h.keys.store)
            #expect(some.listedOrderIds == [queued[0], queued[2], queued[3]], "\(some.text)")
            let ended = try await h.call(.get, "/v1/orders?locationId=PAR-01&status=cancelled", key: h.keys.store)
            #expect(ended.listedOrderIds == [cancelled], "\(ended.text)")
            let other = try await h.call(.get, "/v1/orders?locationId=PAR-02", key: h.keys.admin)
            #expect(other.listedOrderIds == [elsewhere], "\(other.text)")

            // One at a time, following `next`.
            var paged: [String] = []
            var cursor: String?
            for _ in 0..<10 {
                let after = cursor.map { "&after=" + ($0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? $0) } ?? ""
                let page = try await h.call(.get, "/v1/orders?locationId=PAR-01&limit=1" + after, key: h.keys.store)
                #expect(page.status == .ok, "\(page.text)")
                #expect(page.listedOrderIds.count <= 1)
                paged += page.listedOrderIds
                cursor = page.json["next"] as? String
                if cursor == nil { break }
            }
            #expect(paged == queued)

            let missing = try await h.call(.get, "/v1/orders", key: h.keys.admin)
            #expect(missing.status == .badRequest && missing.codes == ["missing-field"], "\(missing.text)")
        }
    }

    @Test func theSameOrderNumberTwiceIsTheFirstOrder() async throws {
        try await Harness.run { h in
            _ = try await h.receive("JACKET-M", "PAR-01", 5)
            let body = #"{"orderNumber": "WEB-7601", "lines": [{"sku": "JACKET-M", "quantity": 1}], "fulfilment": {"type": "pickup", "locationId": "PAR-01"}}"#
            let first = try await h.order(body)
            #expect(first.status == .created && first.json["pickupCode"] is String, "\(first.text)")
            let id = try #require(first.json["id"] as? String)
            let second = try await h.order(body)
            #expect(second.status == .ok && second.json["id"] as? String == id && second.json["pickupCode"] as? String == nil, "\(second.text)")
            // Even with other lines: the number names the order that exists.
            let changed = try await h.order(body.replacingOccurrences(of: "\"quantity\": 1", with: "\"quantity\": 2"))
            #expect(changed.status == .ok && changed.json["id"] as? String == id, "\(changed.text)")
            #expect(changed.orderLines.first?["quantity"] as? Int == 1)
            #expect(try await h.position("PAR-01", "JACKET-M")["allocated"] as? Int == 1)

            // With an Idempotency-Key, the retry is the first answer itself, but for the tracking
            // link (shown once: only its hash is kept).
            let parcel = #"{"orderNumber": "WEB-7602", "lines": [{"sku": "JACKET-M", "quantity": 1}], "fulfilment": {"type": "ship", "address": {"latitude": 48.86, "longitude": 2.34}}}"#
            let placed = try await h.order(parcel, idempotencyKey: "checkout-7602")
            let retried = try await h.order(parcel, idempotencyKey: "checkout-7602")
            var firstAnswer = placed.json
            let link = firstAnswer.removeValue(forKey: "trackingUrl")
            #expect(link is String && retried.json["trackingUrl"] == nil, "\(placed.text)")
            let canonical = { (object: [String: Any]) in
                String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
            }
            #expect(placed.status == .created && retried.status == .created)
            #expect(try canonical(firstAnswer) == canonical(retried.json))
            #expect(retried.headers[HTTPField.Name("Idempotent-Replayed")!] == "true")
            let reused = try await h.order(body, idempotencyKey: "checkout-7602")
            #expect(reused.status == .unprocessableContent && reused.codes == ["idempotency-key-reused"], "\(reused.text)")
            #expect(try await h.position("PAR-01", "JACKET-M")["allocated"] as? Int == 2)
            #expect(try await h.feed("order.created").count == 2)
            try await h.verifyIsClean()
        }
    }

    @Test func aHoldAtNamedLocationsTakesItsFulfilmentFromTheOrder() async throws {
        try await Harness.run { h in
            _ = try await h.receive("JACKET-M", "PAR-01", 3)
            let hold = try await h.hold(#"{"lines": [{"sku": "JACKET-M", "quantity": 2, "locationId": "PAR-01"}]}"#)
            let holdId = try #require(hold.json["id"] as? String, "\(hold.text)")
            let created = try await h.order(
                #"{"orderNumber": "WEB-7651", "holdId": "\#(holdId)", "fulfilment": {"type": "ship", "address": {"latitude": 48.86, "longitude": 2.34}}}"#)
            #expect(created.status == .created, "\(created.text)")
            #expect((created.json["fulfilment"] as? [String: Any])?["type"] as? String == "ship")
            #expect(created.orderLines.first?["locationId"] as? String == "PAR-01" && created.orderLines.first?["quantity"] as? Int == 2)
            let position = try await h.position("PAR-01", "JACKET-M")
            #expect(position["held"] as? Int == 0 && position["allocated"] as? Int == 2, "\(position)")
            // A converted hold is no longer the checkout's to release.
            let release = try await h.call(.delete, "/v1/holds/\(holdId)", key: h.keys.checkout)
            #expect(release.status == .conflict && release.codes == ["hold-not-active"], "\(release.text)")
            try await h.verifyIsClean()
        }
    }

    @Test func aShortDirectOrderNamesEachShortLine() async throws {
        try await Harness.run { h in
            _ = try await h.receive("JACKET-M", "PAR-01", 1)
            let short = try await h.order(
                #"{"orderNumber": "WEB-7701", "lines": [{"sku": "JACKET-M", "quantity": 1}, {"sku": "BOOT-42", "quantity": 2}], "fulfilment": {"type": "ship", "address": {"latitude": 48.86, "longitude": 2.34}}}"#)
            #expect(short.status == .conflict && short.isProblem && short.codes == ["insufficient-stock"], "\(short.text)")
            #expect(short.fields == ["/lines/1/quantity"])
            #expect((short.json["type"] as? String)?.hasSuffix("insufficient-stock") == true)
            #expect(short.firstError["sku"] as? String == "BOOT-42" && short.firstError["requested"] as? Int == 2 && short.firstError["available"] as? Int == 0)

            let pickup = try await h.order(
                #"{"orderNumber": "WEB-7702", "lines": [{"sku": "JACKET-M", "quantity": 3}], "fulfilment": {"type": "pickup", "locationId": "PAR-01"}}"#)
            #expect(pickup.status == .conflict && pickup.codes == ["insufficient-stock"] && pickup.fields == ["/lines/0/quantity"], "\(pickup.text)")
            #expect(pickup.firstError["sku"] as? String == "JACKET-M" && pickup.firstError["requested"] as? Int == 3 && pickup.firstError["available"] as? Int == 1)

            // All or nothing: no order, nothing allocated; the numbers are free for a later try.
            let position = try await h.position("PAR-01", "JACKET-M")
            #expect(position["allocated"] as? Int == 0 && position["available"] as? Int == 1, "\(position)")
            #expect(try await h.call(.get, "/v1/orders?locationId=PAR-01", key: h.keys.admin).listedOrderIds.isEmpty)
            #expect(try await h.feed("order.created").isEmpty)
            _ = try await h.receive("BOOT-42", "PAR-01", 2)
            let retried = try await h.order(
                #"{"orderNumber": "WEB-7701", "lines": [{"sku": "JACKET-M", "quantity": 1}, {"sku": "BOOT-42", "quantity": 2}], "fulfilment": {"type": "ship", "address": {"latitude": 48.86, "longitude": 2.34}}}"#)
            #expect(retried.status == .created, "\(retried.text)")
            try await h.verifyIsClean()
        }
    }

    @Test func theSourcingPlanExplainsWhyEachLocationWasOrWasNotChosen() async throws {
        try await Harness.run { h in
            // PAR-01: none. PAR-02: enough. PAR-03: enough, but it does not ship. WH-01: plenty, in Lille.
            try await h.defineWarehouse("WH-01", latitude: 50.63, longitude: 3.06)
            let counterOnly = Harness.locationBody.replacingOccurrences(of: "\"ships\": true", with: "\"ships\": false")
            #expect(try await h.call(.put, "/v1/locations/PAR-03", key: h.keys.admin, body: counterOnly).status == .created)
            for (location, quantity) in [("PAR-02", 3), ("PAR-03", 5), ("WH-01", 10)] {
                _ = try await h.receive("BOOT-42", location, quantity)
            }
            let request = #"{"lines": [{"sku": "BOOT-42", "quantity": 2}], "destination": {"latitude": 48.86, "longitude": 2.34}}"#
            let plan = try await h.post("/v1/sourcing/plan", request, key: h.keys.checkout)
            #expect(plan.status == .ok, "\(plan.text)")
            #expect(plan.json["feasible"] as? Bool == true && plan.json["locations"] as? [String] == ["PAR-02"], "\(plan.text)")
            let assignments = plan.json["assignments"] as? [[String: Any]] ?? []
            #expect(assignments.count == 1, "\(plan.text)")
            #expect(assignments.first?["line"] as? Int == 0 && assignments.first?["sku"] as? String == "BOOT-42" && assignments.first?["quantity"] as? Int == 2)
            #expect(assignments.first?["locationId"] as? String == "PAR-02" && (assignments.first?["distanceKilometres"] as? Double ?? 99) < 5)
            #expect((plan.json["unfilled"] as? [Any] ?? []).isEmpty)

            let listed = plan.json["candidates"] as? [[String: Any]] ?? []
            let candidates = Dictionary(
                listed.compactMap { candidate in (candidate["locationId"] as? String).map { ($0, candidate) } }, uniquingKeysWith: { first, _ in first })
            #expect(Set(candidates.keys).isSuperset(of: ["PAR-01", "PAR-02", "PAR-03", "WH-01"]), "\(plan.text)")
            func reasons(_ id: String) -> [String] {
                (candidates[id]?["reasons"] as? [[String: Any]] ?? []).compactMap { $0["code"] as? String }
            }
            #expect(candidates["PAR-02"]?["chosen"] as? Bool == true && reasons("PAR-02").isEmpty, "\(plan.text)")
            #expect(candidates["PAR-01"]?["chosen"] as? Bool == false && reasons("PAR-01").contains("no-stock"), "\(plan.text)")
            let noStock = (candidates["PAR-01"]?["reasons"] as? [[String: Any]])?.first { $0["code"] as? String == "no-stock" }
            #expect(noStock?["sku"] as? String == "BOOT-42")
            #expect(candidates["PAR-03"]?["chosen"] as? Bool == false && reasons("PAR-03").contains("capability"), "\(plan.text)")
            #expect(candidates["WH-01"]?["chosen"] as? Bool == false && !reasons("WH-01").isEmpty, "\(plan.text)")
            #expect((candidates["WH-01"]?["distanceKilometres"] as? Double ?? 0) > 150)
            // A preview sets nothing aside.
            let untouched = try await h.position("PAR-02", "BOOT-42")
            #expect(untouched["held"] as? Int == 0 && untouched["allocated"] as? Int == 0, "\(untouched)")

            let tooMany = try await h.post(
                "/v1/sourcing/plan", #"{"lines": [{"sku": "BOOT-42", "quantity": 50}], "destination": {"latitude": 48.86, "longitude": 2.34}}"#,
                key: h.keys.store)
            #expect(tooMany.status == .ok && tooMany.json["feasible"] as? Bool == false, "\(tooMany.text)")
            let unfilled = (tooMany.json["unfilled"] as? [[String: Any]])?.first
            #expect(unfilled?["line"] as? Int == 0 && unfilled?["sku"] as? String == "BOOT-42" && unfilled?["requested"] as? Int == 50, "\(tooMany.text)")
            #expect((unfilled?["available"] as? Int ?? 50) < 50)
        }
    }

    @Test func invalidOrdersAreRefusedWithTheFieldAtFault() async throws {
        try await Harness.run { h in
            _ = try await h.receive("JACKET-M", "PAR-01", 5)
            let pickup = #""fulfilment": {"type": "pickup", "locationId": "PAR-01"}"#
            let noNumber = try await h.order(#"{"lines": [{"sku": "JACKET-M", "quantity": 1}], \#(pickup)}"#)
            let refusals: [HTTPResponse.Status] = [.badRequest, .unprocessableContent]
            #expect(refusals.contains(noNumber.status) && noNumber.fields == ["/orderNumber"], "\(noNumber.text)")
            let emptyNumber = try await h.order(#"{"orderNumber": "", "lines": [{"sku": "JACKET-M", "quantity": 1}], \#(pickup)}"#)
            #expect(emptyNumber.status == .unprocessableContent && emptyNumber.fields == ["/orderNumber"], "\(emptyNumber.text)")
            for quantity in ["0", "-1", "1000000000"] {
                let bad = try await h.order(#"{"orderNumber": "WEB-7801", "lines": [{"sku": "JACKET-M", "quantity": \#(quantity)}], \#(pickup)}"#)
                #expect(bad.status == .unprocessableContent && bad.fields == ["/lines/0/quantity"], "\(quantity): \(bad.text)")
            }
            let text = try await h.order(#"{"orderNumber": "WEB-7802", "lines": [{"sku": "JACKET-M", "quantity": "2"}], \#(pickup)}"#)
            #expect(text.status == .badRequest && text.codes == ["wrong-type"] && text.fields == ["/lines/0/quantity"], "\(text.text)")
            let drone = try await h.order(#"{"orderNumber": "WEB-7803", "lines": [{"sku": "JACKET-M", "quantity": 1}], "fulfilment": {"type": "drone"}}"#)
            #expect(drone.status == .unprocessableContent && drone.fields == ["/fulfilment/type"], "\(drone.text)")
            let nowhere = try await h.order(
                #"{"orderNumber": "WEB-7804", "lines": [{"sku": "JACKET-M", "quantity": 1}], "fulfilment": {"type": "pickup", "locationId": "PAR-77"}}"#)
            #expect(nowhere.status == .unprocessableContent && nowhere.codes == ["unknown-location"], "\(nowhere.text)")
            let typo = try await h.order(#"{"orderNumber": "WEB-7805", "lines": [{"sku": "JACKET-M", "qty": 1}], \#(pickup)}"#)
            #expect(typo.status == .badRequest, "\(typo.text)")

            let unknownHold = try await h.order(#"{"orderNumber": "WEB-7806", "holdId": "hld_\#(String(repeating: "0", count: 32))"}"#)
            #expect(unknownHold.status == .unprocessableContent && unknownHold.codes == ["unknown-hold"], "\(unknownHold.text)")
            let hold = try await h.hold(#"{"lines": [{"sku": "JACKET-M", "quantity": 1, "locationId": "PAR-01"}]}"#)
            let holdId = try #require(hold.json["id"] as? String, "\(hold.text)")
            #expect(try await h.call(.delete, "/v1/holds/\(holdId)", key: h.keys.checkout).status == .ok)
            let released = try await h.order(#"{"orderNumber": "WEB-7807", "holdId": "\#(holdId)", \#(pickup)}"#)
            #expect(released.status == .conflict && released.codes == ["hold-not-active"], "\(released.text)")

            #expect(try await h.feed("order.created").isEmpty, "nothing was written")
            #expect(try await h.position("PAR-01", "JACKET-M")["allocated"] as? Int == 0)
        }
    }

    @Test func unknownOrdersLinesAndTransfersAre404() async throws {
        try await Harness.run { h in
            let read = try await h.readOrder(Self.nobody)
            #expect(read.status == .notFound && read.isProblem, "\(read.text)")
            for action in ["picking", "ready", "cancel", "unlock", "lines/1/not-found"] {
                let reply = try await h.step(Self.nobody, action, key: h.keys.admin)
                #expect(reply.status == .notFound, "\(action): \(reply.text)")
            }
            let collect = try await h.step(Self.nobody, "collect", #"{"pickupCode": "KKKKKKKK"}"#, key: h.keys.admin)
            #expect(collect.status == .notFound, "\(collect.text)")

            _ = try await h.receive("JACKET-M", "PAR-01", 1)
            let id = try await h.shipOrder("WEB-7901", "JACKET-M", 1)
            let line = try await h.step(id, "lines/9/not-found")
            #expect(line.status == .notFound, "\(line.text)")
            #expect(try await h.readOrder(id).orderLines.first?["status"] as? String == "allocated")

            let transfer = "trf_" + String(repeating: "0", count: 32)
            #expect(try await h.call(.get, "/v1/transfers/\(transfer)", key: h.keys.admin).status == .notFound)
            let receive = try await h.post("/v1/transfers/\(transfer)/receive", #"{"lines": [{"sku": "JACKET-M", "quantity": 1}]}"#, key: h.keys.admin)
            #expect(receive.status == .notFound, "\(receive.text)")
        }
    }

    @Test func cancellingGivesTheStockBack() async throws {
        try await Harness.run { h in
            _ = try await h.receive("JACKET-M", "PAR-01", 3)
            let (id, _) = try await h.pickupOrder("WEB-8001", "JACKET-M", 2)
            let promised = try await h.position("PAR-01", "JACKET-M")
            #expect(promised["allocated"] as? Int == 2 && promised["available"] as? Int == 1, "\(promised)")
            #expect(try await h.step(id, "picking").status == .ok)

            let cancelled = try await h.step(id, "cancel", #"{"reason": "customer"}"#, key: h.keys.checkout)
            #expect(cancelled.status == .ok && cancelled.json["status"] as? String == "cancelled", "\(cancelled.text)")
            #expect(cancelled.json["cancelReason"] as? String == "customer")
            #expect(!cancelled.orderLines.isEmpty && cancelled.orderLines.allSatisfy { $0["status"] as? String == "cancelled" }, "\(cancelled.text)")
            let back = try await h.position("PAR-01", "JACKET-M")
            #expect(back["onHand"] as? Int == 3 && back["allocated"] as? Int == 0 && back["available"] as? Int == 3, "\(back)")

            let again = try await h.step(id, "cancel", key: h.keys.checkout)
            #expect(again.isInvalidTransition(from: "cancelled"), "\(again.text)")
            #expect(try await h.call(.get, "/v1/orders?locationId=PAR-01", key: h.keys.store).listedOrderIds.isEmpty)
            #expect(try await h.feed("order.cancelled").count == 1)
            try await h.verifyIsClean()
        }
    }

    @Test func aPickupServedFromTheWarehouseWaitsForItsTransfer() async throws {
        try await Harness.run { h in
            try await h.defineWarehouse()
            _ = try await h.receive("SCARF", "WH-01", 5)
            let created = try await h.order(
                #"{"orderNumber": "WEB-8101", "lines": [{"sku": "SCARF", "quantity": 2}], "fulfilment": {"type": "pickup", "locationId": "PAR-01"}}"#)
            #expect(created.status == .created, "\(created.text)")
            let id = try #require(created.json["id"] as? String)
            let code = try #require(created.json["pickupCode"] as? String)
            let line = try #require(created.orderLines.first)
            #expect(line["status"] as? String == "in-transit", "\(created.text)")
            let transferId = try #require(line["transferId"] as? String, "\(created.text)")
            #expect(try await h.position("WH-01", "SCARF")["onHand"] as? Int == 3)
            #expect(try await h.position("PAR-01", "SCARF")["incoming"] as? Int == 2)

            let tooSoon = try await h.step(id, "ready")
            #expect(tooSoon.status == .conflict && tooSoon.codes == ["lines-in-transit"], "\(tooSoon.text)")
            let transfer = try await h.call(.get, "/v1/transfers/\(transferId)", key: h.keys.store)
            #expect(transfer.status == .ok && transfer.json["orderId"] as? String == id, "\(transfer.text)")
            #expect(transfer.json["fromLocationId"] as? String == "WH-01" && transfer.json["toLocationId"] as? String == "PAR-01")

            let arrived = try await h.post("/v1/transfers/\(transferId)/receive", #"{"lines": [{"sku": "SCARF", "quantity": 2}]}"#, key: h.keys.store)
            #expect(arrived.status == .ok, "\(arrived.text)")
            let read = try await h.readOrder(id)
            #expect(read.orderLines.first?["status"] as? String == "allocated" && read.orderLines.first?["locationId"] as? String == "PAR-01", "\(read.text)")
            let store = try await h.position("PAR-01", "SCARF")
            #expect(store["onHand"] as? Int == 2 && store["allocated"] as? Int == 2 && store["incoming"] as? Int == 0 && store["available"] as? Int == 0, "\(store)")

            #expect(try await h.step(id, "ready").status == .ok)
            let collected = try await h.step(id, "collect", #"{"pickupCode": "\#(code)"}"#)
            #expect(collected.status == .ok && collected.json["status"] as? String == "collected", "\(collected.text)")
            #expect(try await h.position("PAR-01", "SCARF")["onHand"] as? Int == 0)
            try await h.verifyIsClean()
        }
    }
}
