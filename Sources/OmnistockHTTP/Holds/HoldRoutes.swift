import HTTPTypes
import Hummingbird
import OmnistockCore
import OmnistockStore

/// Checkout holds over HTTP: place, read, extend, release. Writes go through the instance's
/// single hold writer, which decides many requests per transaction.
struct HoldRoutes {
    let services: EdgeServices

    func register(on group: RouterGroup<OmsContext>) {
        group
            .post("holds", use: self.place)
            .get("holds/{holdId}", use: self.get)
            .post("holds/{holdId}/extend", use: self.extend)
            .delete("holds/{holdId}", use: self.release)
    }

    /// `POST /v1/holds`: holds stock for a checkout, all or nothing unless partial is allowed.
    @Sendable func place(_ request: Request, context: OmsContext) async throws -> Response {
        let principal = try context.caller()
        let body = try await JSON.decode(HoldBody.self, from: request, context: context)
        let holdRequest = try body.value.request()
        _ = try context.authorize(.holdStock, locations: holdRequest.namedLocations.filter(Identifier.isValid))
        // Faults that need no stock are answered here, before the request takes a place
        // in the writer's queue.
        let faults = Holds.validate(holdRequest)
        if !faults.isEmpty { throw Rejections(faults) }
        let outcome = try await services.holdWriter.submit(
            .place(holdRequest, holdId: RecordIds.make("hld_"), scope: principal.scope),
            metadata: services.metadata(principal, context: context, request: request),
            idempotency: try services.idempotencyRequest(request, principal: principal, body: body.canonical),
            render: { record, nowMs in StoredResponse(status: 201, body: HoldJSON.render(record.hold, nowMs: nowMs)) })
        return Self.respond(outcome, status: .created)
    }

    /// `GET /v1/holds/{holdId}`.
    @Sendable func get(_ request: Request, context: OmsContext) async throws -> Response {
        let id = try request.identifier("holdId", context: context)
        let found = try await authorizedHold(id, context: context)
        return JSON.response(bytes: HoldJSON.render(found.record.hold, nowMs: found.nowMs), status: .ok)
    }

    /// `POST /v1/holds/{holdId}/extend`: expires `ttlSeconds` from now, never earlier than before.
    @Sendable func extend(_ request: Request, context: OmsContext) async throws -> Response {
        let id = try request.identifier("holdId", context: context)
        let principal = try context.caller()
        let body = try await JSON.decode(ExtendBody.self, from: request, context: context)
        let found = try await authorizedHold(id, context: context)
        let outcome = try await services.holdWriter.submit(
            .extend(holdId: id, ttlSeconds: body.value.ttlSeconds, positions: found.record.hold.keys),
            metadata: services.metadata(principal, context: context, request: request),
            idempotency: try services.idempotencyRequest(request, principal: principal, body: body.canonical),
            render: { record, nowMs in StoredResponse(status: 200, body: HoldJSON.render(record.hold, nowMs: nowMs)) })
        return Self.respond(outcome, status: .ok)
    }

    /// `DELETE /v1/holds/{holdId}`: gives the held stock back.
    @Sendable func release(_ request: Request, context: OmsContext) async throws -> Response {
        let id = try request.identifier("holdId", context: context)
        let principal = try context.caller()
        let found = try await authorizedHold(id, context: context)
        // DELETE is idempotent by itself: releasing a hold that already ended changes nothing.
        // The hold's positions are passed along: the writer need not read them again.
        let outcome = try await services.holdWriter.submit(
            .release(holdId: id, positions: found.record.hold.keys), metadata: services.metadata(principal, context: context, request: request))
        return Self.respond(outcome, status: .ok)
    }

    /// The hold, when it exists and the caller may act on every location it holds stock at.
    private func authorizedHold(_ id: String, context: OmsContext) async throws -> (record: HoldRecord, nowMs: Int64) {
        // The role first, so an unknown id tells a caller without the role nothing.
        let principal = try context.authorize(.holdStock)
        guard let found = try await services.holds.get(id: id, on: services.database) else {
            throw Problem(Rejection.unknownHold(holdId: id), inBody: false)
        }
        // The hold's own rule, as every writer applies it (its pickup store counts too).
        if let refusal = Access.authorize(principal, .holdStock, hold: found.record.hold) { throw Problem(refusal) }
        return found
    }

    /// The writer's answer: the hold as it stands after the command, or a replay's stored answer.
    static func respond(_ outcome: HoldOutcome, status: HTTPResponse.Status) -> Response {
        switch outcome {
        case .done(let record?, let nowMs, _):
            return JSON.response(bytes: HoldJSON.render(record.hold, nowMs: nowMs), status: status)
        case .done(nil, _, _):
            preconditionFailure("hold routes submit commands that answer with a hold")
        case .replayed(let stored):
            var response = JSON.response(bytes: stored.body, status: .init(code: stored.status))
            response.headers[.idempotentReplayed] = "true"
            return response
        }
    }
}
