import Foundation
import HTTPTypes
import Hummingbird
import OmnistockHTTP
import Testing

@Suite struct OperationsTests {
    @Test func healthReadyMetricsAndOpenAPIAnswer() async throws {
        try await Harness.run { h in
            let health = try await h.call(.get, "/health", key: nil)
            #expect(health.status == .ok && health.json["status"] as? String == "ok")
            #expect(health.headers[HTTPField.Name("X-Request-Id")!] != nil)
            let ready = try await h.call(.get, "/ready", key: nil)
            #expect(ready.status == .ok && ready.json["status"] as? String == "ready")
            let openapi = try await h.call(.get, "/openapi.yaml", key: nil)
            #expect(openapi.status == .ok && openapi.text.hasPrefix("openapi: 3.1.0"))

            _ = try await h.call(.get, "/v1/locations", key: h.keys.admin)
            _ = try await h.call(.get, "/v1/locations/NOPE", key: h.keys.admin)
            let metrics = try await h.call(.get, "/metrics", key: nil)
            #expect(metrics.status == .ok)
            #expect(metrics.text.contains(#"oms_http_requests_total{method="GET",route="/v1/locations",status="200",class="2xx"} 1"#))
            #expect(metrics.text.contains(#"route="/v1/locations/{locationId}",status="404""#))
            #expect(metrics.text.contains(#"oms_http_request_duration_seconds_bucket{method="GET",route="/v1/locations""#))
            #expect(metrics.text.contains("oms_db_pool_connections_max 8"))
            // /ready looked at the server: one primary seen, no change of it.
            #expect(metrics.text.contains("oms_db_failovers_seen 0"))
            #expect(metrics.text.contains("oms_db_restarts_seen 0"))
            #expect(metrics.text.contains("oms_db_reconnects 0"))
        }
    }

    @Test func aCallersRequestIdIsEchoedAndABadOneReplaced() async throws {
        try await Harness.run { h in
            let given = try await h.call(.get, "/health", key: nil, headers: [HTTPField.Name("X-Request-Id")!: "req-42"])
            #expect(given.headers[HTTPField.Name("X-Request-Id")!] == "req-42")
            let bad = try await h.call(.get, "/health", key: nil, headers: [HTTPField.Name("X-Request-Id")!: "no spaces allowed"])
            #expect(bad.headers[HTTPField.Name("X-Request-Id")!] != "no spaces allowed")
        }
    }

    /// The OpenAPI document and the router describe the same set of operations.
    @Test func theOpenAPIDocumentMatchesTheRouter() async throws {
        try await Harness.run { h in
            let routes = Set(routeTable(of: buildRouter(h.services)).routes.map { "\($0.method) \($0.path)" })
            var documented = Set<String>()
            var path: String?
            var inPaths = false
            for line in try OpenAPIDocument.text().split(separator: "\n", omittingEmptySubsequences: false) {
                if line == "paths:" { inPaths = true; continue }
                if inPaths, !line.hasPrefix(" "), !line.isEmpty { break }
                guard inPaths else { continue }
                if line.hasPrefix("  /"), line.hasSuffix(":"), !line.hasPrefix("   ") {
                    path = String(line.dropFirst(2).dropLast())
                } else if let path, line.hasPrefix("    "), !line.hasPrefix("     "), line.hasSuffix(":") {
                    let method = line.trimmingCharacters(in: .whitespaces).dropLast()
                    if ["get", "put", "post", "delete", "patch"].contains(method) {
                        documented.insert("\(method.uppercased()) \(path)")
                    }
                }
            }
            #expect(!routes.isEmpty)
            #expect(routes == documented, "only in router: \(routes.subtracting(documented)); only documented: \(documented.subtracting(routes))")
        }
    }
}
