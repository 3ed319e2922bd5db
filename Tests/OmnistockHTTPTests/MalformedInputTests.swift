import Foundation
import HTTPTypes
import Testing

/// Bad input of every kind gets a problem+json with a clear status and the field at fault;
/// never a 500, never a partial write.
@Suite struct MalformedInputTests {
    struct Case: Sendable, CustomStringConvertible {
        var name: String
        var method: HTTPRequest.Method
        var uri: String
        var body: String?
        var contentType: String? = "application/json"
        var status: HTTPResponse.Status
        var code: String?
        var field: String?
        var description: String { name }
    }

    static let put = "/v1/locations/PAR-09"
    static let valid = Harness.locationBody

    static let cases: [Case] = [
        Case(name: "malformed JSON", method: .put, uri: put, body: "{\"name\": ", status: .badRequest, code: "malformed-json"),
        Case(name: "not an object", method: .put, uri: put, body: "[1, 2]", status: .badRequest, code: "wrong-type", field: "/"),
        Case(name: "empty body", method: .put, uri: put, body: "", status: .badRequest, code: "malformed-request"),
        Case(
            name: "string for a number", method: .put, uri: put,
            body: valid.replacingOccurrences(of: "48.8606", with: "\"48.8606\""), status: .badRequest, code: "wrong-type",
            field: "/latitude"),
        Case(
            name: "float for an integer", method: .put, uri: put,
            body: valid.replacingOccurrences(of: "\"dailyCapacity\": 200", with: "\"dailyCapacity\": 2.5"),
            status: .badRequest, code: "invalid-value", field: "/dailyCapacity"),
        Case(
            name: "null for a required field", method: .put, uri: put,
            body: valid.replacingOccurrences(of: "\"Paris Rivoli\"", with: "null"), status: .badRequest, code: "wrong-type",
            field: "/name"),
        Case(
            name: "missing field", method: .put, uri: put,
            body: valid.replacingOccurrences(of: "\"kind\": \"store\",", with: ""), status: .badRequest, code: "missing-field",
            field: "/kind"),
        Case(
            name: "unknown enum value", method: .put, uri: put,
            body: valid.replacingOccurrences(of: "\"store\"", with: "\"kiosk\""), status: .badRequest, code: "invalid-value",
            field: "/kind"),
        Case(
            name: "unknown field", method: .put, uri: put,
            body: valid.replacingOccurrences(of: "\"active\": true", with: "\"active\": true, \"saftyStock\": 2"),
            status: .badRequest, code: "unknown-field", field: "/saftyStock"),
        Case(
            name: "unknown nested field", method: .put, uri: put,
            body: valid.replacingOccurrences(of: "\"ships\": true", with: "\"ships\": true, \"drone\": true"),
            status: .badRequest, code: "unknown-field", field: "/capabilities/drone"),
        Case(
            name: "out of range", method: .put, uri: put,
            body: valid.replacingOccurrences(of: "48.8606", with: "148.8606"), status: .unprocessableContent,
            code: "out-of-range", field: "/latitude"),
        Case(
            name: "huge number", method: .put, uri: put,
            body: valid.replacingOccurrences(of: "\"dailyCapacity\": 200", with: "\"dailyCapacity\": 99999999999999999999999"),
            status: .badRequest, code: "invalid-value", field: "/dailyCapacity"),
        Case(name: "no content type", method: .put, uri: put, body: valid, contentType: nil, status: .unsupportedMediaType),
        Case(name: "text content type", method: .put, uri: put, body: valid, contentType: "text/plain", status: .unsupportedMediaType),
        Case(name: "bad id in path", method: .put, uri: "/v1/locations/PAR%2001", body: valid, status: .badRequest, code: "invalid-identifier", field: "locationId"),
        Case(name: "too long id in path", method: .get, uri: "/v1/locations/" + String(repeating: "x", count: 65), status: .badRequest, code: "invalid-identifier"),
        Case(name: "unknown location", method: .get, uri: "/v1/locations/PAR-77", status: .notFound, code: "unknown-location"),
        Case(name: "limit zero", method: .get, uri: "/v1/locations?limit=0", status: .badRequest, code: "out-of-range", field: "limit"),
        Case(name: "limit text", method: .get, uri: "/v1/locations?limit=ten", status: .badRequest, code: "out-of-range", field: "limit"),
        Case(name: "limit too big", method: .get, uri: "/v1/events?limit=1001", status: .badRequest, code: "out-of-range", field: "limit"),
        Case(name: "negative after", method: .get, uri: "/v1/events?after=-1", status: .badRequest, code: "out-of-range", field: "after"),
        Case(name: "bad cursor", method: .get, uri: "/v1/locations?after=a%20b", status: .badRequest, code: "invalid-identifier", field: "after"),
        Case(name: "bad type filter", method: .get, uri: "/v1/events?type=a%20b", status: .badRequest, code: "invalid-identifier", field: "type"),
        Case(name: "unknown route", method: .get, uri: "/v1/nothing-here", status: .notFound),
        Case(name: "wrong method", method: .post, uri: "/v1/locations/PAR-01", body: valid, status: .methodNotAllowed),
        Case(
            name: "wrong role value", method: .post, uri: "/v1/api-keys", body: #"{"name": "x", "role": "root"}"#,
            status: .badRequest, code: "invalid-value", field: "/role"),
        Case(
            name: "store key without stores", method: .post, uri: "/v1/api-keys", body: #"{"name": "x", "role": "store"}"#,
            status: .unprocessableContent, code: "missing-field", field: "/locations"),
        Case(
            name: "bad idempotency key", method: .post, uri: "/v1/api-keys", body: #"{"name": "x", "role": "checkout"}"#,
            status: .badRequest, code: "invalid-idempotency-key"),
    ]

