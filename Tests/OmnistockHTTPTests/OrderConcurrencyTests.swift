import Foundation
import HTTPTypes
import Testing

/// Orders under concurrency: rule 1 (nothing is promised twice) and the idempotent conversion of
/// a hold, with requests racing through the edge at once.
@Suite struct OrderConcurrencyTests {
    /// Sends every body to `POST /v1/orders` at once (the checkout) and gathers the answers.
    static func race(_ h: Harness, _ bodies: [String]) async throws -> [Harness.Reply] {
        try await withThrowingTaskGroup(of: Harness.Reply.self) { group in
            for body in bodies { group.addTask { try await h.order(body) } }
            var replies: [Harness.Reply] = []
            for try await reply in group { replies.append(reply) }
            return replies
        }
    }

    @Test func scarceStockIsNeverOrderedTwice() async throws {
        try await Harness.run { h in
            _ = try await h.receive("LAST-ONES", "PAR-01", 3)
            let bodies = (0..<12).map {
                #"{"orderNumber": "RACE-\#($0)", "lines": [{"sku": "LAST-ONES", "quantity": 1}], "fulfilment": {"type": "pickup", "locationId": "PAR-01"}}"#
            }
            let replies = try await Self.race(h, bodies)
            #expect(replies.filter { $0.status == .created }.count == 3, "\(replies.map(\.text))")
            #expect(replies.filter { $0.status == .conflict && $0.codes == ["insufficient-stock"] }.count == 9)
            let position = try await h.position("PAR-01", "LAST-ONES")
            #expect(position["allocated"] as? Int == 3 && position["available"] as? Int == 0, "\(position)")
            try await h.verifyIsClean()
        }
    }

