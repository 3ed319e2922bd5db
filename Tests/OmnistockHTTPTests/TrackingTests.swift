import Foundation
import HTTPTypes
import OmnistockCore
@testable import OmnistockHTTP
@testable import OmnistockStore
import Testing

extension Harness {
    /// The tracking link's path of an order-creating answer.
    func trackingPath(_ reply: Reply) throws -> String {
        let url = try #require(reply.json["trackingUrl"] as? String, "\(reply.text)")
        #expect(url.hasPrefix("/track/") && url.count == "/track/".count + 43, "\(url)")
        return url
    }

    /// `GET /v1/track/{token}` of a link, with no API key.
    func track(_ path: String) async throws -> Reply {
        try await call(.get, "/v1" + path, key: nil)
    }

    /// The steps of a tracked order, by name.
    func trackedSteps(_ path: String) async throws -> [String] {
        let reply = try await track(path)
        #expect(reply.status == .ok, "\(reply.text)")
        return (reply.json["steps"] as? [[String: Any]] ?? []).compactMap { $0["step"] as? String }
    }
}

/// The customer's tracking link: one JSON view per journey, its stream from the ledger tail,
/// revocation, guessing cut off, and nothing of the order a customer should not see.
@Suite struct TrackingTests {
    @Test func aPickupOrderIsFollowedFromPlacedToCollected() async throws {
        try await Harness.run { h in
            _ = try await h.receive("JACKET-M", "PAR-01", 2)
            let placed = try await h.order(
                #"{"orderNumber": "WEB-T1", "lines": [{"sku": "JACKET-M", "quantity": 1}], "fulfilment": {"type": "pickup", "locationId": "PAR-01"}, "reference": "customer-42"}"#,
                idempotencyKey: "track-1")
            #expect(placed.status == .created, "\(placed.text)")
            let path = try h.trackingPath(placed)
            let id = try #require(placed.json["id"] as? String)
            let code = try #require(placed.json["pickupCode"] as? String)
            // A replay of the creation does not show the link again (only its hash is kept).
            let replay = try await h.order(
                #"{"orderNumber": "WEB-T1", "lines": [{"sku": "JACKET-M", "quantity": 1}], "fulfilment": {"type": "pickup", "locationId": "PAR-01"}, "reference": "customer-42"}"#,
                idempotencyKey: "track-1")
            #expect(replay.json["trackingUrl"] == nil && replay.json["id"] as? String == id, "\(replay.text)")
            #expect(try await h.readOrder(id).json["trackingUrl"] == nil)

            let first = try await h.track(path)
            #expect(first.status == .ok && first.headers[.cacheControl] == "no-store", "\(first.text)")
            #expect(first.json["status"] as? String == "allocated" && first.json["orderNumber"] as? String == "WEB-T1")
            let pickup = try #require(first.json["pickup"] as? [String: Any], "\(first.text)")
            #expect(pickup["name"] as? String == "Store PAR-01" && pickup["geoUri"] as? String == "geo:48.86,2.34", "\(pickup)")
            let createdAt = try #require(placed.json["createdAt"] as? String)
            #expect(pickup["readyBy"] as? String == placed.json["readyBy"] as? String && pickup["waitsUntil"] == nil, "\(createdAt) \(pickup)")
            // Nothing a customer should not see: no code, no id, no reference, no locations.
            for secret in [code, id, "customer-42", "\"PAR-01\""] { #expect(!first.text.contains(secret), "\(secret) in \(first.text)") }

            #expect(try await h.step(id, "picking").status == .ok)
            #expect(try await h.step(id, "ready").status == .ok)
            let ready = try await h.track(path)
            #expect(ready.json["status"] as? String == "ready")
            #expect((ready.json["pickup"] as? [String: Any])?["waitsUntil"] is String && (ready.json["pickup"] as? [String: Any])?["readyAt"] is String)
            // A wrong code is not on the customer's page.
            #expect(try await h.step(id, "collect", #"{"pickupCode": "\#(wrongCode(for: code))"}"#).status != .ok)
            #expect(try await h.step(id, "collect", #"{"pickupCode": "\#(code)"}"#).status == .ok)
            #expect(try await h.trackedSteps(path) == ["placed", "picking", "ready", "collected"])
            let collected = try await h.track(path)
            #expect(collected.json["status"] as? String == "collected" && collected.json["endedAt"] is String)
            #expect((collected.json["lines"] as? [[String: Any]])?.first?["status"] as? String == "collected")
        }
    }

    @Test func aShippedOrderShowsItsCarrierAndAReturn() async throws {
        try await Harness.run { h in
            _ = try await h.receive("JACKET-M", "PAR-01", 3)
            let placed = try await h.order(
                #"{"orderNumber": "WEB-T2", "lines": [{"sku": "JACKET-M", "quantity": 2}], "fulfilment": {"type": "ship", "address": {"latitude": 48.86, "longitude": 2.34}}}"#)
            let path = try h.trackingPath(placed)
            let id = try #require(placed.json["id"] as? String)
            #expect(try await h.track(path).json["pickup"] == nil)
            #expect(try await h.step(id, "ship", #"{"carrier": "Colissimo", "tracking": "6A123"}"#).status == .ok)
            let shipped = try await h.track(path)
            #expect(shipped.json["status"] as? String == "shipped" && shipped.json["fulfilment"] as? String == "ship", "\(shipped.text)")
            let step = (shipped.json["steps"] as? [[String: Any]])?.last
            #expect(step?["step"] as? String == "shipped" && step?["carrier"] as? String == "Colissimo" && step?["tracking"] as? String == "6A123")
            #expect((shipped.json["shipments"] as? [[String: Any]])?.first?["tracking"] as? String == "6A123")
            let par02 = try await h.newStoreKey(["PAR-02"])
            let back = try await h.step(id, "returns", #"{"locationId": "PAR-02", "lines": [{"sku": "JACKET-M", "quantity": 1, "restock": true}]}"#, key: par02)
            #expect(back.status == .ok, "\(back.text)")
            #expect(try await h.trackedSteps(path) == ["placed", "shipped", "returned"])
            #expect((try await h.track(path).json["lines"] as? [[String: Any]])?.first?["returned"] as? Int == 1)
        }
    }

    @Test func anItemNotFoundIsResourcedAndACancelledOrderSaysSo() async throws {
        try await Harness.run { h in
            _ = try await h.receive("JACKET-M", "PAR-01", 2)
            _ = try await h.receive("JACKET-M", "PAR-02", 3)
            let placed = try await h.order(
                #"{"orderNumber": "WEB-T3", "lines": [{"sku": "JACKET-M", "quantity": 2, "locationId": "PAR-01"}], "fulfilment": {"type": "ship", "address": {"latitude": 48.86, "longitude": 2.34}}}"#)
            let path = try h.trackingPath(placed)
            let id = try #require(placed.json["id"] as? String)
            #expect(try await h.step(id, "lines/1/not-found").status == .ok)
            let tracked = try await h.track(path)
            let step = try #require((tracked.json["steps"] as? [[String: Any]])?.last, "\(tracked.text)")
            #expect(step["step"] as? String == "line-not-found" && step["sku"] as? String == "JACKET-M" && step["lineId"] as? String == "1")
            let replacement = try #require(step["replacedBy"] as? String, "\(step)")
            let lines = tracked.json["lines"] as? [[String: Any]] ?? []
            #expect(lines.contains { $0["id"] as? String == replacement && $0["replaces"] as? String == "1" && $0["status"] as? String == "allocated" }, "\(lines)")

            _ = try await h.receive("CAP-NAVY", "PAR-01", 1)
            let other = try await h.order(
                #"{"orderNumber": "WEB-T4", "lines": [{"sku": "CAP-NAVY", "quantity": 1}], "fulfilment": {"type": "ship", "address": {"latitude": 48.86, "longitude": 2.34}}}"#)
            let otherPath = try h.trackingPath(other)
            let otherId = try #require(other.json["id"] as? String)
            #expect(try await h.step(otherId, "cancel", #"{"reason": "customer"}"#).status == .ok)
            let cancelled = try await h.track(otherPath)
            #expect(cancelled.json["status"] as? String == "cancelled", "\(cancelled.text)")
            #expect((cancelled.json["steps"] as? [[String: Any]])?.last?["step"] as? String == "cancelled")
            // Each link shows its own order only.
            #expect(try await h.track(path).json["orderNumber"] as? String == "WEB-T3")
            #expect(!cancelled.text.contains("WEB-T3") && !cancelled.text.contains("JACKET"))
        }
    }

    @Test func aPickupNotCollectedInTimeShowsExpired() async throws {
        try await Harness.run { h in
            _ = try await h.receive("JACKET-M", "PAR-01", 1)
            let placed = try await h.order(
                #"{"orderNumber": "WEB-T5", "lines": [{"sku": "JACKET-M", "quantity": 1}], "fulfilment": {"type": "pickup", "locationId": "PAR-01"}}"#)
            let path = try h.trackingPath(placed)
            let id = try #require(placed.json["id"] as? String)
            #expect(try await h.step(id, "ready").status == .ok)
            #expect(try await h.services.orders.expireNoShows(asOfMs: h.epochMilliseconds(daysFromNow: 8), limit: 100) == 1)
            let expired = try await h.track(path)
            #expect(expired.json["status"] as? String == "expired" && (expired.json["pickup"] as? [String: Any])?["waitsUntil"] == nil, "\(expired.text)")
            #expect(try await h.trackedSteps(path) == ["placed", "ready", "expired"])
        }
    }

    @Test func aRevokedLinkIsNotFoundAndTheNewOneWorks() async throws {
        try await Harness.run { h in
            _ = try await h.receive("JACKET-M", "PAR-01", 1)
            let placed = try await h.order(
                #"{"orderNumber": "WEB-T6", "lines": [{"sku": "JACKET-M", "quantity": 1}], "fulfilment": {"type": "pickup", "locationId": "PAR-01"}}"#)
            let old = try h.trackingPath(placed)
            let id = try #require(placed.json["id"] as? String)
            #expect(try await h.call(.post, "/v1/orders/\(id)/tracking/revoke", key: nil).status == .unauthorized)
            let elsewhere = try await h.post("/v1/orders/\(id)/tracking/revoke", key: try await h.newStoreKey(["PAR-02"]))
            #expect([.forbidden, .notFound].contains(elsewhere.status), "another store's key: \(elsewhere.text)")
            #expect(try await h.post("/v1/orders/ord_0123/tracking/revoke", key: h.keys.admin).status == .notFound)
            let revoked = try await h.post("/v1/orders/\(id)/tracking/revoke", key: h.keys.checkout, idempotencyKey: "revoke-1")
            #expect(revoked.status == .ok, "\(revoked.text)")
            let new = try h.trackingPath(revoked)
            #expect(new != old)
            let gone = try await h.track(old)
            #expect(gone.status == .notFound && gone.isProblem, "\(gone.text)")
            #expect(try await h.call(.get, "/v1\(old)/stream", key: nil).status == .notFound)
            #expect(try await h.track(new).json["orderNumber"] as? String == "WEB-T6")
            // A replay of the revocation does not show the link again.
            let replayed = try await h.post("/v1/orders/\(id)/tracking/revoke", key: h.keys.checkout, idempotencyKey: "revoke-1")
            #expect(replayed.status == .ok && replayed.json["trackingUrl"] == nil, "\(replayed.text)")
            #expect(try await h.track(new).status == .ok)
        }
    }

    @Test func guessingIsCutOffPerAddressAndCounted() async throws {
        try await Harness.run { h in
            _ = try await h.receive("JACKET-M", "PAR-01", 1)
            let placed = try await h.order(
                #"{"orderNumber": "WEB-T7", "lines": [{"sku": "JACKET-M", "quantity": 1}], "fulfilment": {"type": "pickup", "locationId": "PAR-01"}}"#)
            let path = try h.trackingPath(placed)
            var statuses: [HTTPResponse.Status: Int] = [:]
            var retryAfter: String?
            for n in 0..<1_000 {
                let guess = try await h.track("/track/" + TrackingTokens.make().prefix(42) + "\(n % 10)")
                statuses[guess.status, default: 0] += 1
                if guess.status == .tooManyRequests { retryAfter = guess.headers[.retryAfter] }
            }
            #expect(statuses == [.notFound: Limits.trackingMissesPerWindowMax, .tooManyRequests: 1_000 - Limits.trackingMissesPerWindowMax], "\(statuses)")
            #expect(Int(retryAfter ?? "") ?? 0 >= 1)
            // The address is cut off, even for a real link, until its window ends.
            #expect(try await h.track(path).status == .tooManyRequests)
            let metrics = try await h.call(.get, "/metrics", key: nil).text
            #expect(metrics.contains(#"oms_tracking_refusals_total{reason="unknown"} 20"#), "\(metrics)")
            #expect(metrics.contains(#"oms_tracking_refusals_total{reason="rate_limited"} 981"#))
        }
    }

    @Test func theStreamSendsTheOrderAndAgainWhenTheStoreMarksItReady() async throws {
        try await Harness.run { h in
            _ = try await h.receive("JACKET-M", "PAR-01", 1)
            let placed = try await h.order(
                #"{"orderNumber": "WEB-T8", "lines": [{"sku": "JACKET-M", "quantity": 1}], "fulfilment": {"type": "pickup", "locationId": "PAR-01"}}"#)
            let id = try #require(placed.json["id"] as? String)
            let code = try #require(placed.json["pickupCode"] as? String)
            let messages = try await streamed(h, orderId: id, count: 4) { () async throws in
                #expect(try await h.step(id, "picking").status == .ok)
                #expect(try await h.step(id, "ready").status == .ok)
                #expect(try await h.step(id, "collect", #"{"pickupCode": "\#(code)"}"#).status == .ok)
            }
            #expect(messages.map { $0["status"] as? String } == ["allocated", "picking", "ready", "collected"], "\(messages)")
            let positions = messages.compactMap { $0["position"] as? Int }
            #expect(positions.count == 4 && positions == positions.sorted() && Set(positions).count == 4)
        }
    }

    /// A tail that fell behind hands several of the order's events over in one page; the
    /// customer still gets one message per step (CI once saw picking, ready and collected
    /// folded into one).
    @Test func aPageOfSeveralStepsIsOneMessagePerStep() async throws {
        try await Harness.run { h in
            _ = try await h.receive("JACKET-M", "PAR-01", 1)
            let placed = try await h.order(
                #"{"orderNumber": "WEB-T9", "lines": [{"sku": "JACKET-M", "quantity": 1}], "fulfilment": {"type": "pickup", "locationId": "PAR-01"}}"#)
            let id = try #require(placed.json["id"] as? String)
            let code = try #require(placed.json["pickupCode"] as? String)
            let subscription = TailSubscription(id: 1, queueMax: 64, onLeave: { _ in })
            let feed = TrackingFeed(services: h.services, orderId: id, pickup: nil, subscription: subscription)
            let sink = StreamSink(queueMax: 16)
            #expect(subscription.push(.started(after: try await h.services.events.head(on: h.services.database))))
            let running = Task { try await feed.run(into: sink) }
            defer { running.cancel() }
            // The order as it was, read before the steps (else the read would hold them all).
            let first = await collect(sink) { items in !items.isEmpty }
            let placedAt = try await h.services.events.head(on: h.services.database)
            #expect(try await h.step(id, "picking").status == .ok)
            #expect(try await h.step(id, "ready").status == .ok)
            #expect(try await h.step(id, "collect", #"{"pickupCode": "\#(code)"}"#).status == .ok)
            let page = try await h.services.events.read(after: placedAt, limit: 100, on: h.services.database).events
                .filter { $0.stream == Order.stream(id) }
            #expect(page.count == 3)
            #expect(subscription.push(.events(page)))
            let items = first + (await collect(sink) { items in items.count >= 3 })
            let statuses = items.compactMap { item -> String? in
                guard case .message(let message) = item else { return nil }
                return ((try? JSONSerialization.jsonObject(with: Data(message.data))) as? [String: Any])?["status"] as? String
            }
            #expect(statuses == ["allocated", "picking", "ready", "collected"], "\(items)")
        }
    }

    @Test func theStreamFollowsEveryOtherJourney() async throws {
        try await Harness.run { h in
            _ = try await h.receive("JACKET-M", "PAR-01", 4)
            _ = try await h.receive("JACKET-M", "PAR-02", 3)
            let ship = #"{"orderNumber": "N", "lines": [{"sku": "JACKET-M", "quantity": 1, "locationId": "PAR-01"}], "fulfilment": {"type": "ship", "address": {"latitude": 48.86, "longitude": 2.34}}}"#
            func place(_ number: String, _ body: String) async throws -> String {
                let reply = try await h.order(body.replacingOccurrences(of: #""orderNumber": "N""#, with: #""orderNumber": "\#(number)""#))
                #expect(reply.status == .created, "\(reply.text)")
                return try #require(reply.json["id"] as? String)
            }
            // Shipped, then returned at another store.
            let shipped = try await place("WEB-S1", ship)
            let par02 = try await h.newStoreKey(["PAR-02"])
            let returned = try await streamed(h, orderId: shipped, count: 3) { () async throws in
                #expect(try await h.step(shipped, "ship", #"{"carrier": "DHL", "tracking": "JD1"}"#).status == .ok)
                #expect(try await h.step(shipped, "returns", #"{"locationId": "PAR-02", "lines": [{"sku": "JACKET-M", "quantity": 1, "restock": true}]}"#, key: par02).status == .ok)
            }
            #expect(returned.map { ($0["steps"] as? [[String: Any]])?.last?["step"] as? String } == ["placed", "shipped", "returned"], "\(returned)")
            // An item not found at PAR-01, re-sourced from PAR-02.
            let resourced = try await place("WEB-S2", ship)
            let notFound = try await streamed(h, orderId: resourced, count: 2) { () async throws in
                #expect(try await h.step(resourced, "lines/1/not-found").status == .ok)
            }
            let step = (notFound.last?["steps"] as? [[String: Any]])?.last
            #expect(step?["step"] as? String == "line-not-found" && step?["replacedBy"] is String, "\(notFound)")
            // Cancelled.
            let cancelled = try await place("WEB-S3", ship)
            let cancelling = try await streamed(h, orderId: cancelled, count: 2) { () async throws in
                #expect(try await h.step(cancelled, "cancel", #"{"reason": "customer"}"#).status == .ok)
            }
            #expect(cancelling.map { $0["status"] as? String } == ["allocated", "cancelled"], "\(cancelling)")
            // A pickup not collected in time.
            let pickup = #"{"orderNumber": "WEB-S4", "lines": [{"sku": "JACKET-M", "quantity": 1}], "fulfilment": {"type": "pickup", "locationId": "PAR-01"}}"#
            let uncollected = try #require(try await h.order(pickup).json["id"] as? String)
            let expiring = try await streamed(h, orderId: uncollected, count: 3) { () async throws in
                #expect(try await h.step(uncollected, "ready").status == .ok)
                #expect(try await h.services.orders.expireNoShows(asOfMs: h.epochMilliseconds(daysFromNow: 8), limit: 100) == 1)
            }
            #expect(expiring.map { $0["status"] as? String } == ["allocated", "ready", "expired"], "\(expiring)")
        }
    }

    /// The messages of an order's tracking stream: the first, then those `act` causes, until
    /// `count` have come (30 s at most).
    private func streamed(
        _ h: Harness, orderId: String, count: Int, _ act: @Sendable () async throws -> Void
    ) async throws -> [[String: Any]] {
        var messages: [[String: Any]] = []
        try await withTail(h.services) {
            let subscription = try h.services.tail.subscribe(wanting: { $0.stream == Order.stream(orderId) })
            let feed = TrackingFeed(services: h.services, orderId: orderId, pickup: nil, subscription: subscription)
            let sink = StreamSink(queueMax: 16)
            let running = Task { try await feed.run(into: sink) }
            defer { running.cancel() }
            let seen = Task {
                await collect(sink) { items in items.filter { if case .message = $0 { true } else { false } }.count >= count }
            }
            // The first message is the order as it is; each step after it makes one more.
            try await Task.sleep(for: .milliseconds(300))
            try await act()
            messages = await seen.value.compactMap { item -> [String: Any]? in
                guard case .message(let message) = item else { return nil }
                #expect(message.event == "order" && message.id.flatMap(Int64.init) != nil)
                return (try? JSONSerialization.jsonObject(with: Data(message.data))) as? [String: Any]
            }
        }
        return messages
    }
}
