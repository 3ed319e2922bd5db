import Foundation
import Hummingbird
import OmnistockCore
import OmnistockStore

/// Webhook subscriptions: admins manage every one, integrations their own.
struct WebhookRoutes {
    let services: EdgeServices

    func register(on group: RouterGroup<OmsContext>) {
        group
            .post("webhooks", use: self.create)
            .get("webhooks", use: self.list)
            .get("webhooks/{webhookId}", use: self.get)
            .delete("webhooks/{webhookId}", use: self.delete)
            .post("webhooks/{webhookId}/rotate-secret", use: self.rotateSecret)
            .post("webhooks/{webhookId}/redeliver", use: self.redeliver)
            .post("webhooks/{webhookId}/resume", use: self.resume)
            .get("webhooks/{webhookId}/deliveries", use: self.deliveries)
    }

    /// `POST /v1/webhooks`: a new subscription, from the ledger's head on; its secret is shown once.
    @Sendable func create(_ request: Request, context: OmsContext) async throws -> Response {
        let principal = try context.authorize(.manageWebhooks)
        let body = try await JSON.decode(WebhookBody.self, from: request, context: context)
        let spec = try await validate(body.value, principal: principal)
        defer { services.webhooks.changed() }
        return try await services.idempotent(request, context: context, principal: principal, body: body.canonical) { transaction in
            switch try await services.webhooks.create(spec, createdBy: principal.apiKeyId, in: transaction) {
            case .failure(let rejection):
                throw Problem(rejection)
            case .success(let (record, secret)):
                // The secret is shown once: a replay of this request gets the subscription without it.
                return (
                    StoredResponse(status: 201, body: try view(record, head: record.cursor, secret: secret)),
                    StoredResponse(status: 201, body: try view(record, head: record.cursor))
                )
            }
        }
    }

