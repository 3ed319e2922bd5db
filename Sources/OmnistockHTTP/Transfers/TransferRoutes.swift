import Hummingbird
import OmnistockCore
import OmnistockStore

/// Stock sent from one location to another: dispatched at one end, received at the other.
struct TransferRoutes {
    let services: EdgeServices

    func register(on group: RouterGroup<OmsContext>) {
        group
            .post("transfers", use: self.dispatch)
            .get("transfers", use: self.list)
            .get("transfers/{transferId}", use: self.get)
            .post("transfers/{transferId}/receive", use: self.receive)
    }

    /// `POST /v1/transfers`: stock leaves its location and is in transit.
    @Sendable func dispatch(_ request: Request, context: OmsContext) async throws -> Response {
        let principal = try context.authorize(.transferStock)
        let body = try await JSON.decode(TransferBody.self, from: request, context: context)
        let transferRequest = TransferRequest(
            fromLocationId: body.value.fromLocationId, toLocationId: body.value.toLocationId,
            lines: body.value.lines.map { TransferLine(sku: $0.sku, quantity: $0.quantity) }, reference: body.value.reference)
        let metadata = services.metadata(principal, context: context, request: request)
        return try await services.idempotent(request, context: context, principal: principal, body: body.canonical) { transaction in
            let record = try await services.orders.dispatch(transferRequest, principal: principal, metadata: metadata, in: transaction)
            let answer = StoredResponse(status: 201, body: Array(try JSON.encoder.encode(TransferView(record))))
            return (answer, answer)
        }
    }

    /// `GET /v1/transfers?toLocationId=…[&status=…][&after=…][&limit=…]`: the transfers to a
    /// location (by default those on their way), in id order, for a caller at that location.
    @Sendable func list(_ request: Request, context: OmsContext) async throws -> Response {
        guard let locationId = request.uri.queryParameters.get("toLocationId").map({ String($0) }) else {
            throw Problem(.missingField(field: "toLocationId"), inBody: false)
        }
        if let fault = Identifier.check(locationId, field: "toLocationId") { throw Problem(fault, inBody: false) }
        _ = try context.authorize(.transferStock, locations: [locationId])
        let statuses: [TransferStatus] = try request.cases("status")
        let limit = try request.pageSize()
        let after = request.uri.queryParameters.get("after").map { String($0) }
        if let after, Identifier.check(after, field: "after") != nil { throw Problem(.invalidCursor(field: "after"), inBody: false) }
        let records = try await services.orders.transfers(
            toLocationId: locationId, statuses: statuses.isEmpty ? [.inTransit] : statuses, after: after, limit: limit + 1)
        let page = Array(records.prefix(limit))
        let next = records.count > limit ? page.last?.transfer.id : nil
        return try JSON.response(TransferPageView(transfers: page.map(TransferView.init), next: next))
    }

    /// `GET /v1/transfers/{transferId}`, for a caller at either end.
    @Sendable func get(_ request: Request, context: OmsContext) async throws -> Response {
        let id = try request.identifier("transferId", context: context)
        let principal = try context.authorize(.transferStock)
        guard let record = try await services.orders.transfer(id: id) else {
            throw Problem(Rejection.unknownTransfer(transferId: id), inBody: false)
        }
        let ends = [record.transfer.toLocationId, record.transfer.fromLocationId]
        if let refusal = Access.authorize(principal, .transferStock, anyOf: ends) { throw Problem(refusal, inBody: false) }
        return try JSON.response(TransferView(record))
    }

    /// `POST /v1/transfers/{transferId}/receive`: the stock arrives at the receiving location.
    @Sendable func receive(_ request: Request, context: OmsContext) async throws -> Response {
        let id = try request.identifier("transferId", context: context)
        let principal = try context.authorize(.transferStock)
        let body = try await JSON.decode(ReceiveBody.self, from: request, context: context)
        let metadata = services.metadata(principal, context: context, request: request)
        return try await services.idempotent(request, context: context, principal: principal, body: body.canonical) { transaction in
            let record = try await services.orders.receive(
                transferId: id, lines: body.value.lines.map { ($0.sku, $0.quantity) }, principal: principal, metadata: metadata,
                in: transaction)
            let answer = StoredResponse(status: 200, body: Array(try JSON.encoder.encode(TransferView(record))))
            return (answer, answer)
        }
    }
}
