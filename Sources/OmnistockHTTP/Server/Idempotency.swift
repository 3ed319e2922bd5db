import Foundation
import Hummingbird
import OmnistockCore
import OmnistockStore

extension EdgeServices {
    /// Runs a POST's effect once per Idempotency-Key and answers with what it returned, or with
    /// the stored answer of the first request that used the key.
    ///
    /// `stored` is what a replay gets; it differs from `response` only where a secret is shown once.
    func idempotent(
        _ request: Request, context: OmsContext, principal: Principal, body canonical: () throws -> Data,
        _ effect: @escaping @Sendable (Transaction) async throws -> (response: StoredResponse, stored: StoredResponse)
    ) async throws -> Response {
        let identity = try idempotencyRequest(request, principal: principal, body: canonical)
        let outcome = try await idempotency.perform(identity, on: database) { transaction in
            try await effect(transaction)
        }
        switch outcome {
        case .executed(let response):
            return Self.answer(response)
        case .replayed(let stored):
            return Self.replayed(stored)
        }
    }

    /// A stored answer as a response: a refusal committed with its events (a counted wrong
    /// pickup code) is a problem document.
    static func answer(_ stored: StoredResponse) -> Response {
        var response = JSON.response(bytes: stored.body, status: .init(code: stored.status))
        if stored.status >= 400 { response.headers[.contentType] = "application/problem+json" }
        return response
    }

    /// The stored answer of an earlier request with the same key, marked as a replay.
    static func replayed(_ stored: StoredResponse) -> Response {
        var response = answer(stored)
        response.headers[.idempotentReplayed] = "true"
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

    /// The metadata every event of a request carries.
    func metadata(_ principal: Principal, context: OmsContext, request: Request) -> EventMetadata {
        // Routes that take an Idempotency-Key refuse a malformed one (in `idempotencyRequest`)
        // before any event is written; routes that take none (PUT, DELETE) do not look at the
        // header, and their events record no key rather than fail on it.
        EventMetadata(
            actor: principal.apiKeyId, idempotencyKey: try? request.idempotencyKey(), correlationId: context.requestId)
    }
}
