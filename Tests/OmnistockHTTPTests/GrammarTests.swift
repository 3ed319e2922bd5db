import Foundation
import HTTPTypes
import NIOCore
@testable import OmnistockHTTP
import Testing

/// What the generated-request campaign (scripts/schemathesis.py) found the server reading
/// differently from the OpenAPI document: date-times outside RFC 3339, a wrong method answered
/// as a wrong body, and lengths counted in grapheme clusters where JSON Schema counts code points.
@Suite struct GrammarTests {
    static func at(_ text: String) -> Int64? { Timestamp.milliseconds(text) }

    @Test func rfc3339DateTimesAreRead() {
        #expect(Self.at("1970-01-01T00:00:00Z") == 0)
        #expect(Self.at("2026-12-01T15:30:36Z") == 1_796_139_036_000)
        #expect(Self.at("2026-12-01t15:30:36z") == 1_796_139_036_000)
        #expect(Self.at("2026-12-01T16:30:36+01:00") == 1_796_139_036_000)
        #expect(Self.at("2026-12-01T00:00:00-23:59") == Self.at("2026-12-01T23:59:00Z"))
        #expect(Self.at("2024-02-29T12:00:00.5Z") == Self.at("2024-02-29T12:00:00Z")! + 500)
        #expect(Self.at("2026-12-01T15:30:36.123456789Z") == 1_796_139_036_123)
        #expect(Self.at("2026-12-01T15:30:36.999999Z") == 1_796_139_036_999)
        #expect(Self.at("1969-12-31T23:59:59.999Z") == -1)
        #expect(Self.at("2000-03-01T00:00:00Z") == 951_868_800_000)
        #expect(Self.at("0000-01-01T00:00:00Z") == -62_167_219_200_000)
        #expect(Self.at("0000-02-29T00:00:00Z") != nil)
    }

    @Test func outOfRangeFieldsAreRefusedNotRolledOver() {
        for text in [
            "2026-02-29T00:00:00Z", "2026-02-30T00:00:00Z", "2026-04-31T00:00:00Z", "2026-13-01T00:00:00Z",
            "2026-00-10T00:00:00Z", "2026-01-00T00:00:00Z", "1900-02-29T00:00:00Z",
            "2026-01-01T24:00:00Z", "2026-01-01T25:00:00Z", "2026-01-01T12:60:00Z", "2026-01-01T12:00:60Z",
            "2026-01-01T12:00:61Z", "2026-01-01T12:00:00+24:00", "2026-01-01T12:00:00+01:60",
        ] {
            #expect(Self.at(text) == nil, "\(text)")
        }
    }

    @Test func textOutsideTheGrammarIsRefused() {
        for text in [
            "", "2026-01-01", "2026-01-01T12:00:00", "2026-01-01 12:00:00Z", "2026-1-01T12:00:00Z", "2026-01-01T12:00Z",
            "2026-01-01T12:00:00.Z", "2026-01-01T12:00:00+0100", "2026-01-01T12:00:00+01", "2026-01-01T12:00:00ZZ",
            "+2026-01-01T12:00:00Z", "2026-01-01T12:00:00Z ", "２０２６-01-01T12:00:00Z", "2026-01-01T12:00:00.1e3Z",
        ] {
            #expect(Self.at(text) == nil, "\(text)")
        }
    }

    @Test func aDateThatDoesNotExistIsRefusedByTheAPI() async throws {
        try await Harness.run { h in
            let asOf = try await h.call(.get, "/v1/stock/PAR-01/JACKET-M?asOf=2026-02-30T00:00:00Z", key: h.keys.admin)
            #expect(asOf.status == .badRequest && asOf.fields == ["asOf"], "\(asOf.text)")
            let count = try await h.call(
                .post, "/v1/stock/counts", key: h.keys.admin,
                body: #"{"locationId": "PAR-01", "countedAt": "2026-11-31T10:00:00Z", "lines": [{"sku": "JACKET-M", "quantity": 3}]}"#)
            #expect(count.status == .unprocessableContent && count.fields.contains { $0.hasSuffix("countedAt") }, "\(count.text)")
            let lower = try await h.call(.get, "/v1/stock/PAR-01/JACKET-M?asOf=2026-11-30t10:00:00z", key: h.keys.admin)
            #expect(lower.status == .ok, "\(lower.text)")
        }
    }

    @Test func aMethodNoRouteTakesIs405EvenWithABody() async throws {
        try await Harness.run { h in
            for (method, path) in [(HTTPRequest.Method.put, "/v1/events"), (.patch, "/v1/holds"), (.post, "/v1/stock/PAR-01/JACKET-M")] {
                let reply = try await h.send(method, path, bytes: Array("not json".utf8), contentType: "text/plain")
                #expect(reply.status == .methodNotAllowed && reply.isProblem, "\(method) \(path): \(reply.text)")
                #expect(reply.headers[.allow] != nil, "\(method) \(path)")
            }
            let deleteBody = try await h.send(.delete, "/v1/locations/PAR-01", bytes: Array("x".utf8), contentType: "text/plain")
            #expect(deleteBody.status == .methodNotAllowed, "\(deleteBody.text)")
        }
    }

    @Test func textLengthsCountCodePoints() async throws {
        try await Harness.run { h in
            // A flag is one grapheme cluster of two code points: 100 of them are 200 code points.
            let flags = String(repeating: "🇫🇷", count: 100)
            let fits = Harness.locationBody.replacingOccurrences(of: "Paris Rivoli", with: flags)
            let reply = try await h.call(.put, "/v1/locations/PAR-09", key: h.keys.admin, body: fits)
            #expect(reply.status == .created, "\(reply.text)")
            let over = Harness.locationBody.replacingOccurrences(of: "Paris Rivoli", with: flags + "🇫🇷")
            let refused = try await h.call(.put, "/v1/locations/PAR-10", key: h.keys.admin, body: over)
            #expect(refused.status == .unprocessableContent && refused.fields == ["/name"], "\(refused.text)")
        }
    }
}