    @Test(arguments: cases)
    func badInputIsAProblemNeverAServerError(_ bad: Case) async throws {
        try await Harness.run { h in
            var headers: HTTPFields = [:]
            if bad.name == "bad idempotency key" { headers[HTTPField.Name("Idempotency-Key")!] = "has spaces in it" }
            let reply = try await h.call(bad.method, bad.uri, key: h.keys.admin, body: bad.body, headers: headers, contentType: bad.contentType)
            #expect(reply.status == bad.status, "\(reply.text)")
            #expect(reply.isProblem)
            #expect((reply.json["type"] as? String)?.hasPrefix("https://omnistock.dev/problems/") == true)
            #expect(reply.json["status"] as? Int == Int(bad.status.code))
            if let code = bad.code { #expect(reply.codes.contains(code), "\(reply.text)") }
            if let field = bad.field { #expect(reply.fields.contains(field), "\(reply.text)") }
            // Nothing was written by a refused request.
            let after = try await h.call(.get, "/v1/locations/PAR-09", key: h.keys.admin)
            #expect(after.status == .notFound)
        }
    }

    @Test func theAllowHeaderNamesTheMethods() async throws {
        try await Harness.run { h in
            let reply = try await h.call(.delete, "/v1/locations/PAR-01", key: h.keys.admin)
            #expect(reply.status == .methodNotAllowed)
            #expect(reply.headers[.allow] == "GET, PUT")
        }
    }

    @Test func aBodyOverTheLimitIs413() async throws {
        try await Harness.run { h in
            let huge = "{\"name\": \"" + String(repeating: "x", count: 9 * 1024 * 1024) + "\"}"
            let reply = try await h.call(.put, "/v1/locations/PAR-09", key: h.keys.admin, body: huge)
            #expect(reply.status == .contentTooLarge)
            #expect(reply.isProblem)
        }
    }

    @Test func everyFaultIsListed() async throws {
        try await Harness.run { h in
            let body = Harness.locationBody
                .replacingOccurrences(of: "\"Paris Rivoli\"", with: "\"\"")
                .replacingOccurrences(of: "48.8606", with: "-91")
                .replacingOccurrences(of: "\"pickupWindowDays\": 7", with: "\"pickupWindowDays\": 0")
            let reply = try await h.call(.put, "/v1/locations/PAR-09", key: h.keys.admin, body: body)
            #expect(reply.status == .unprocessableContent)
            #expect(reply.fields == ["/name", "/latitude", "/pickupWindowDays"])
        }
    }
}
