import Hummingbird
import OmnistockCore
import OmnistockStore

/// The sourcing preview: where an order's lines would come from, without holding anything.
struct SourcingRoutes {
    let services: EdgeServices

    func register(on group: RouterGroup<OmsContext>) {
        group
            .post("sourcing/plan", use: self.plan)
    }

    /// `POST /v1/sourcing/plan`: the plan for lines sent to a destination or by a fulfilment.
    @Sendable func plan(_ request: Request, context: OmsContext) async throws -> Response {
        _ = try context.authorize(.planSourcing)
        let body = try await JSON.decode(PlanBody.self, from: request, context: context)
        let fulfilment: Fulfilment
        switch (body.value.destination, body.value.fulfilment) {
        case (let destination?, nil): fulfilment = .ship(latitude: destination.latitude, longitude: destination.longitude)
        case (nil, let given?): fulfilment = try given.fulfilment()
        case (nil, nil): throw Problem(Rejections(.missingField(field: "destination")))
        case (.some, .some): throw Problem(Rejections(.notAllowed(field: "fulfilment", reason: "name a destination or a fulfilment, not both")))
        }
        let lines = body.value.lines.map { RequestedLine(sku: $0.sku, quantity: $0.quantity) }
        let outcome = try await services.orders.plan(lines: lines, fulfilment: fulfilment)
        return try JSON.response(PlanView(outcome))
    }
}
