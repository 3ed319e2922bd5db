import Hummingbird
import OmnistockCore
import OmnistockStore

/// Orders over HTTP: placing one, a store's queue, and reading one. Every write is one
/// transaction (with its Idempotency-Key claimed in it); the order store locks and decides.
/// The steps an order takes afterwards are `OrderStepRoutes`.
struct OrderRoutes {
    let services: EdgeServices

    func register(on group: RouterGroup<OmsContext>) {
        group
            .post("orders", use: self.create)
            .get("orders", use: self.queue)
            .get("orders/{orderId}", use: self.get)
            .get("returnable-orders/{orderNumber}", use: self.returnable)
    }

    /// `POST /v1/orders`: an order from lines, or from a paid hold.
    @Sendable func create(_ request: Request, context: OmsContext) async throws -> Response {
        let principal = try context.authorize(.createOrders)
        let body = try await JSON.decode(OrderBody.self, from: request, context: context)
        let orderRequest = try body.value.request()
        let metadata = services.metadata(principal, context: context, request: request)
        if orderRequest.holdId != nil {
            return try await convert(orderRequest, body: body, principal: principal, metadata: metadata, request: request, context: context)
        }
        return try await services.idempotent(request, context: context, principal: principal, body: body.canonical) { transaction in
            let creation = try await services.orders.create(orderRequest, principal: principal, metadata: metadata, in: transaction)
            let status = creation.created ? 201 : 200
            let stored = StoredResponse(status: status, body: try OrderView.render(creation.record, pickupCode: nil, promiseSeconds: services.pickupPromiseSeconds))
            let live = try OrderView.render(
                creation.record, pickupCode: creation.pickupCode, trackingToken: creation.trackingToken, promiseSeconds: services.pickupPromiseSeconds)
            return (StoredResponse(status: status, body: live), stored)
        }
    }

    /// Payment turned a hold into an order: the step writer converts many per transaction.
    private func convert(
        _ orderRequest: OrderRequest, body: JSON.Decoded<OrderBody>, principal: Principal, metadata: EventMetadata,
        request: Request, context: OmsContext
    ) async throws -> Response {
        let faults = Orders.validate(orderRequest)
        if !faults.isEmpty { throw Rejections(faults) }
        let requestId = context.requestId
        let outcome = try await services.orderSteps.submit(
            .convert(orderRequest), principal: principal, metadata: metadata,
            idempotency: try services.idempotencyRequest(request, principal: principal, body: body.canonical),
            render: OrderStepAnswer.renderer(requestId: requestId, promiseSeconds: services.pickupPromiseSeconds))
        return try OrderStepAnswer.respond(outcome, requestId: requestId, promiseSeconds: services.pickupPromiseSeconds)
    }

    /// `GET /v1/orders?locationId=…[&status=…][&after=…]`: a store's queue, oldest first.
    @Sendable func queue(_ request: Request, context: OmsContext) async throws -> Response {
        guard let locationId = request.uri.queryParameters.get("locationId").map({ String($0) }) else {
            throw Problem(.missingField(field: "locationId"), inBody: false)
        }
        if let fault = Identifier.check(locationId, field: "locationId") { throw Problem(fault, inBody: false) }
        _ = try context.authorize(.workOrders, locations: [locationId])
        let statuses: [OrderStatus] = try request.cases("status")
        let limit = try request.pageSize()
        var after: (createdAtMs: Int64, id: String)?
        if let cursor = request.uri.queryParameters.get("after") {
            guard let parsed = QueueCursor.parse(String(cursor)) else { throw Problem(.invalidCursor(field: "after"), inBody: false) }
            after = parsed
        }
        // Read first: the page then reflects at least every event up to it.
        let position = try await services.events.head(on: services.database)
        let records = try await services.orders.queue(
            locationId: locationId, statuses: statuses.isEmpty ? OrderStatus.open : statuses, after: after, limit: limit + 1)
        let page = Array(records.prefix(limit))
        let next = records.count > limit ? page.last.map { QueueCursor.make($0.order.createdAtMs, $0.order.id) } : nil
        return try JSON.response(OrderPageView(orders: page.map { OrderView($0, pickupCode: nil, promiseSeconds: services.pickupPromiseSeconds) }, next: next, position: position))
    }

    /// `GET /v1/orders/{orderId}`.
    @Sendable func get(_ request: Request, context: OmsContext) async throws -> Response {
        let id = try request.identifier("orderId", context: context)
        let principal = try context.authorize(.readOrders)
        guard let record = try await services.orders.order(id: id) else {
            throw Problem(Rejection.unknownOrder(orderId: id), inBody: false)
        }
        try services.orders.authorizeRead(principal, record.order)
        return JSON.response(bytes: try OrderView.render(record, pickupCode: nil, promiseSeconds: services.pickupPromiseSeconds), status: .ok)
    }
}

extension OrderRoutes {
    /// `GET /v1/returnable-orders/{orderNumber}`: what of an order can be taken back, found by
    /// the number on the customer's receipt. A return is taken at any store, so any caller who
    /// may take returns finds it; the answer holds what a return needs and nothing of the
    /// customer (no reference, no locations, no codes).
    @Sendable func returnable(_ request: Request, context: OmsContext) async throws -> Response {
        let number = try request.identifier("orderNumber", context: context)
        _ = try context.authorize(.returnOrders)
        guard let record = try await services.orders.order(number: number) else {
            throw Problem(Rejection.unknownOrder(orderId: number), inBody: false)
        }
        return try JSON.response(ReturnableOrderView(record.order))
    }
}

/// The cursor of a store queue: the last order's creation time and id.
enum QueueCursor {
    static func make(_ createdAtMs: Int64, _ id: String) -> String { "\(createdAtMs).\(id)" }

    static func parse(_ text: String) -> (createdAtMs: Int64, id: String)? {
        guard let dot = text.firstIndex(of: "."), let ms = Int64(text[..<dot]) else { return nil }
        let id = String(text[text.index(after: dot)...])
        guard Identifier.isValid(id) else { return nil }
        return (ms, id)
    }
}
