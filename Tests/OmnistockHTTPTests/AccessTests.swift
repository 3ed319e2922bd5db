import Foundation
import HTTPTypes
import Testing

@Suite struct AuthenticationTests {
    @Test func missingMalformedUnknownAndRevokedKeysAre401() async throws {
        try await Harness.run { h in
            let none = try await h.call(.get, "/v1/locations", key: nil)
            #expect(none.status == .unauthorized && none.isProblem)
            #expect(none.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true)
            let basic = try await h.call(.get, "/v1/locations", key: nil, headers: [.authorization: "Basic dXNlcjpwYXNz"])
            #expect(basic.status == .unauthorized)
            let unknown = try await h.call(.get, "/v1/locations", key: "oms_not-a-real-key")
            #expect(unknown.status == .unauthorized)
            let huge = try await h.call(.get, "/v1/locations", key: String(repeating: "k", count: 10_000))
            #expect(huge.status == .unauthorized)

            let created = try await h.call(.post, "/v1/api-keys", key: h.keys.admin, body: #"{"name": "temp", "role": "checkout"}"#)
            #expect(created.status == .created)
            let token = try #require(created.json["key"] as? String)
            let id = try #require(created.json["id"] as? String)
            #expect(try await h.call(.get, "/v1/locations", key: token).status == .ok)
            let revoked = try await h.call(.delete, "/v1/api-keys/\(id)", key: h.keys.admin)
            #expect(revoked.status == .ok && revoked.json["revokedAt"] != nil)
            #expect(try await h.call(.get, "/v1/locations", key: token).status == .unauthorized)
            #expect(try await h.call(.delete, "/v1/api-keys/key_nope", key: h.keys.admin).status == .notFound)
        }
    }
}

/// Every role against every route that exists, with and without the location it is bound to.
@Suite struct RoleMatrixTests {
    enum Caller: String, CaseIterable, Sendable {
        case admin, checkout, store, boundIntegration, integration
    }

    struct Route: Sendable, CustomStringConvertible {
        var method: HTTPRequest.Method
        var uri: String
        var body: String?
        /// The status each caller gets.
        var expected: [Caller: HTTPResponse.Status]
        var description: String { "\(method) \(uri)" }
    }

    static func all(_ status: HTTPResponse.Status) -> [Caller: HTTPResponse.Status] {
        Dictionary(uniqueKeysWithValues: Caller.allCases.map { ($0, status) })
    }

    static let routes: [Route] = [
        Route(method: .get, uri: "/v1/locations", expected: all(.ok)),
        Route(method: .get, uri: "/v1/locations/PAR-02", expected: all(.ok)),
        Route(
            method: .put, uri: "/v1/locations/PAR-01", body: Harness.locationBody,
            expected: [.admin: .ok, .checkout: .forbidden, .store: .forbidden, .boundIntegration: .ok, .integration: .ok]),
        Route(
            method: .put, uri: "/v1/locations/PAR-02", body: Harness.locationBody,
            expected: [.admin: .ok, .checkout: .forbidden, .store: .forbidden, .boundIntegration: .forbidden, .integration: .ok]),
        Route(method: .get, uri: "/v1/availability?sku=JACKET-M", expected: all(.ok)),
        Route(method: .get, uri: "/v1/stock/PAR-02/JACKET-M", expected: all(.ok)),
        Route(method: .get, uri: "/v1/stock/PAR-02/JACKET-M/history", expected: all(.ok)),
        Route(
            method: .post, uri: "/v1/stock/movements",
            body: #"{"movements": [{"sku": "JACKET-M", "locationId": "PAR-01", "kind": "receipt", "quantity": 1}]}"#,
            expected: [.admin: .created, .checkout: .forbidden, .store: .created, .boundIntegration: .created, .integration: .created]),
        Route(
            method: .post, uri: "/v1/stock/movements",
            body: #"{"movements": [{"sku": "JACKET-M", "locationId": "PAR-02", "kind": "receipt", "quantity": 1}]}"#,
            expected: [.admin: .created, .checkout: .forbidden, .store: .forbidden, .boundIntegration: .forbidden, .integration: .created]),
        Route(
            method: .post, uri: "/v1/stock/counts",
            body: #"{"locationId": "PAR-01", "countedAt": "\#(Date().formatted(.iso8601))", "lines": [{"sku": "JACKET-M", "quantity": 3}]}"#,
            expected: [.admin: .created, .checkout: .forbidden, .store: .created, .boundIntegration: .created, .integration: .created]),
        Route(
            method: .put, uri: "/v1/stock/PAR-01/JACKET-M/safety-stock", body: #"{"quantity": 1}"#,
            expected: [.admin: .ok, .checkout: .forbidden, .store: .ok, .boundIntegration: .ok, .integration: .ok]),
        Route(
            method: .put, uri: "/v1/stock/PAR-02/JACKET-M/safety-stock", body: #"{"quantity": 1}"#,
            expected: [.admin: .ok, .checkout: .forbidden, .store: .forbidden, .boundIntegration: .forbidden, .integration: .ok]),
        Route(
            method: .get, uri: "/v1/events",
            expected: [.admin: .ok, .checkout: .forbidden, .store: .ok, .boundIntegration: .ok, .integration: .ok]),
        Route(
            method: .get, uri: "/v1/me",
            expected: [.admin: .ok, .checkout: .ok, .store: .ok, .boundIntegration: .ok, .integration: .ok]),
        Route(
            method: .get, uri: "/v1/transfers?toLocationId=PAR-01",
            expected: [.admin: .ok, .checkout: .forbidden, .store: .ok, .boundIntegration: .ok, .integration: .ok]),
        Route(
            method: .get, uri: "/v1/transfers?toLocationId=PAR-02",
            expected: [.admin: .ok, .checkout: .forbidden, .store: .forbidden, .boundIntegration: .forbidden, .integration: .ok]),
        Route(
            method: .get, uri: "/v1/returnable-orders/NO-SUCH-ORDER",
            expected: [.admin: .notFound, .checkout: .forbidden, .store: .notFound, .boundIntegration: .notFound, .integration: .notFound]),
        Route(
            method: .post, uri: "/v1/api-keys", body: #"{"name": "n", "role": "checkout"}"#,
            expected: [.admin: .created, .checkout: .forbidden, .store: .forbidden, .boundIntegration: .forbidden, .integration: .forbidden]),
        Route(
            method: .get, uri: "/v1/api-keys",
            expected: [.admin: .ok, .checkout: .forbidden, .store: .forbidden, .boundIntegration: .forbidden, .integration: .forbidden]),
        Route(
            method: .delete, uri: "/v1/api-keys/key_nope",
            expected: [.admin: .notFound, .checkout: .forbidden, .store: .forbidden, .boundIntegration: .forbidden, .integration: .forbidden]),
    ]

    @Test(arguments: routes)
    func eachCallerGetsWhatItsRoleAllows(_ route: Route) async throws {
        try await Harness.run { h in
            for caller in Caller.allCases {
                let key =
                    switch caller {
                    case .admin: h.keys.admin
                    case .checkout: h.keys.checkout
                    case .store: h.keys.store
                    case .boundIntegration: h.keys.boundIntegration
                    case .integration: h.keys.integration
                    }
                let reply = try await h.call(route.method, route.uri, key: key, body: route.body)
                #expect(reply.status == route.expected[caller], "\(caller) \(route): \(reply.text)")
                if reply.status == .forbidden {
                    #expect(reply.isProblem && !reply.codes.isEmpty)
                }
            }
        }
    }
}
