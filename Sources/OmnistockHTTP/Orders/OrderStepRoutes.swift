import Foundation
import Hummingbird
import OmnistockCore
import OmnistockStore

/// Store work and returns: the steps an order takes once placed. Each step's command is read
/// from the request (a step that takes no body refuses one), run once per Idempotency-Key,
/// and answered with the order. A refusal
/// decided with events (a wrong pickup code, which is counted) is answered after they are
/// committed, and stored for replays like any answer.
struct OrderStepRoutes {
    let services: EdgeServices

    func register(on group: RouterGroup<OmsContext>) {
        group
            .post("orders/{orderId}/picking", use: self.picking)
            .post("orders/{orderId}/ready", use: self.ready)
            .post("orders/{orderId}/unlock", use: self.unlock)
            .post("orders/{orderId}/collect", use: self.collect)
            .post("orders/{orderId}/ship", use: self.ship)
            .post("orders/{orderId}/cancel", use: self.cancel)
            .post("orders/{orderId}/returns", use: self.returns)
            .post("orders/{orderId}/lines/{lineId}/not-found", use: self.notFound)
    }

    /// `POST /v1/orders/{orderId}/picking`: the store starts picking.
    @Sendable func picking(_ request: Request, context: OmsContext) async throws -> Response {
        try await step(request, context) { request, context in
            try await JSON.expectNoBody(request, context: context)
            return (.picking, Data())
        }
    }

    /// `POST /v1/orders/{orderId}/ready`: a pickup order waits at the store for its customer.
    @Sendable func ready(_ request: Request, context: OmsContext) async throws -> Response {
        try await step(request, context) { request, context in
            try await JSON.expectNoBody(request, context: context)
            return (.ready, Data())
        }
    }

    /// `POST /v1/orders/{orderId}/unlock`: a store lifts the lock wrong pickup codes put on.
    @Sendable func unlock(_ request: Request, context: OmsContext) async throws -> Response {
        try await step(request, context) { request, context in
            try await JSON.expectNoBody(request, context: context)
            return (.unlock, Data())
        }
    }

    /// `POST /v1/orders/{orderId}/collect`: the customer collects, with the pickup code.
    @Sendable func collect(_ request: Request, context: OmsContext) async throws -> Response {
        try await step(request, context) { request, context in
            let body = try await JSON.decode(CollectBody.self, from: request, context: context)
            return (.collect(pickupCode: body.value.pickupCode), try body.canonical())
        }
    }

    /// `POST /v1/orders/{orderId}/ship`: lines handed to a carrier.
    @Sendable func ship(_ request: Request, context: OmsContext) async throws -> Response {
        try await step(request, context) { request, context in
            let body = try await JSON.decode(ShipBody.self, from: request, context: context)
            return (.ship(lineIds: body.value.lines, carrier: body.value.carrier, tracking: body.value.tracking), try body.canonical())
        }
    }

    /// `POST /v1/orders/{orderId}/cancel`, with or without a reason.
    @Sendable func cancel(_ request: Request, context: OmsContext) async throws -> Response {
        try await step(request, context) { request, context in
            // No body and `{}` are the same request, for its Idempotency-Key too.
            guard let body = try await JSON.decodeIfPresent(CancelBody.self, from: request, context: context), body.value.reason != nil
            else { return (.cancel(reason: nil), Data()) }
            return (.cancel(reason: body.value.reason), try body.canonical())
        }
    }

    /// `POST /v1/orders/{orderId}/returns`: lines brought back, restocked or set aside.
    @Sendable func returns(_ request: Request, context: OmsContext) async throws -> Response {
        try await step(request, context) { request, context in
            let body = try await JSON.decode(ReturnBody.self, from: request, context: context)
            return (
                .returned(
                    locationId: body.value.locationId,
                    lines: body.value.lines.map { ReturnLine(sku: $0.sku, quantity: $0.quantity, restock: $0.restock) }),
                try body.canonical()
            )
        }
    }

    /// `POST /v1/orders/{orderId}/lines/{lineId}/not-found`: the store cannot find a line's stock.
    @Sendable func notFound(_ request: Request, context: OmsContext) async throws -> Response {
        try await step(request, context) { request, context in
            let lineId = try request.identifier("lineId", context: context)
            try await JSON.expectNoBody(request, context: context)
            return (.notFound(lineId: lineId), Data())
        }
    }

    /// Runs a step: the order id and the caller are checked before `command` reads the body,
    /// then the everyday steps go through the instance's step writer (many per transaction) and
    /// the others run alone in their own transaction.
    private func step(
        _ request: Request, _ context: OmsContext,
        command: (Request, OmsContext) async throws -> (command: OrderCommand, canonical: Data)
    ) async throws -> Response {
        let id = try request.identifier("orderId", context: context)
        let principal = try context.caller()
        let (asked, canonical) = try await command(request, context)
        let metadata = services.metadata(principal, context: context, request: request)
        let requestId = context.requestId
        if OrderStepWriter.takes(asked) {
            let outcome = try await services.orderSteps.submit(
                .step(asked, orderId: id), principal: principal, metadata: metadata,
                idempotency: try services.idempotencyRequest(request, principal: principal, body: { canonical }),
                render: OrderStepAnswer.renderer(requestId: requestId, promiseSeconds: services.pickupPromiseSeconds))
            return try OrderStepAnswer.respond(outcome, requestId: requestId, promiseSeconds: services.pickupPromiseSeconds)
        }
        return try await services.idempotent(request, context: context, principal: principal, body: { canonical }) { transaction in
            let record = try await services.orders.act(asked, orderId: id, principal: principal, metadata: metadata, in: transaction)
            let answer = StoredResponse(status: 200, body: try OrderView.render(record, pickupCode: nil, promiseSeconds: services.pickupPromiseSeconds))
            return (answer, answer)
        }
    }
}
