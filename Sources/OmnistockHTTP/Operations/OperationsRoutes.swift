import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import OmnistockCore
import OmnistockStore

/// `/health`, `/ready`, `/metrics`, `/openapi.yaml`: unauthenticated, for load balancers,
/// orchestrators, Prometheus and API tooling.
struct OperationsRoutes {
    let services: EdgeServices

    func register(on router: Router<OmsContext>) {
        router
            .get("health", use: self.health)
            .get("ready", use: self.ready)
            .get("metrics", use: self.metrics)
            .get("openapi.yaml", use: self.openAPI)
    }

    /// `GET /health`: the process answers.
    @Sendable func health(_ request: Request, context: OmsContext) async throws -> Response {
        try JSON.response(["status": "ok"])
    }

    /// `GET /ready`: the database answers as a primary (a standby would refuse every write, as
    /// during a failover) and its schema is the one this binary expects.
    @Sendable func ready(_ request: Request, context: OmsContext) async throws -> Response {
        switch await services.database.probe() {
        case .primary:
            break
        case .standby:
            throw Problem.unavailable("The database server is a standby (read-only), as during a failover; writes would be refused.")
        case .unreachable:
            throw Problem.unavailable("The database is not reachable.")
        }
        let status: SchemaStatus
        do {
            status = try await services.migrator.status(services.database)
        } catch let error as StoreError {
            throw Problem.unavailable("The database schema cannot be used by this binary: \(error)")
        }
        guard status.isCurrent else {
            throw Problem.unavailable(
                "The database schema is at migration \(status.applied), this binary expects \(status.known); run `oms migrate`.")
        }
        struct Ready: Encodable {
            var status = "ready"
            var schemaVersion: Int
        }
        return try JSON.response(Ready(schemaVersion: status.applied))
    }

    /// `GET /metrics`: the Prometheus exposition.
    @Sendable func metrics(_ request: Request, context: OmsContext) async throws -> Response {
        let text = services.metrics.exposition(
            database: services.database, holdWriter: services.holdWriter, orderSteps: services.orderSteps, tail: services.tail,
            live: services.live)
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// `GET /openapi.yaml`: the document shipped with the binary.
    @Sendable func openAPI(_ request: Request, context: OmsContext) async throws -> Response {
        Response(
            status: .ok, headers: [.contentType: "application/yaml"],
            body: .init(byteBuffer: ByteBuffer(string: try OpenAPIDocument.text())))
    }
}

/// The OpenAPI document shipped with the binary.
public enum OpenAPIDocument {
    public static func text() throws -> String {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml") else {
            throw StoreError.configuration("openapi.yaml is missing from this build")
        }
        return try String(contentsOf: url, encoding: .utf8)
    }
}
