import Foundation
import HTTPTypes
import Testing

@Suite struct LocationRouteTests {
    @Test func createReadChangeAndList() async throws {
        try await Harness.run { h in
            let created = try await h.call(.put, "/v1/locations/PAR-09", key: h.keys.admin, body: Harness.locationBody)
            #expect(created.status == .created)
            #expect(created.json["id"] as? String == "PAR-09")
            #expect(created.json["version"] as? Int == 1)
            #expect((created.json["capabilities"] as? [String: Bool]) == ["pickup": true, "ships": true])

            let again = try await h.call(.put, "/v1/locations/PAR-09", key: h.keys.admin, body: Harness.locationBody)
            #expect(again.status == .ok && again.json["version"] as? Int == 1, "an identical PUT changes nothing")

            let closed = Harness.locationBody.replacingOccurrences(of: "\"active\": true", with: "\"active\": false")
            let changed = try await h.call(.put, "/v1/locations/PAR-09", key: h.keys.admin, body: closed)
            #expect(changed.status == .ok && changed.json["version"] as? Int == 2 && changed.json["active"] as? Bool == false)

            let read = try await h.call(.get, "/v1/locations/PAR-09", key: h.keys.checkout)
            #expect(read.status == .ok && read.json["name"] as? String == "Paris Rivoli")

            // Defaults apply to optional fields.
            let minimal = #"{"name": "Depot", "kind": "warehouse", "latitude": 0, "longitude": 0, "capabilities": {"pickup": false, "ships": true}, "dailyCapacity": 0}"#
            let depot = try await h.call(.put, "/v1/locations/WH-01", key: h.keys.admin, body: minimal)
            #expect(depot.status == .created)
            #expect(depot.json["priority"] as? Int == 100 && depot.json["pickupWindowDays"] as? Int == 7 && depot.json["active"] as? Bool == true)

            var ids: [String] = []
            var cursor: String?
            for _ in 0..<10 {
                let page = try await h.call(.get, "/v1/locations?limit=2" + (cursor.map { "&after=\($0)" } ?? ""), key: h.keys.store)
                #expect(page.status == .ok)
                ids += (page.json["items"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
                cursor = page.json["nextCursor"] as? String
                if cursor == nil { break }
            }
            #expect(ids == ["PAR-01", "PAR-02", "PAR-09", "WH-01"])
        }
    }
}

@Suite struct EventRouteTests {
    @Test func theFeedPagesInOrderAndFiltersByType() async throws {
        try await Harness.run { h in
            _ = try await h.call(.put, "/v1/locations/PAR-09", key: h.keys.admin, body: Harness.locationBody, headers: [HTTPField.Name("X-Request-Id")!: "req-feed"])
            let first = try await h.call(.get, "/v1/events?limit=2", key: h.keys.admin)
            #expect(first.status == .ok)
            let events = first.json["events"] as? [[String: Any]] ?? []
            #expect(events.compactMap { $0["position"] as? Int } == [1, 2])
            #expect(first.json["nextAfter"] as? Int == 2 && first.json["headPosition"] as? Int == 3)
            let rest = try await h.call(.get, "/v1/events?after=2", key: h.keys.admin)
            let last = try #require((rest.json["events"] as? [[String: Any]])?.first)
            #expect(last["type"] as? String == "location.defined")
            #expect(last["stream"] as? String == "location-PAR-09")
            #expect(((last["data"] as? [String: Any])?["location"] as? [String: Any])?["name"] as? String == "Paris Rivoli")
            let metadata = last["metadata"] as? [String: Any]
            #expect(metadata?["correlationId"] as? String == "req-feed")
            #expect((metadata?["actor"] as? String)?.hasPrefix("key_") == true)

            let filtered = try await h.call(.get, "/v1/events?type=stock.moved&type=hold.placed", key: h.keys.admin)
            #expect((filtered.json["events"] as? [Any])?.isEmpty == true && filtered.json["nextAfter"] as? Int == 3)
        }
    }

    @Test func aBoundIntegrationSeesOnlyItsLocations() async throws {
        try await Harness.run { h in
            let reply = try await h.call(.get, "/v1/events", key: h.keys.boundIntegration)
            let streams = (reply.json["events"] as? [[String: Any]] ?? []).compactMap { $0["stream"] as? String }
            #expect(streams == ["location-PAR-01"])
            let all = try await h.call(.get, "/v1/events", key: h.keys.integration)
            #expect((all.json["events"] as? [Any])?.count == 2)
        }
    }
}

@Suite struct IdempotencyRouteTests {
    @Test func aRetryReplaysTheAnswerWithoutTheSecretAndAnotherBodyIsRefused() async throws {
        try await Harness.run { h in
            let key: HTTPFields = [HTTPField.Name("Idempotency-Key")!: "create-tablet-1"]
            let body = #"{"name": "tablet", "role": "store", "locations": ["PAR-01"]}"#
            let first = try await h.call(.post, "/v1/api-keys", key: h.keys.admin, body: body, headers: key)
            #expect(first.status == .created && first.json["key"] is String)
            let retry = try await h.call(.post, "/v1/api-keys", key: h.keys.admin, body: body, headers: key)
            #expect(retry.status == .created)
            #expect(retry.headers[HTTPField.Name("Idempotent-Replayed")!] == "true")
            #expect(retry.json["id"] as? String == first.json["id"] as? String)
            #expect(retry.json["key"] == nil, "the secret is shown once")
            // The same content, formatted differently, is the same request.
            let reformatted = try await h.call(
                .post, "/v1/api-keys", key: h.keys.admin,
                body: #"{ "role":"store", "locations":["PAR-01"], "name":"tablet" }"#, headers: key)
            #expect(reformatted.status == .created && reformatted.json["id"] as? String == first.json["id"] as? String)
            let other = try await h.call(
                .post, "/v1/api-keys", key: h.keys.admin, body: #"{"name": "other", "role": "checkout"}"#, headers: key)
            #expect(other.status == .unprocessableContent && other.codes == ["idempotency-key-reused"])
            let keys = try await h.call(.get, "/v1/api-keys", key: h.keys.admin)
            let names = (keys.json["items"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
            #expect(names.filter { $0 == "tablet" }.count == 1, "the retries created nothing")
            #expect(!keys.text.contains("\"key\""), "listings never show secrets")
        }
    }
}