    /// The spec of a new subscription: its fields by the core's rules, its URL by its parts and
    /// by where its host resolves (every fault of the fields at once; the URL's after).
    func validate(_ body: WebhookBody, principal: Principal) async throws -> WebhookSpec {
        var faults: [Rejection] = []
        // RFC 3986 URIs are printable ASCII; anything else is refused before a parser guesses.
        let printable = body.url.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7f }
        let components = printable ? URLComponents(string: body.url) : nil
        if components == nil {
            faults.append(.notAllowed(field: "url", reason: "it is not a URL"))
        } else if let fault = WebhookTarget.check(
            scheme: components?.scheme, host: components?.host, hasUserInfo: components?.user != nil || components?.password != nil,
            length: body.url.utf8.count)
        {
            faults.append(fault)
        }
        let spec: WebhookSpec?
        switch WebhookSpec.validate(
            url: body.url, eventTypes: body.eventTypes, locationIds: body.locationIds, description: body.description, by: principal)
        {
        case .success(let valid): spec = valid
        case .failure(let rejections):
            faults += rejections.all
            spec = nil
        }
        guard faults.isEmpty, let spec, let host = components?.host else { throw Problem(Rejections(faults)) }
        if case .refused(let rejection) = await services.webhookTargets.check(host: host) { throw Problem(rejection) }
        return spec
    }

    /// `GET /v1/webhooks`: every subscription the caller may see.
    @Sendable func list(_ request: Request, context: OmsContext) async throws -> Response {
        let principal = try context.authorize(.manageWebhooks)
        let records = try await services.webhooks.list(owner: WebhookOwner(principal), on: services.database)
        let head = try await services.events.head(on: services.database)
        return try JSON.response(PageView(items: records.map { WebhookView($0, head: head) }, nextCursor: nil))
    }

    /// `GET /v1/webhooks/{webhookId}`: one subscription, its cursor, lag and last attempt.
    @Sendable func get(_ request: Request, context: OmsContext) async throws -> Response {
        let (id, owner, _) = try target(request, context)
        guard let record = try await services.webhooks.get(id: id, owner: owner, on: services.database) else {
            throw Problem(Rejection.unknownWebhook(webhookId: id))
        }
        return try JSON.response(WebhookView(record, head: try await services.events.head(on: services.database)))
    }

    /// `DELETE /v1/webhooks/{webhookId}`: the subscription and its log go; the answer shows it as it was.
    @Sendable func delete(_ request: Request, context: OmsContext) async throws -> Response {
        let (id, owner, _) = try target(request, context)
        guard let record = try await services.webhooks.delete(id: id, owner: owner, on: services.database) else {
            throw Problem(Rejection.unknownWebhook(webhookId: id))
        }
        services.webhooks.changed()
        return try JSON.response(WebhookView(record, head: try await services.events.head(on: services.database), deleted: true))
    }

    /// `POST /v1/webhooks/{webhookId}/rotate-secret`: a new secret, shown once; the old one signs
    /// beside it for a day, so receivers can change theirs without losing a delivery.
    @Sendable func rotateSecret(_ request: Request, context: OmsContext) async throws -> Response {
        let (id, owner, principal) = try target(request, context)
        defer { services.webhooks.changed() }
        return try await services.idempotent(request, context: context, principal: principal, body: { Data() }) { transaction in
            guard let (record, secret) = try await services.webhooks.rotateSecret(id: id, owner: owner, in: transaction) else {
                throw Problem(Rejection.unknownWebhook(webhookId: id))
            }
            let head = try await headPosition(transaction)
            return (
                StoredResponse(status: 200, body: try view(record, head: head, secret: secret)),
                StoredResponse(status: 200, body: try view(record, head: head))
            )
        }
    }

    /// `POST /v1/webhooks/{webhookId}/redeliver`: delivery starts again at `fromPosition`.
    @Sendable func redeliver(_ request: Request, context: OmsContext) async throws -> Response {
        let (id, owner, principal) = try target(request, context)
        let body = try await JSON.decode(RedeliverBody.self, from: request, context: context)
        guard body.value.fromPosition >= 1 else {
            throw Problem(.outOfRange(field: "fromPosition", lower: "1", upper: "the ledger's head plus one"))
        }
        defer { services.webhooks.changed() }
        return try await services.idempotent(request, context: context, principal: principal, body: body.canonical) { transaction in
            switch try await services.webhooks.redeliver(id: id, owner: owner, fromPosition: body.value.fromPosition, in: transaction) {
            case .failure(let rejection):
                throw Problem(rejection)
            case .success(let record):
                let answer = StoredResponse(status: 200, body: try view(record, head: try await headPosition(transaction)))
                return (answer, answer)
            }
        }
    }

    /// `POST /v1/webhooks/{webhookId}/resume`: active again, from its kept cursor.
    @Sendable func resume(_ request: Request, context: OmsContext) async throws -> Response {
        let (id, owner, principal) = try target(request, context)
        defer { services.webhooks.changed() }
        return try await services.idempotent(request, context: context, principal: principal, body: { Data() }) { transaction in
            guard let record = try await services.webhooks.resume(id: id, owner: owner, in: transaction) else {
                throw Problem(Rejection.unknownWebhook(webhookId: id))
            }
            let answer = StoredResponse(status: 200, body: try view(record, head: try await headPosition(transaction)))
            return (answer, answer)
        }
    }

    /// `GET /v1/webhooks/{webhookId}/deliveries`: the newest attempts first.
    @Sendable func deliveries(_ request: Request, context: OmsContext) async throws -> Response {
        let (id, owner, _) = try target(request, context)
        let limit = try request.integer(
            "limit", in: 1...Int64(Limits.webhookDeliveriesPageMax), default: Int64(Limits.webhookDeliveriesPageDefault))
        guard let records = try await services.webhooks.deliveries(id: id, owner: owner, limit: Int(limit), on: services.database) else {
            throw Problem(Rejection.unknownWebhook(webhookId: id))
        }
        return try JSON.response(PageView(items: records.map(DeliveryView.init), nextCursor: nil))
    }

    // MARK: - Steps

    /// The subscription a request names, whose subscriptions the caller may act on, and the caller.
    func target(_ request: Request, _ context: OmsContext) throws -> (String, WebhookOwner, Principal) {
        let id = try request.identifier("webhookId", context: context)
        let principal = try context.authorize(.manageWebhooks)
        return (id, WebhookOwner(principal), principal)
    }

    func view(_ record: WebhookRecord, head: Int64, secret: String? = nil) throws -> [UInt8] {
        Array(try JSON.encoder.encode(WebhookView(record, head: head, secret: secret)))
    }

    func headPosition(_ transaction: Transaction) async throws -> Int64 {
        try await services.events.head(in: transaction)
    }
}
