import Hummingbird
import OmnistockCore
import OmnistockStore

/// Stores and warehouses.
struct LocationRoutes {
    let services: EdgeServices

    func register(on group: RouterGroup<OmsContext>) {
        group
            .put("locations/{locationId}", use: self.define)
            .get("locations", use: self.list)
            .get("locations/{locationId}", use: self.get)
    }

    /// `PUT /v1/locations/{locationId}`: defines or redefines a location (201 when new).
    @Sendable func define(_ request: Request, context: OmsContext) async throws -> Response {
        let id = try request.identifier("locationId", context: context)
        let principal = try context.authorize(.defineLocation, locations: [id])
        let body = try await JSON.decode(LocationBody.self, from: request, context: context)
        let (record, outcome) = try await services.locations.define(
            body.value.location(id: id), metadata: services.metadata(principal, context: context, request: request),
            on: services.database)
        return try JSON.response(LocationView(record), status: outcome == .created ? .created : .ok)
    }

    /// `GET /v1/locations`: a page of locations by id.
    @Sendable func list(_ request: Request, context: OmsContext) async throws -> Response {
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

    /// `GET /v1/locations/{locationId}`.
    @Sendable func get(_ request: Request, context: OmsContext) async throws -> Response {
        let id = try request.identifier("locationId", context: context)
        _ = try context.authorize(.readLocations)
        guard let record = try await services.locations.get(id: id, on: services.database) else {
            throw Problem(Rejection.unknownLocation(locationId: id))
        }
        return try JSON.response(LocationView(record))
    }
}
