import Foundation
import HTTPTypes
import OmnistockCore
import OmnistockStore
import OmnistockTestSupport
import Testing

extension Harness {
    func hold(_ body: String, key: String? = nil, idempotencyKey: String? = nil) async throws -> Reply {
        var headers: HTTPFields = [:]
        if let idempotencyKey { headers[HTTPField.Name("Idempotency-Key")!] = idempotencyKey }
        return try await call(.post, "/v1/holds", key: key ?? keys.checkout, body: body, headers: headers)
    }

    func position(_ location: String, _ sku: String) async throws -> [String: Any] {
        try await call(.get, "/v1/stock/\(location)/\(sku)", key: keys.admin).json
    }

    func verifyIsClean() async throws {
        let differences = try await Rebuilder(logger: services.logger).verify(on: services.database)
        #expect(differences.isEmpty, "\(differences)")
    }
}

@Suite struct HoldRouteTests {
    static let twoJackets = #"{"lines": [{"sku": "JACKET-M", "quantity": 2, "locationId": "PAR-01"}], "reference": "cart-42"}"#

    /// Replay and verify write holds and positions with COPY, the live writers with INSERT: a
    /// reference with backslashes, quotes and accents, an SKU spelled NULL (an array literal's
    /// null unless quoted), two lines, a hold released (its end time) and none: the rows a
    /// replay writes equal the live ones, and verify finds nothing before and after.
    @Test func awkwardHoldsReplayToTheRowsTheLiveWritersWrote() async throws {
        try await Harness.run { h in
            _ = try await h.receive("NULL", "PAR-01", 5)
            _ = try await h.receive("JACKET-M", "PAR-01", 5)
            let awkward = #"{"lines": [{"sku": "NULL", "quantity": 1, "locationId": "PAR-01"}, {"sku": "JACKET-M", "quantity": 2, "locationId": "PAR-01"}], "reference": "a\\b \"q\" {x,y} é ☃ \\N"}"#
            let kept = try await h.hold(awkward)
            #expect(kept.status == .created, "\(kept.text)")
            #expect(kept.json["reference"] as? String == #"a\b "q" {x,y} é ☃ \N"#)
            let released = try await h.hold(#"{"lines": [{"sku": "NULL", "quantity": 1, "locationId": "PAR-01"}]}"#)
            let id = try #require(released.json["id"] as? String, "\(released.text)")
            #expect(try await h.call(.delete, "/v1/holds/\(id)", key: h.keys.checkout).status == .ok)
            try await h.verifyIsClean()
            let rows = { try await tableRows(["holds", "active_hold_lines", "stock_positions"], on: h.services.database) }
            let live = try await rows()
            #expect(live.contains { $0.contains(#""line_skus":["NULL","JACKET-M"]"#) })
            try await Rebuilder(logger: testLogger).replay(on: h.services.database)
            #expect(try await rows() == live)
            try await h.verifyIsClean()
        }
    }

    @Test func aHoldIsPlacedReadExtendedAndReleased() async throws {
        try await Harness.run { h in
            _ = try await h.receive("JACKET-M", "PAR-01", 5)
            let placed = try await h.hold(Self.twoJackets)
            #expect(placed.status == .created, "\(placed.text)")
            let id = try #require(placed.json["id"] as? String)
            #expect(id.hasPrefix("hld_") && placed.json["status"] as? String == "active" && placed.json["reference"] as? String == "cart-42")
            let lines = placed.json["lines"] as? [[String: Any]] ?? []
            #expect(lines.count == 1 && lines[0]["id"] as? String == "1" && lines[0]["locationId"] as? String == "PAR-01")
            let position = try await h.position("PAR-01", "JACKET-M")
            #expect(position["held"] as? Int == 2 && position["available"] as? Int == 3)

            let read = try await h.call(.get, "/v1/holds/\(id)", key: h.keys.checkout)
            #expect(read.status == .ok && read.json["expiresAt"] as? String == placed.json["expiresAt"] as? String)
            let extended = try await h.call(.post, "/v1/holds/\(id)/extend", key: h.keys.checkout, body: #"{"ttlSeconds": 3600}"#)
            #expect(extended.status == .ok && (extended.json["expiresAt"] as? String ?? "") > (placed.json["expiresAt"] as? String ?? "~"))

            let released = try await h.call(.delete, "/v1/holds/\(id)", key: h.keys.checkout)
            #expect(released.status == .ok && released.json["status"] as? String == "released" && released.json["endedAt"] != nil)
            let after = try await h.position("PAR-01", "JACKET-M")
            #expect(after["held"] as? Int == 0 && after["available"] as? Int == 5)
            // Releasing again changes nothing; an ended hold cannot be extended.
            let again = try await h.call(.delete, "/v1/holds/\(id)", key: h.keys.checkout)
            #expect(again.status == .ok && again.json["status"] as? String == "released")
            let late = try await h.call(.post, "/v1/holds/\(id)/extend", key: h.keys.checkout, body: #"{"ttlSeconds": 60}"#)
            #expect(late.status == .conflict && late.codes == ["hold-not-active"])
            let feed = try await h.call(.get, "/v1/events?type=hold.placed&type=hold.extended&type=hold.released", key: h.keys.admin)
            #expect((feed.json["events"] as? [[String: Any]])?.map { $0["type"] as? String ?? "" } == ["hold.placed", "hold.extended", "hold.released"], "\(feed.text)")
            try await h.verifyIsClean()
        }
    }

    @Test func refusalsNameTheLineWhatWasAskedAndWhatIsAvailable() async throws {
        try await Harness.run { h in
            _ = try await h.receive("JACKET-M", "PAR-01", 5)
            _ = try await h.receive("BOOT-42", "PAR-02", 1)
            let body = #"{"lines": [{"sku": "JACKET-M", "quantity": 3, "locationId": "PAR-01"}, {"sku": "JACKET-M", "quantity": 3, "locationId": "PAR-01"}, {"sku": "BOOT-42", "quantity": 1, "locationId": "PAR-02"}]}"#
            let refused = try await h.hold(body)
            #expect(refused.status == .conflict && refused.isProblem && refused.codes == ["insufficient-stock", "insufficient-stock"], "\(refused.text)")
            #expect(refused.fields == ["/lines/0/quantity", "/lines/1/quantity"])
            let first = (refused.json["errors"] as? [[String: Any]])?.first ?? [:]
            #expect(first["sku"] as? String == "JACKET-M" && first["requested"] as? Int == 6 && first["available"] as? Int == 5)
            // All or nothing: the line that fitted holds nothing either.
            #expect(try await h.position("PAR-02", "BOOT-42")["held"] as? Int == 0)

            let partial = try await h.hold(#"{"lines": [{"sku": "JACKET-M", "quantity": 6, "locationId": "PAR-01"}, {"sku": "BOOT-42", "quantity": 1, "locationId": "PAR-02"}], "allowPartial": true}"#)
            #expect(partial.status == .created && (partial.json["unfilled"] as? [[String: Any]])?.first?["requested"] as? Int == 6, "\(partial.text)")
            #expect(try await h.position("PAR-02", "BOOT-42")["held"] as? Int == 1)
        }
    }

    @Test func badRequestsAreClearProblems() async throws {
        try await Harness.run { h in
            let ttl = try await h.hold(#"{"lines": [{"sku": "A", "quantity": 1, "locationId": "PAR-01"}], "ttlSeconds": 0}"#)
            #expect(ttl.status == .unprocessableContent && ttl.fields == ["/ttlSeconds"])
            let both = try await h.hold(#"{"lines": [{"sku": "A", "quantity": 1, "locationId": "PAR-01"}], "fulfilment": {"type": "pickup", "locationId": "PAR-01"}}"#)
            #expect(both.status == .unprocessableContent && both.fields == ["/lines/0/locationId"])
            let kind = try await h.hold(#"{"lines": [{"sku": "A", "quantity": 1}], "fulfilment": {"type": "drone"}}"#)
            #expect(kind.status == .unprocessableContent && kind.fields == ["/fulfilment/type"])
            let typo = try await h.hold(#"{"lines": [{"sku": "A", "quantity": 1, "locationId": "PAR-01"}], "ttl": 5}"#)
            #expect(typo.status == .badRequest)
            let unknownLocation = try await h.hold(#"{"lines": [{"sku": "A", "quantity": 1, "locationId": "NOWHERE"}]}"#)
            #expect(unknownLocation.status == .unprocessableContent && unknownLocation.codes == ["unknown-location"])
            let missing = try await h.call(.get, "/v1/holds/hld_00000000000000000000000000000000", key: h.keys.checkout)
            #expect(missing.status == .notFound && missing.codes == ["unknown-hold"])
            let badId = try await h.call(.delete, "/v1/holds/no%20such", key: h.keys.checkout)
            #expect(badId.status == .badRequest)
            let extend = try await h.call(.post, "/v1/holds/hld_00000000000000000000000000000000/extend", key: h.keys.checkout, body: #"{"ttlSeconds": 60}"#)
            #expect(extend.status == .notFound)
        }
    }

    @Test func storeAndBoundKeysHoldOnlyAtTheirLocations() async throws {
        try await Harness.run { h in
            _ = try await h.receive("JACKET-M", "PAR-01", 5)
            _ = try await h.receive("JACKET-M", "PAR-02", 5)
            let own = try await h.hold(Self.twoJackets, key: h.keys.store)
            #expect(own.status == .created)
            let other = try await h.hold(#"{"lines": [{"sku": "JACKET-M", "quantity": 1, "locationId": "PAR-02"}]}"#, key: h.keys.boundIntegration)
            #expect(other.status == .forbidden && other.codes == ["location-forbidden"])
            let elsewhere = try await h.hold(#"{"lines": [{"sku": "JACKET-M", "quantity": 1, "locationId": "PAR-02"}]}"#)
            let id = try #require(elsewhere.json["id"] as? String)
            let read = try await h.call(.get, "/v1/holds/\(id)", key: h.keys.store)
            #expect(read.status == .forbidden)
            let release = try await h.call(.delete, "/v1/holds/\(id)", key: h.keys.store)
            #expect(release.status == .forbidden)
            let anonymous = try await h.call(.post, "/v1/holds", key: nil, body: Self.twoJackets)
            #expect(anonymous.status == .unauthorized)
        }
    }

    @Test func expiryIsExactWithoutTheSweeper() async throws {
        try await Harness.run { h in
            _ = try await h.receive("JACKET-M", "PAR-01", 3)
            // Five seconds: the next request must come while it lives, also on a loaded machine
            // (with one second, then two, it once came after the expiry while the whole suite
            // ran beside a build). The wait then runs to the expiry the answer gave, not a guess.
            let short = try await h.hold(#"{"lines": [{"sku": "JACKET-M", "quantity": 3, "locationId": "PAR-01"}], "ttlSeconds": 5}"#)
            let id = try #require(short.json["id"] as? String)
            let blocked = try await h.hold(#"{"lines": [{"sku": "JACKET-M", "quantity": 1, "locationId": "PAR-01"}]}"#)
            #expect(blocked.status == .conflict)
            let expiresAt = try #require(
                (short.json["expiresAt"] as? String).flatMap { try? Date($0, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)) })
            try await Task.sleep(for: .milliseconds(max(0, Int(expiresAt.timeIntervalSinceNow * 1_000)) + 150))
            // No sweeper runs in this harness: the hold stops counting at its expiry all the same.
            let position = try await h.position("PAR-01", "JACKET-M")
            #expect(position["held"] as? Int == 0 && position["available"] as? Int == 3, "\(position)")
            let read = try await h.call(.get, "/v1/holds/\(id)", key: h.keys.checkout)
            #expect(read.json["status"] as? String == "expired" && read.json["endedAt"] as? String == short.json["expiresAt"] as? String)
            let extend = try await h.call(.post, "/v1/holds/\(id)/extend", key: h.keys.checkout, body: #"{"ttlSeconds": 60}"#)
            #expect(extend.status == .conflict && extend.codes == ["hold-not-active"])
            let next = try await h.hold(#"{"lines": [{"sku": "JACKET-M", "quantity": 3, "locationId": "PAR-01"}]}"#)
            #expect(next.status == .created, "\(next.text)")
            try await h.verifyIsClean()

            // The sweeper's work: the expiry is recorded, dated at the expiry itself.
            let due = try await h.services.holds.due(limit: 10, on: h.services.database)
            #expect(due == [id])
            _ = try await h.services.holdWriter.submit(.expire(holdIds: due), metadata: EventMetadata(actor: "system:test"))
            let feed = try await h.call(.get, "/v1/events?type=hold.expired", key: h.keys.admin)
            let events = feed.json["events"] as? [[String: Any]] ?? []
            #expect(events.count == 1 && (events.first?["data"] as? [String: Any])?["holdId"] as? String == id)
            #expect(try await h.services.holds.due(limit: 10, on: h.services.database).isEmpty)
            let stored = try await h.position("PAR-01", "JACKET-M")
            #expect(stored["held"] as? Int == 3 && stored["available"] as? Int == 0)
            try await h.verifyIsClean()
        }
    }

    @Test func idempotentHoldsAnswerTheSameAndChangeNothingMore() async throws {
        try await Harness.run { h in
            _ = try await h.receive("JACKET-M", "PAR-01", 3)
            let first = try await h.hold(Self.twoJackets, idempotencyKey: "k-1")
            let second = try await h.hold(Self.twoJackets, idempotencyKey: "k-1")
            #expect(first.status == .created && second.status == .created && first.text == second.text)
            #expect(second.headers[HTTPField.Name("Idempotent-Replayed")!] == "true")
            #expect(try await h.position("PAR-01", "JACKET-M")["held"] as? Int == 2)
            let reused = try await h.hold(#"{"lines": [{"sku": "JACKET-M", "quantity": 1, "locationId": "PAR-01"}]}"#, idempotencyKey: "k-1")
            #expect(reused.status == .unprocessableContent && reused.codes == ["idempotency-key-reused"])
            // A refusal keeps nothing: the same key succeeds once stock arrives.
            let refused = try await h.hold(Self.twoJackets, idempotencyKey: "k-2")
            #expect(refused.status == .conflict)
            _ = try await h.receive("JACKET-M", "PAR-01", 1)
            let retried = try await h.hold(Self.twoJackets, idempotencyKey: "k-2")
            #expect(retried.status == .created)
            // A key past its retention is free again: the same key with another body runs anew.
            _ = try await h.services.database.withConnection { connection in
                try await connection.query("UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE key = 'k-1'", logger: h.services.logger)
            }
            let renewed = try await h.hold(#"{"lines": [{"sku": "JACKET-M", "quantity": 1, "locationId": "PAR-01"}]}"#, idempotencyKey: "k-1")
            #expect(renewed.status == .conflict && renewed.codes == ["insufficient-stock"], "\(renewed.text)")
            // Ten at once with one key: one hold.
            _ = try await h.receive("JACKET-M", "PAR-01", 1)
            let replies = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<10 {
                    group.addTask { try await h.hold(#"{"lines": [{"sku": "JACKET-M", "quantity": 1, "locationId": "PAR-01"}], "ttlSeconds": 60}"#, idempotencyKey: "k-3").status.code }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(replies.allSatisfy { $0 == 201 }, "\(replies)")
            #expect(try await h.position("PAR-01", "JACKET-M")["held"] as? Int == 5)
        }
    }

    @Test func concurrentHoldsNeverOversellAndAFullQueueRefuses() async throws {
        try await Harness.run { h in
            _ = try await h.receive("HOT", "PAR-01", 50)
            let writer = h.services.holdWriter
            let request = HoldRequest(lines: [RequestedLine(sku: "HOT", quantity: 1, locationId: "PAR-01")], ttlSeconds: 600)
            let accepted = try await withThrowingTaskGroup(of: Int.self) { group in
                for n in 0..<200 {
                    group.addTask {
                        do {
                            _ = try await writer.submit(.place(request, holdId: "hld_t\(n)", scope: .all), metadata: EventMetadata(actor: "test"))
                            return 1
                        } catch is Rejections {
                            return 0
                        }
                    }
                }
                return try await group.reduce(0, +)
            }
            #expect(accepted == 50)
            #expect(writer.statistics.batches < 200, "requests were decided in batches")
            let position = try await h.position("PAR-01", "HOT")
            #expect(position["held"] as? Int == 50 && position["available"] as? Int == 0)

            let small = HoldWriter(database: h.services.database, events: h.services.events, idempotencyRetentionSeconds: 3600, logger: h.services.logger, queueDepthMax: 2)
            let overloaded = await withTaskGroup(of: Bool.self) { group in
                for n in 0..<50 {
                    group.addTask {
                        do {
                            _ = try await small.submit(.release(holdId: "hld_t\(n)"), metadata: EventMetadata(actor: "test"))
                            return false
                        } catch {
                            return (error as? HoldWriterError) == .overloaded(queueDepthMax: 2)
                        }
                    }
                }
                return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(overloaded > 0, "a full queue refuses at once instead of growing")
            try await h.verifyIsClean()
        }
    }
}
