import Hummingbird
import OmnistockCore
import OmnistockStore

/// API keys, for admins; and, for every key, what it is (`GET /v1/me`).
struct ApiKeyRoutes {
    let services: EdgeServices

    func register(on group: RouterGroup<OmsContext>) {
        group
            .post("api-keys", use: self.create)
            .get("api-keys", use: self.list)
            .delete("api-keys/{apiKeyId}", use: self.revoke)
            .get("me", use: self.me)
    }

    /// `POST /v1/api-keys`: a new key, whose secret this answer shows once.
    @Sendable func create(_ request: Request, context: OmsContext) async throws -> Response {
        let principal = try context.authorize(.manageApiKeys)
        let body = try await JSON.decode(ApiKeyBody.self, from: request, context: context)
        let spec: ApiKeySpec
        switch ApiKeySpec.validate(name: body.value.name, role: body.value.role, locations: body.value.locations) {
        case .success(let valid): spec = valid
        case .failure(let rejections): throw Problem(rejections)
        }
        return try await services.idempotent(request, context: context, principal: principal, body: body.canonical) { transaction in
            let (record, token) = try await services.apiKeys.create(spec, createdBy: principal.apiKeyId, in: transaction)
            // The secret is shown once: a replay of this request gets the key without it.
            return (
                StoredResponse(status: 201, body: Array(try JSON.encoder.encode(ApiKeyView(record, key: token)))),
                StoredResponse(status: 201, body: Array(try JSON.encoder.encode(ApiKeyView(record))))
            )
        }
    }

    /// `GET /v1/api-keys`: every key, without secrets.
    @Sendable func list(_ request: Request, context: OmsContext) async throws -> Response {
        _ = try context.authorize(.manageApiKeys)
        let records = try await services.apiKeys.list(on: services.database)
        return try JSON.response(PageView(items: records.map { ApiKeyView($0) }, nextCursor: nil))
    }

    /// `GET /v1/me`: the calling key's id, role and locations, so that a client (the store app)
    /// knows which stores it works for without an admin's listing.
    @Sendable func me(_ request: Request, context: OmsContext) async throws -> Response {
        let principal = try context.caller()
        return try JSON.response(CallerView(principal))
    }

    /// `DELETE /v1/api-keys/{apiKeyId}`: revokes a key.
    @Sendable func revoke(_ request: Request, context: OmsContext) async throws -> Response {
        let id = try request.identifier("apiKeyId", context: context)
        _ = try context.authorize(.manageApiKeys)
        guard let record = try await services.apiKeys.revoke(id: id, on: services.database) else {
            throw Problem(Rejection.unknownApiKey(apiKeyId: id))
        }
        return try JSON.response(ApiKeyView(record))
    }
}
