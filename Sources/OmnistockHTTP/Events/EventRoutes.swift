import Hummingbird
import OmnistockCore
import OmnistockStore

/// The ordered ledger feed.
struct EventRoutes {
    let services: EdgeServices

    func register(on group: RouterGroup<OmsContext>) {
        group
            .get("events", use: self.read)
    }

    /// `GET /v1/events`: the events after a position, at the caller's locations, optionally of some types.
    @Sendable func read(_ request: Request, context: OmsContext) async throws -> Response {
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
            EventPageView(
                events: try page.events.compactMap { try EventView.scoped($0, for: principal.scope) }, nextAfter: page.nextAfter,
                headPosition: page.headPosition))
    }
}
