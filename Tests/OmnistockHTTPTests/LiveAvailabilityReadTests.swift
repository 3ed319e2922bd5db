import Foundation
import HTTPTypes
import OmnistockCore
import OmnistockStore
import Testing

/// The instance's availability model answers exactly what PostgreSQL answers, at the same
/// ledger position: after receipts, holds (placed, extended, released, expiring without a
/// recorded expiry), orders, store steps, transfers and location changes.
@Suite struct LiveAvailabilityReadTests {
    static let skus = ["LIVE-A", "LIVE-B", "LIVE-C"]

    /// Runs `body` with the ledger tail and the availability model running, as `oms serve` does.
    static func withLiveModel(_ h: Harness, _ body: () async throws -> Void) async throws {
        let tail = Task { await h.services.tail.run() }
        let live = Task { await h.services.live.run() }
        defer {
            live.cancel()
            tail.cancel()
        }
        try await h.caughtUp()
        try await body()
    }

    @Test func theModelAnswersAsPostgreSQLDoes() async throws {
        try await Harness.run { h in
            try await Self.withLiveModel(h) {
                for sku in Self.skus {
                    _ = try await h.receive(sku, "PAR-01", 20)
                    _ = try await h.receive(sku, "PAR-02", 7)
                }
                try await h.expectSameAnswers("after receipts")
                let short = try await h.hold(#"{"lines": [{"sku": "LIVE-A", "quantity": 3, "locationId": "PAR-01"}], "ttlSeconds": 1}"#)
                #expect(short.status == .created, "\(short.text)")
                let long = try await h.hold(#"{"lines": [{"sku": "LIVE-B", "quantity": 2, "locationId": "PAR-02"}, {"sku": "LIVE-A", "quantity": 1, "locationId": "PAR-02"}]}"#)
                let longId = try #require(long.json["id"] as? String, "\(long.text)")
                let released = try await h.hold(#"{"lines": [{"sku": "LIVE-C", "quantity": 4, "locationId": "PAR-01"}]}"#)
                let releasedId = try #require(released.json["id"] as? String, "\(released.text)")
                try await h.expectSameAnswers("after holds")
                #expect(try await h.call(.delete, "/v1/holds/\(releasedId)", key: h.keys.checkout).status == .ok)
                #expect(try await h.post("/v1/holds/\(longId)/extend", #"{"ttlSeconds": 600}"#, key: h.keys.checkout).status == .ok)
                let (orderId, _) = try await h.pickupOrder("LIVE-1", "LIVE-C", 2)
                #expect(try await h.step(orderId, "picking").status == .ok)
                _ = try await h.shipOrder("LIVE-2", "LIVE-B", 1, from: "PAR-01")
                try await h.expectSameAnswers("after orders")
                // The 1 s hold expires with no sweeper running: both count it out at its instant.
                try await Task.sleep(for: .milliseconds(1_200))
                try await h.expectSameAnswers("after an expiry nobody recorded")
                let body = Harness.locationBody.replacingOccurrences(of: "\"active\": true", with: "\"active\": false")
                    .replacingOccurrences(of: "Paris Rivoli", with: "Store PAR-02")
                #expect(try await h.call(.put, "/v1/locations/PAR-02", key: h.keys.admin, body: body).status == .ok)
                try await h.expectSameAnswers("after a store closed")
            }
        }
    }

    @Test func anAnswerSaysItsPositionAndHonoursMinPosition() async throws {
        try await Harness.run { h in
            try await Self.withLiveModel(h) {
                _ = try await h.receive("LIVE-A", "PAR-01", 5)
                let head = try await h.services.events.head(on: h.services.database)
                let reply = try await h.call(.get, "/v1/availability?sku=LIVE-A&minPosition=\(head)", key: h.keys.checkout)
                #expect(reply.status == .ok, "\(reply.text)")
                #expect(reply.json["position"] as? Int == Int(head))
                #expect(reply.headers[HTTPField.Name("Omnistock-Position")!] == "\(head)")
                let ahead = try await h.call(.get, "/v1/availability?sku=LIVE-A&minPosition=\(head + 100)", key: h.keys.checkout)
                #expect(ahead.status == .badRequest && ahead.fields == ["minPosition"], "\(ahead.text)")
            }
        }
    }
}

extension LiveAvailabilityReadTests {
    static let positionHeader = HTTPField.Name("Omnistock-Position")!

    @Test func everyWriteSaysThePositionItReachedAndAReadThereSeesIt() async throws {
        try await Harness.run { h in
            try await Self.withLiveModel(h) {
                let receipt = try await h.receive("LIVE-A", "PAR-01", 5)
                let received = try #require(receipt.headers[Self.positionHeader].flatMap { Int64($0) }, "\(receipt.headers)")
                #expect(received == (try await h.services.events.head(on: h.services.database)))
                // A hold goes through the batching writer, in another task: its position still comes back.
                let hold = try await h.hold(#"{"lines": [{"sku": "LIVE-A", "quantity": 2, "locationId": "PAR-01"}]}"#, idempotencyKey: "live-hold-1")
                let held = try #require(hold.headers[Self.positionHeader].flatMap { Int64($0) }, "\(hold.headers)")
                #expect(held > received)
                let read = try await h.call(.get, "/v1/availability?sku=LIVE-A&minPosition=\(held)", key: h.keys.checkout)
                let items = try #require(read.json["items"] as? [[String: Any]], "\(read.text)")
                #expect(items.first?["available"] as? Int == 3, "\(read.text)")
                #expect((read.json["position"] as? Int).map { Int64($0) >= held } == true)
                // A replay appends nothing and answers the head, which holds the first answer's write.
                let replay = try await h.hold(#"{"lines": [{"sku": "LIVE-A", "quantity": 2, "locationId": "PAR-01"}]}"#, idempotencyKey: "live-hold-1")
                let replayed = try #require(replay.headers[Self.positionHeader].flatMap { Int64($0) }, "\(replay.headers)")
                #expect(replayed >= held)
                // A step through the store-step writer.
                let (orderId, _) = try await h.pickupOrder("LIVE-9", "LIVE-A", 1)
                let picking = try await h.step(orderId, "picking")
                #expect(picking.headers[Self.positionHeader].flatMap { Int64($0) }.map { $0 > held } == true, "\(picking.headers)")
                // A refusal says nothing of a position.
                let refused = try await h.hold(#"{"lines": [{"sku": "LIVE-A", "quantity": 99, "locationId": "PAR-01"}]}"#)
                #expect(refused.status == .conflict && refused.headers[Self.positionHeader] == nil, "\(refused.text)")
            }
        }
    }
}

extension Harness {
    /// Waits (at most 5 s) until the model reflects the ledger head.
    func caughtUp() async throws {
        let head = try await services.events.head(on: services.database)
        for _ in 0..<500 {
            if let position = services.live.position, position >= head { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("the availability model did not reach position \(head) in 5 s")
    }

    /// The model's rows and PostgreSQL's for the test SKUs, at the same head, are equal. A hold
    /// may reach its expiry between the two reads on a loaded machine, so a difference is read
    /// again (three times at most) before it counts.
    func expectSameAnswers(_ moment: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        try await caughtUp()
        let skus = LiveAvailabilityReadTests.skus
        var seen = ""
        for _ in 0..<3 {
            let live = try #require(await services.live.availability(skus: skus, locationId: nil), "the model is not ready", sourceLocation: sourceLocation)
            let stored = try await services.stock.availability(skus: skus, locationId: nil, on: services.database)
            let one = await services.live.availability(skus: skus, locationId: "PAR-01")
            let storedOne = try await services.stock.availability(skus: skus, locationId: "PAR-01", on: services.database)
            let head = try await services.events.head(on: services.database)
            let (model, modelOne) = (Self.rows(live.read), one.map { Self.rows($0.read) })
            let (database, databaseOne) = (Self.rows(StockRead(skus: skus, rows: stored)), Self.rows(StockRead(skus: skus, rows: storedOne)))
            if model == database, modelOne == databaseOne, live.position == head { return }
            seen = "model \(model) at \(live.position) vs stored \(database) at \(head)"
        }
        Issue.record("\(moment): the model and PostgreSQL differ: \(seen)", sourceLocation: sourceLocation)
    }

    /// A read's rows, each with its SKU and its whole location, in the order read.
    static func rows(_ read: StockRead) -> [String] {
        read.rows.map { "\(read.skus[Int($0.sku)]) \(read.locations[Int($0.location)].map { "\($0)" } ?? "no location") \($0.position)" }
    }
}
