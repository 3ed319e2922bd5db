import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import OmnistockCore
import OmnistockStore

/// Builds the router: operations endpoints at the root, the API under `/v1` behind API keys.
public func buildRouter(_ services: EdgeServices) -> Router<OmsContext> {
    let router = Router(context: OmsContext.self)
    // The route table is filled after the routes are added; the middleware reads it lazily.
    let table = RouteTableBox()
    router.add(middleware: EdgeMiddleware(metrics: services.metrics, routes: table))

    OperationsRoutes(services: services).register(on: router)
    let v1 = router.group("v1").add(middleware: AuthMiddleware(apiKeys: services.apiKeys, database: services.database))
    LocationRoutes(services: services).register(on: v1)
    StockRoutes(services: services).register(on: v1)
    HoldRoutes(services: services).register(on: v1)
    OrderRoutes(services: services).register(on: v1)
    EventRoutes(services: services).register(on: v1)
    ApiKeyRoutes(services: services).register(on: v1)

    table.set(routeTable(of: router))
    return router
}

/// The router's routes as method and `{name}` template pairs.
public func routeTable(of router: Router<OmsContext>) -> RouteTable {
    RouteTable(
        routes: router.routes.map { route in
            RouteTable.Route(method: route.method.rawValue, path: route.path.description)
        })
}

/// The route table, set once after the router is built.
final class RouteTableBox: Sendable {
    private let storage = LockedValue(RouteTable(routes: []))
    func set(_ table: RouteTable) { storage.withLock { $0 = table } }
    func methods(forPath path: String) -> [String] { storage.withLock { $0 }.methods(forPath: path) }
}

// MARK: - Request helpers

extension Request {
    /// A path parameter that must be a valid identifier (400 otherwise).
    func identifier(_ name: String, context: OmsContext) throws -> String {
        let value = context.parameters.get(name) ?? ""
        if let fault = Identifier.check(value, field: name) { throw Problem(fault, inBody: false) }
        return value
    }

    /// An optional integer query parameter within bounds (400 otherwise).
    func integer(_ name: String, in range: ClosedRange<Int64>, default value: Int64) throws -> Int64 {
        let all = uri.queryParameters.getAll(name)
        guard let text = all.last else { return value }
        guard all.count == 1, let parsed = Int64(text), range.contains(parsed) else {
            throw Problem(.outOfRange(field: name, lower: "\(range.lowerBound)", upper: "\(range.upperBound)"), inBody: false)
        }
        return parsed
    }

    /// The page size of a listing.
    func pageSize() throws -> Int {
        Int(try integer("limit", in: 1...Int64(Limits.pageSizeMax), default: Int64(Limits.pageSizeDefault)))
    }

    /// The Idempotency-Key header, validated, or nil when absent.
    func idempotencyKey() throws -> String? {
        guard let key = headers[.idempotencyKey] else { return nil }
        let printable = key.unicodeScalars.allSatisfy { $0.value >= 0x21 && $0.value <= 0x7E }
        guard !key.isEmpty, key.utf8.count <= Limits.idempotencyKeyLengthMax, printable else {
            throw Problem.badRequest(
                "The Idempotency-Key header must be 1 to \(Limits.idempotencyKeyLengthMax) printable ASCII characters.",
                field: "Idempotency-Key", code: "invalid-idempotency-key")
        }
        return key
    }
}

extension EdgeServices {
    /// Runs a POST's effect once per Idempotency-Key and answers with what it returned, or with
    /// the stored answer of the first request that used the key.
    ///
    /// `stored` is what a replay gets; it differs from `response` only where a secret is shown once.
    func idempotent(
        _ request: Request, context: OmsContext, principal: Principal, body canonical: () throws -> Data,
        _ effect: (Transaction) async throws -> (response: StoredResponse, stored: StoredResponse)
    ) async throws -> Response {
        let identity = try idempotencyRequest(request, principal: principal, body: canonical)
        let outcome = try await idempotency.perform(identity, on: database) { transaction in
            try await effect(transaction)
        }
        switch outcome {
        case .executed(let response):
            return Self.answer(response)
        case .replayed(let stored):
            var response = Self.answer(stored)
            response.headers[.idempotentReplayed] = "true"
            return response
        }
    }

    /// A stored answer as a response: a refusal committed with its events (a counted wrong
    /// pickup code) is a problem document.
    static func answer(_ stored: StoredResponse) -> Response {
        var response = JSON.response(bytes: stored.body, status: .init(code: stored.status))
        if stored.status >= 400 { response.headers[.contentType] = "application/problem+json" }
        return response
    }

    /// The identity of an idempotent request, or nil when it carries no Idempotency-Key.
    func idempotencyRequest(_ request: Request, principal: Principal, body canonical: () throws -> Data) throws -> IdempotencyRequest? {
        try request.idempotencyKey().map { key in
            IdempotencyRequest(
                apiKeyId: principal.apiKeyId, key: key,
                requestHash: JSON.sha256([Data(request.method.rawValue.utf8), Data(request.uri.path.utf8), try canonical()]))
        }
    }

    func metadata(_ principal: Principal, context: OmsContext, request: Request) -> EventMetadata {
        EventMetadata(
            actor: principal.apiKeyId, idempotencyKey: try? request.idempotencyKey(), correlationId: context.requestId)
    }
}