    @Test func holdsAndDirectOrdersTogetherNeverExceedTheStock() async throws {
        try await Harness.run { h in
            _ = try await h.receive("DROP", "PAR-01", 5)
            let replies = try await withThrowingTaskGroup(of: Harness.Reply.self) { group in
                for index in 0..<8 {
                    group.addTask {
                        try await h.order(
                            #"{"orderNumber": "MIX-\#(index)", "lines": [{"sku": "DROP", "quantity": 1}], "fulfilment": {"type": "pickup", "locationId": "PAR-01"}}"#)
                    }
                    group.addTask { try await h.hold(#"{"lines": [{"sku": "DROP", "quantity": 1, "locationId": "PAR-01"}]}"#) }
                }
                var replies: [Harness.Reply] = []
                for try await reply in group { replies.append(reply) }
                return replies
            }
            let accepted = replies.filter { $0.status == .created }.count
            #expect(accepted == 5, "\(replies.map(\.status))")
            let position = try await h.position("PAR-01", "DROP")
            #expect((position["held"] as? Int ?? -1) + (position["allocated"] as? Int ?? -1) == 5 && position["available"] as? Int == 0)
            try await h.verifyIsClean()
        }
    }

    @Test func aHoldConvertedTwiceAtOnceMakesOneOrder() async throws {
        try await Harness.run { h in
            _ = try await h.receive("JACKET-M", "PAR-01", 4)
            let held = try await h.hold(#"{"lines": [{"sku": "JACKET-M", "quantity": 2}], "fulfilment": {"type": "pickup", "locationId": "PAR-01"}}"#)
            let holdId = try #require(held.json["id"] as? String, "\(held.text)")
            let replies = try await Self.race(h, (0..<4).map { #"{"orderNumber": "WEB-\#($0)", "holdId": "\#(holdId)"}"# })
            let ids = Set(replies.compactMap { $0.json["id"] as? String })
            #expect(ids.count == 1, "\(replies.map(\.text))")
            #expect(replies.filter { $0.status == .created }.count == 1 && replies.filter { $0.status == .ok }.count == 3)
            // Only the creating answer shows the pickup code.
            #expect(replies.filter { $0.json["pickupCode"] != nil }.count == 1)
            let position = try await h.position("PAR-01", "JACKET-M")
            #expect(position["held"] as? Int == 0 && position["allocated"] as? Int == 2, "\(position)")
            try await h.verifyIsClean()
        }
    }

    @Test func storeStepsRacingOnManyOrdersEachHappenOnce() async throws {
        try await Harness.run { h in
            _ = try await h.receive("TEE", "PAR-01", 12)
            var orders: [(id: String, code: String)] = []
            for index in 0..<12 { orders.append(try await h.pickupOrder("STEP-\(index)", "TEE")) }
            func all(_ requests: [(String, String, String)]) async throws -> [Harness.Reply] {
                try await withThrowingTaskGroup(of: Harness.Reply.self) { group in
                    for (id, step, body) in requests { group.addTask { try await h.step(id, step, body) } }
                    var replies: [Harness.Reply] = []
                    for try await reply in group { replies.append(reply) }
                    return replies
                }
            }
            #expect(try await all(orders.map { ($0.id, "picking", "{}") }).allSatisfy { $0.status == .ok })
            #expect(try await all(orders.map { ($0.id, "ready", "{}") }).allSatisfy { $0.status == .ok })
            // Each order collected twice at once: one hands it over, the other finds it collected.
            let collects = try await all(orders.flatMap { order in
                Array(repeating: (order.id, "collect", #"{"pickupCode": "\#(order.code)"}"#), count: 2)
            })
            #expect(collects.filter { $0.status == .ok }.count == 12, "\(collects.map(\.text))")
            #expect(collects.filter { $0.status == .conflict && $0.codes == ["invalid-transition"] }.count == 12)
            let position = try await h.position("PAR-01", "TEE")
            #expect(position["onHand"] as? Int == 0 && position["allocated"] as? Int == 0, "\(position)")
            #expect(try await h.feed("order.collected").count == 12)
            try await h.verifyIsClean()
        }
    }

    @Test func aRetriedStepWithItsKeyGetsTheFirstAnswer() async throws {
        try await Harness.run { h in
            _ = try await h.receive("TEE", "PAR-01", 2)
            let order = try await h.pickupOrder("KEY-1", "TEE")
            let first = try await h.post("/v1/orders/\(order.id)/picking", key: h.keys.store, idempotencyKey: "pick-1")
            let again = try await h.post("/v1/orders/\(order.id)/picking", key: h.keys.store, idempotencyKey: "pick-1")
            #expect(first.status == .ok && again.status == .ok && again.text == first.text)
            #expect(again.headers[HTTPField.Name("Idempotent-Replayed")!] == "true")
            // A wrong code is refused, counted once, and its answer replayed for the same key.
            _ = try await h.step(order.id, "ready")
            let wrong = try await h.post("/v1/orders/\(order.id)/collect", #"{"pickupCode": "AAAAAAAA"}"#, key: h.keys.store, idempotencyKey: "c-1")
            let wrongAgain = try await h.post("/v1/orders/\(order.id)/collect", #"{"pickupCode": "AAAAAAAA"}"#, key: h.keys.store, idempotencyKey: "c-1")
            #expect(wrong.status == .unprocessableContent && wrong.isProblem && wrongAgain.status == .unprocessableContent && wrongAgain.isProblem)
            #expect(try await h.readOrder(order.id).json["wrongPickupCodes"] as? Int == 1)
            try await h.verifyIsClean()
        }
    }

    @Test func concurrentOrdersNeverTakeALocationPastItsDailyCapacity() async throws {
        try await Harness.run { h in
            let body = #"{"name": "Small warehouse", "kind": "warehouse", "latitude": 48.93, "longitude": 2.29, "capabilities": {"pickup": false, "ships": true}, "dailyCapacity": 2}"#
            #expect(try await h.call(.put, "/v1/locations/WH-09", key: h.keys.admin, body: body).status == .created)
            // Different SKUs, so the orders do not queue on the same positions.
            for index in 0..<6 { _ = try await h.receive("ITEM-\(index)", "WH-09", 5) }
            let bodies = (0..<6).map {
                #"{"orderNumber": "CAP-\#($0)", "lines": [{"sku": "ITEM-\#($0)", "quantity": 1}], "fulfilment": {"type": "ship", "address": {"latitude": 48.86, "longitude": 2.34}}}"#
            }
            let replies = try await Self.race(h, bodies)
            #expect(replies.filter { $0.status == .created }.count == 2, "\(replies.map(\.text))")
            #expect(replies.allSatisfy { $0.status == .created || $0.status == .conflict })
            try await h.verifyIsClean()
        }
    }

    @Test func theSameOrderNumberRacingMakesOneOrder() async throws {
        try await Harness.run { h in
            _ = try await h.receive("JACKET-M", "PAR-01", 10)
            let body = #"{"orderNumber": "WEB-7", "lines": [{"sku": "JACKET-M", "quantity": 1}], "fulfilment": {"type": "pickup", "locationId": "PAR-01"}}"#
            let replies = try await Self.race(h, Array(repeating: body, count: 6))
            #expect(Set(replies.compactMap { $0.json["id"] as? String }).count == 1, "\(replies.map(\.text))")
            #expect(replies.filter { $0.status == .created }.count == 1)
            let position = try await h.position("PAR-01", "JACKET-M")
            #expect(position["allocated"] as? Int == 1)
            try await h.verifyIsClean()
        }
    }
}

/// Cases found in review: a pickup line split over two sources, and a transfer that never arrives
/// at a store that never had the SKU.
@Suite struct OrderEdgeCaseTests {
    @Test func aPickupLineSplitOverTwoWarehousesTravelsByTwoTransfers() async throws {
        try await Harness.run { h in
            try await h.defineWarehouse("WH-01", latitude: 48.93, longitude: 2.29)
            try await h.defineWarehouse("WH-02", latitude: 48.80, longitude: 2.40)
            _ = try await h.call(
                .post, "/v1/stock/movements", key: h.keys.admin,
                body: #"{"movements": [{"sku": "COAT", "locationId": "WH-01", "kind": "receipt", "quantity": 6}, {"sku": "COAT", "locationId": "WH-02", "kind": "receipt", "quantity": 6}]}"#)
            let (id, code) = try await h.pickupOrder("SPLIT-1", "COAT", 10)
            let lines = try await h.readOrder(id).json["lines"] as? [[String: Any]] ?? []
            let transfers = Set(lines.compactMap { $0["transferId"] as? String })
            #expect(lines.count == 2 && transfers.count == 2 && lines.allSatisfy { $0["status"] as? String == "in-transit" }, "\(lines)")
            #expect(try await h.position("PAR-01", "COAT")["incoming"] as? Int == 10)
            for transfer in transfers {
                let sent = try await h.call(.get, "/v1/transfers/\(transfer)", key: h.keys.admin).json["lines"] as? [[String: Any]] ?? []
                let quantity = sent.first?["quantity"] as? Int ?? 0
                let received = try await h.post(
                    "/v1/transfers/\(transfer)/receive", #"{"lines": [{"sku": "COAT", "quantity": \#(quantity)}]}"#, key: h.keys.store)
                #expect(received.status == .ok, "\(received.text)")
            }
            #expect(try await h.step(id, "ready").status == .ok)
            let collected = try await h.step(id, "collect", #"{"pickupCode": "\#(code)"}"#)
            #expect(collected.status == .ok && collected.json["status"] as? String == "collected", "\(collected.text)")
            let store = try await h.position("PAR-01", "COAT")
            #expect(store["onHand"] as? Int == 0 && store["allocated"] as? Int == 0 && store["incoming"] as? Int == 0, "\(store)")
            try await h.verifyIsClean()
        }
    }

    @Test func aTransferLostWholeToANewStoreLeavesNoPosition() async throws {
        try await Harness.run { h in
            try await h.defineWarehouse()
            _ = try await h.receive("SCARF", "WH-01", 10)
            let sent = try await h.post(
                "/v1/transfers", #"{"fromLocationId": "WH-01", "toLocationId": "PAR-02", "lines": [{"sku": "SCARF", "quantity": 10}]}"#,
                key: h.keys.integration)
            let id = try #require(sent.json["id"] as? String, "\(sent.text)")
            #expect(try await h.position("PAR-02", "SCARF")["incoming"] as? Int == 10)
            let received = try await h.post("/v1/transfers/\(id)/receive", #"{"lines": []}"#, key: h.keys.integration)
            #expect(received.status == .ok, "\(received.text)")
            #expect((received.json["lines"] as? [[String: Any]])?.first?["lost"] as? Int == 10)
            let position = try await h.position("PAR-02", "SCARF")
            #expect(position["incoming"] as? Int == 0 && position["onHand"] as? Int == 0, "\(position)")
            try await h.verifyIsClean()
        }
    }

    @Test func aLocationTakesNoMoreOrdersThanItsDailyCapacity() async throws {
        try await Harness.run { h in
            let body = #"{"name": "Small warehouse", "kind": "warehouse", "latitude": 48.93, "longitude": 2.29, "capabilities": {"pickup": false, "ships": true}, "dailyCapacity": 1}"#
            #expect(try await h.call(.put, "/v1/locations/WH-09", key: h.keys.admin, body: body).status == .created)
            _ = try await h.receive("LAMP", "WH-09", 10)
            _ = try await h.shipOrder("CAP-1", "LAMP")
            let second = try await h.order(
                #"{"orderNumber": "CAP-2", "lines": [{"sku": "LAMP", "quantity": 1}], "fulfilment": {"type": "ship", "address": {"latitude": 48.86, "longitude": 2.34}}}"#)
            #expect(second.status == .conflict && second.codes == ["insufficient-stock"], "\(second.text)")
            let plan = try await h.post(
                "/v1/sourcing/plan", #"{"lines": [{"sku": "LAMP", "quantity": 1}], "destination": {"latitude": 48.86, "longitude": 2.34}}"#,
                key: h.keys.checkout)
            let candidates = plan.json["candidates"] as? [[String: Any]] ?? []
            let warehouse = candidates.first { $0["locationId"] as? String == "WH-09" }
            let reasons = (warehouse?["reasons"] as? [[String: Any]])?.compactMap { $0["code"] as? String }
            #expect(plan.json["feasible"] as? Bool == false && reasons == ["capacity-reached"], "\(plan.text)")
            try await h.verifyIsClean()
        }
    }
}
