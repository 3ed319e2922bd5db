import Foundation
import OmnistockCore
@testable import OmnistockHTTP
import OmnistockStore
import Testing

/// The stream's spliced JSON of an event is the object the feed's encoder writes.
@Suite struct EventJSONTests {
    @Test func theSplicedEventIsTheEncodedOne() async throws {
        try await Harness.run { h in
            _ = try await h.receive("JSON-A", "PAR-01", 3)
            _ = try await h.hold(#"{"lines": [{"sku": "JSON-A", "quantity": 1, "locationId": "PAR-01"}], "reference": "cart \"7\" é"}"#)
            let page = try await h.services.events.read(after: 0, limit: 100, types: nil, locations: nil, on: h.services.database)
            #expect(page.events.count >= 4)
            let cache = EventStreamCache(capacity: 2)
            for event in page.events {
                let spliced = try JSONSerialization.jsonObject(with: Data(EventView.wholeJSON(event))) as? NSDictionary
                let encoded = try JSONSerialization.jsonObject(with: JSON.encoder.encode(try EventView(event))) as? NSDictionary
                let texts = (String(decoding: EventView.wholeJSON(event), as: UTF8.self), String(decoding: try JSON.encoder.encode(try EventView(event)), as: UTF8.self))
                #expect(spliced != nil && spliced == encoded, "\(event.type) at \(event.position): \(texts.0) vs \(texts.1)")
                // Through the cache (smaller than the page: entries are evicted), for every scope.
                for scope in [LocationScope.all, .only(["PAR-01"]), .only(["PAR-02"])] {
                    let streamed = try EventView.streamJSON(event, for: scope, cache: cache)
                        .map { try JSONSerialization.jsonObject(with: Data($0)) as? NSDictionary }
                    let fed = try EventView.scoped(event, for: scope)
                        .map { try JSONSerialization.jsonObject(with: JSON.encoder.encode($0)) as? NSDictionary }
                    #expect(streamed == fed, "\(event.type) at \(event.position) for \(scope)")
                }
            }
        }
    }
}
