import Hummingbird
import OmnistockCore
import OmnistockStore

/// Stock sent from one location to another: dispatched at one end, received at the other.
struct TransferRoutes {
    let services: EdgeServices

    func register(on group: RouterGroup<OmsContext>) {
        group
            .post("transfers", use: self.dispatch)
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
