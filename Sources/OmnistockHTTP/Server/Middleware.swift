import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Logging
import OmnistockCore
import OmnistockStore

/// The outermost middleware: request ids, access logs, metrics, and the mapping of every error
/// to problem+json. Nothing leaves the service as a bare 500 or an HTML page.
struct EdgeMiddleware: RouterMiddleware {
    typealias Context = OmsContext
    let metrics: EdgeMetrics
    let routes: RouteTableBox

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        var context = context
        context.requestId = Self.requestId(from: request)
        context.logger[metadataKey: "requestId"] = .string(context.requestId)
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            // Only a problem document that cannot be encoded gets past this; that is a bug of
            // ours, and Hummingbird answers it with a bare 500.
            response = try respond(to: error, request: request, context: context)
        }
        response.headers[.requestId] = context.requestId
        let route = context.endpointPath ?? "unmatched"
        let elapsed = ContinuousClock.now - started
        metrics.record(method: request.method.rawValue, route: route, status: Int(response.status.code), duration: elapsed)
        // A 503 is the database away or busy (said once by the store, not per request) or a
        // full writer queue: a warning; any other 5xx is a bug of ours.
        let level: Logger.Level =
            response.status == .serviceUnavailable ? .warning : response.status.code >= 500 ? .error : .debug
        context.logger.log(
            level: level, "request",
            metadata: [
                "method": .string(request.method.rawValue), "path": .string(request.uri.path), "route": .string(route),
                "status": .stringConvertible(response.status.code),
                "ms": .string(String(format: "%.2f", Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000)),
            ])
        return response
    }

    /// The problem+json answer to an error a route threw.
    func respond(to error: any Error, request: Request, context: Context) throws -> Response {
        switch error {
        case let problem as Problem:
            return try problem.response(requestId: context.requestId)
        case let rejections as Rejections:
            return try Problem(rejections).response(requestId: context.requestId)
        case let rejection as Rejection:
            return try Problem(rejection).response(requestId: context.requestId)
        case HoldWriterError.overloaded(let queueDepthMax):
            return try Problem.overloaded(queueDepthMax: queueDepthMax).response(requestId: context.requestId)
        case is NIOTooManyBytesError:
            return try Problem.contentTooLarge().response(requestId: context.requestId)
        case let error as HTTPError where error.status == .notFound:
            let allowed = routes.methods(forPath: request.uri.path)
            if !allowed.isEmpty, !allowed.contains(request.method.rawValue) {
                return try Problem.methodNotAllowed(allowed: allowed).response(requestId: context.requestId)
            }
            return try Problem.notFound("No route matches \(request.method.rawValue) \(request.uri.path).")
                .response(requestId: context.requestId)
        case let error as HTTPError:
            let problem = Problem(
                status: error.status, kind: "http-\(error.status.code)", title: error.status.reasonPhrase,
                detail: error.body ?? error.status.reasonPhrase)
            return try problem.response(requestId: context.requestId)
        default:
            if isDatabaseUnavailable(error) {
                context.logger.debug("database unavailable", metadata: ["error": "\(String(reflecting: error))"])
                return try Problem.databaseUnavailable(error).response(requestId: context.requestId)
            }
            if isTransientDatabaseError(error) {
                context.logger.debug("database contended", metadata: ["error": "\(String(reflecting: error))"])
                return try Problem.unavailable("The database is busy; retry shortly.").response(requestId: context.requestId)
            }
            context.logger.error("unhandled error", metadata: ["error": "\(String(reflecting: error))"])
            return try Problem.internalError(requestId: context.requestId).response(requestId: context.requestId)
        }
    }

    /// The caller's X-Request-Id when it is a sane token, else a new one.
    static func requestId(from request: Request) -> String {
        if let given = request.headers[.requestId], Identifier.isValid(given) { return given }
        return RequestID().description
    }
}

/// Authenticates `/v1` calls with their bearer API key.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = OmsContext
    let apiKeys: ApiKeyStore
    let database: Database

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization] else {
            throw Problem.unauthorized("Send an API key as 'Authorization: Bearer <key>'.")
        }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw Problem.unauthorized("The Authorization header must be 'Bearer <key>'.")
        }
        guard let principal = try await apiKeys.authenticate(token: String(parts[1]), on: database) else {
            throw Problem.unauthorized("The API key is unknown or revoked.")
        }
        var context = context
        context.principal = principal
        context.logger[metadataKey: "apiKeyId"] = .string(principal.apiKeyId)
        return try await next(request, context)
    }
}
