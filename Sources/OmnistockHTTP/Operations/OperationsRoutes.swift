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
        router.get("health") { _, _ in
            try JSON.response(["status": "ok"])
        }
        router.get("ready") { _, _ in
            // Ready means: the database answers and its schema is the one this binary expects.
            guard await services.database.ping() else {
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
        router.get("metrics") { _, _ in
            let text = services.metrics.exposition(database: services.database, holdWriter: services.holdWriter, orderSteps: services.orderSteps)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        router.get("openapi.yaml") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/yaml"],
                body: .init(byteBuffer: ByteBuffer(string: try OpenAPIDocument.text())))
        }
    }
}

/// Stores and warehouses.
struct LocationRoutes {
    let services: EdgeServices

    func register(on group: RouterGroup<OmsContext>) {
        group.put("locations/{locationId}") { request, context in
            let id = try request.identifier("locationId", context: context)
            let principal = try context.authorize(.defineLocation, locations: [id])
            let body = try await JSON.decode(LocationBody.self, from: request, context: context)
            let (record, outcome) = try await services.locations.define(
                body.value.location(id: id), metadata: services.metadata(principal, context: context, request: request),
                on: services.database)
            return try JSON.response(LocationView(record), status: outcome == .created ? .created : .ok)
        }
        group.get("locations") { request, context in
            _ = try context.authorize(.readLocations)
            let limit = try request.pageSize()
            let after = request.uri.queryParameters.get("after")
            if let after, let fault = Identifier.check(after, field: "after") { throw Problem(fault, inBody: false) }
            // One more than asked tells whether another page follows.
            let records = try await services.locations.list(after: after, limit: limit + 1, on: services.database)
            let page = records.prefix(limit)
            return try JSON.response(
                PageView(items: page.map(LocationView.init), nextCursor: records.count > limit ? page.last?.location.id : nil))
        }
        group.get("locations/{locationId}") { request, context in
            let id = try request.identifier("locationId", context: context)
            _ = try context.authorize(.readLocations)
            guard let record = try await services.locations.get(id: id, on: services.database) else {
                throw Problem(Rejection.unknownLocation(locationId: id))
            }
            return try JSON.response(LocationView(record))
        }
    }
}

/// The ordered ledger feed.
struct EventRoutes {
    let services: EdgeServices

    func register(on group: RouterGroup<OmsContext>) {
        group.get("events") { request, context in
            let principal = try context.authorize(.readEvents)
            let after = try request.integer("after", in: 0...Int64.max, default: 0)
            let limit = try request.pageSize()
            let types = request.uri.queryParameters.getAll("type")
            if types.count > Limits.eventTypeFilterCountMax {
                throw Problem(.tooMany(field: "type", countMax: Limits.eventTypeFilterCountMax), inBody: false)
            }
            for type in types {
                if let fault = Identifier.check(type, field: "type") { throw Problem(fault, inBody: false) }
            }
            let page = try await services.events.read(
                after: after, limit: limit, types: types.isEmpty ? nil : types, locations: principal.scope.sortedIds,
                on: services.database)
            return try JSON.response(
                EventPageView(events: try page.events.map { try EventView($0) }, nextAfter: page.nextAfter, headPosition: page.headPosition))
        }
    }
}

/// API keys, for admins.
struct ApiKeyRoutes {
    let services: EdgeServices

    func register(on group: RouterGroup<OmsContext>) {
        group.post("api-keys") { request, context in
            let principal = try context.authorize(.manageApiKeys)
            let body = try await JSON.decode(ApiKeyBody.self, from: request, context: context)
            let spec: ApiKeySpec
            switch ApiKeySpec.validate(name: body.value.name, role: body.value.role, locations: body.value.locations) {
            case .success(let valid): spec = valid
            case .failure(let rejections): throw Problem(rejections)
            }
            return try await services.idempotent(request, context: context, principal: principal, body: body.canonical) { transaction in
                let (record, token) = try await services.apiKeys.create(spec, createdBy: principal.apiKeyId, in: transaction)
                // The secret is shown once: a replay of this request gets the key without it.
                return (
                    StoredResponse(status: 201, body: Array(try JSON.encoder.encode(ApiKeyView(record, key: token)))),
                    StoredResponse(status: 201, body: Array(try JSON.encoder.encode(ApiKeyView(record))))
                )
            }
        }
        group.get("api-keys") { _, context in
            _ = try context.authorize(.manageApiKeys)
            let records = try await services.apiKeys.list(on: services.database)
            return try JSON.response(PageView(items: records.map { ApiKeyView($0) }, nextCursor: nil))
        }
        group.delete("api-keys/{apiKeyId}") { request, context in
            let id = try request.identifier("apiKeyId", context: context)
            _ = try context.authorize(.manageApiKeys)
            guard let record = try await services.apiKeys.revoke(id: id, on: services.database) else {
                throw Problem(Rejection.unknownApiKey(apiKeyId: id))
            }
            return try JSON.response(ApiKeyView(record))
        }
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
