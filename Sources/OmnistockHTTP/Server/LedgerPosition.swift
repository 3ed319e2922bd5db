import Hummingbird
import OmnistockStore

/// Says in every successful write's answer the ledger position it reached
/// (`Omnistock-Position`), so the caller can read its own write anywhere with
/// `GET /v1/availability?minPosition=…`, on this instance or another.
///
/// The position comes from the request's `LedgerReach`, raised by the transaction (or the
/// batch) that appended its events. A write that appended nothing (a replay of a stored answer,
/// a step that changed nothing) is answered with the ledger head, which it is part of.
struct LedgerPositionMiddleware: RouterMiddleware {
    typealias Context = OmsContext
    let services: EdgeServices

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        switch request.method {
        case .post, .put, .delete, .patch:
            break
        default:
            return try await next(request, context)
        }
        let reach = LedgerReach()
        var response = try await LedgerReach.$current.withValue(reach) { try await next(request, context) }
        guard (200..<300).contains(response.status.code), response.headers[.ledgerPosition] == nil else { return response }
        if let position = reach.position {
            response.headers[.ledgerPosition] = "\(position)"
        } else if let head = try? await services.events.head(on: services.database) {
            response.headers[.ledgerPosition] = "\(head)"
        }
        return response
    }
}
