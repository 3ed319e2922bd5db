import Hummingbird
import OmnistockCore
import OmnistockStore

/// The answers of the instance's step writer, for hold conversions and the everyday store steps.
enum OrderStepAnswer {
    /// What the step writer stores for a request, as the renderer it calls inside its batch: an
    /// answer that cannot be encoded fails its batch (rolled back), never stores an empty body.
    static func renderer(requestId: String, promiseSeconds: Int64) -> OrderStepRenderer {
        { outcome in try stored(outcome, requestId: requestId, promiseSeconds: promiseSeconds) }
    }

    /// The answer stored for a step writer's request: the order (a conversion's without its
    /// pickup code), or the refusal committed with the step's events.
    static func stored(_ outcome: OrderStepOutcome, requestId: String, promiseSeconds: Int64) throws -> StoredResponse {
        switch outcome {
        case .done(_, let refusal?):
            let problem = Problem(refusal)
            return StoredResponse(status: Int(problem.status.code), body: try problem.body(requestId: requestId))
        case .done(let record, nil):
            return StoredResponse(status: 200, body: try OrderView.render(record, pickupCode: nil, promiseSeconds: promiseSeconds))
        case .created(let creation):
            return StoredResponse(status: creation.created ? 201 : 200, body: try OrderView.render(creation.record, pickupCode: nil, promiseSeconds: promiseSeconds))
        case .replayed(let stored):
            return stored
        }
    }

    /// The live answer: as stored, but a new order shows its pickup code and tracking link,
    /// this once.
    static func respond(_ outcome: OrderStepOutcome, requestId: String, promiseSeconds: Int64) throws -> Response {
        switch outcome {
        case .created(let creation) where creation.created:
            let body = try OrderView.render(
                creation.record, pickupCode: creation.pickupCode, trackingToken: creation.trackingToken, promiseSeconds: promiseSeconds)
            return JSON.response(bytes: body, status: .created)
        case .replayed(let stored):
            return EdgeServices.replayed(stored)
        case .done, .created:
            return EdgeServices.answer(try stored(outcome, requestId: requestId, promiseSeconds: promiseSeconds))
        }
    }
}
