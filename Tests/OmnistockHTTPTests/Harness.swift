import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import OmnistockCore
import OmnistockHTTP
import OmnistockStore
import OmnistockTestSupport
import Prometheus
import Testing

/// A running edge on a fresh database, with one key per kind of caller.
struct Harness: Sendable {
    let client: any TestClientProtocol
    let services: EdgeServices
    let keys: Keys

    struct Keys: Sendable {
        let admin: String
        let checkout: String
        /// A store key bound to PAR-01.
        let store: String
        /// An integration key bound to PAR-01.
        let boundIntegration: String
        /// An integration key for every location.
        let integration: String
    }

    /// A decoded answer.
    struct Reply: Sendable {
        let status: HTTPResponse.Status
        let headers: HTTPFields
        let text: String

        var json: [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
        }
        var isProblem: Bool { headers[.contentType] == "application/problem+json" }
        /// The `code` of every field error of a problem.
        var codes: [String] { (json["errors"] as? [[String: Any]])?.compactMap { $0["code"] as? String } ?? [] }
        var fields: [String] { (json["errors"] as? [[String: Any]])?.compactMap { $0["field"] as? String } ?? [] }
    }

    /// Sends a request; `key` nil sends no Authorization header.
    func call(
        _ method: HTTPRequest.Method, _ uri: String, key: String?, body: String? = nil,
        headers extra: HTTPFields = [:], contentType: String? = "application/json"
    ) async throws -> Reply {
        var headers = extra
        if let key { headers[.authorization] = "Bearer \(key)" }
        if body != nil, let contentType { headers[.contentType] = contentType }
        let response = try await client.executeRequest(
            uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
        return Reply(status: response.status, headers: response.headers, text: String(buffer: response.body))
    }

    static let locationBody = """
        {"name": "Paris Rivoli", "kind": "store", "latitude": 48.8606, "longitude": 2.3376,
         "capabilities": {"pickup": true, "ships": true}, "dailyCapacity": 200, "priority": 1,
         "pickupWindowDays": 7, "active": true}
        """

    /// Runs `body` against a new edge with PAR-01 and PAR-02 defined.
    /// With `privateWebhookTargets`, webhooks may be sent to loopback receivers.
    static func run(privateWebhookTargets: Bool = false, _ body: @Sendable (Harness) async throws -> Void) async throws {
        try await withFreshDatabase { database in
            let logger = testLogger
            let events = EventStore(logger: logger)
            var services = EdgeServices(
                database: database, events: events, locations: LocationStore(events: events, logger: logger),
                stock: StockStore(events: events, logger: logger), holds: HoldStore(logger: logger),
                holdWriter: HoldWriter(database: database, events: events, idempotencyRetentionSeconds: 3600, logger: logger),
                orders: OrderStore(database: database, events: events, logger: logger),
                orderSteps: OrderStepWriter(database: database, events: events, idempotencyRetentionSeconds: 3600, logger: logger),
                tail: LedgerTail(database: database, events: events, logger: logger),
                apiKeys: ApiKeyStore(cacheSeconds: 5, logger: logger),
                idempotency: IdempotencyStore(retentionSeconds: 3600, logger: logger),
                migrator: Migrator(migrations: try Migration.bundled(), logger: logger),
                metrics: EdgeMetrics(registry: PrometheusCollectorRegistry()), logger: logger)
            services.webhookTargets = TargetResolver(allowPrivate: privateWebhookTargets)
            let edge = services
            func key(_ role: Role, _ locations: [String]?) async throws -> String {
                let spec = try ApiKeySpec.validate(name: "\(role)", role: role, locations: locations).get()
                let (_, token) = try await edge.apiKeys.create(spec, createdBy: "test", on: database)
                return token
            }
            let keys = Keys(
                admin: try await key(.admin, nil), checkout: try await key(.checkout, nil),
                store: try await key(.store, ["PAR-01"]), boundIntegration: try await key(.integration, ["PAR-01"]),
                integration: try await key(.integration, nil))
            for id in ["PAR-01", "PAR-02"] {
                var location = Location(
                    id: id, name: "Store \(id)", kind: .store, latitude: 48.86, longitude: 2.34,
                    capabilities: .init(pickup: true, ships: true), dailyCapacity: 100, priority: 1, pickupWindowDays: 7,
                    active: true)
                location.name = "Store \(id)"
                _ = try await edge.locations.define(location, metadata: EventMetadata(actor: "test"), on: database)
            }
            let app = Application(router: buildRouter(edge), logger: logger)
            try await app.test(.router) { client in
                try await body(Harness(client: client, services: edge, keys: keys))
            }
        }
    }
}
