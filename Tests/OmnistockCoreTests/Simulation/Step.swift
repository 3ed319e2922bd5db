import OmnistockCore

/// One random step of the simulation: what a caller (checkout, store staff, an integration, a
/// sweeper) asks of the core, or the clock moving on. Its default description is what a failure
/// prints, so a step can be read back from the output.
enum Step {
    case move([MovementLine])
    case count(Count)
    case safetyStock(StockKey, quantity: Int64?)
    case placeHold(HoldRequest)
    case extendHold(holdId: String, ttlSeconds: Int64)
    case releaseHold(holdId: String)
    /// The hold sweeper: every hold whose expiry has passed is recorded as expired.
    case sweepHolds
    case convertHold(holdId: String, orderNumber: String, fulfilment: Fulfilment?)
    case createOrder(OrderRequest)
    case orderStep(orderId: String, OrderAction)
    /// The no-show sweeper: every ready pickup whose window has ended expires.
    case sweepNoShows
    case dispatch(TransferRequest)
    case receive(transferId: String, lines: [ReceivedLine])
    case advance(milliseconds: Int64)

    /// The kind of step, for the run's tally.
    var kind: String {
        switch self {
        case .move: "move"
        case .count: "count"
        case .safetyStock: "safetyStock"
        case .placeHold: "placeHold"
        case .extendHold: "extendHold"
        case .releaseHold: "releaseHold"
        case .sweepHolds: "sweepHolds"
        case .convertHold: "convertHold"
        case .createOrder: "createOrder"
        case .orderStep(_, let action):
            switch action {
            case .picking: "picking"
            case .ready: "ready"
            case .collect(let matches): matches ? "collect" : "collectWrongCode"
            case .unlock: "unlock"
            case .ship: "ship"
            case .cancel: "cancel"
            case .notFound: "notFound"
            case .returned: "return"
            case .expire: "expire"
            }
        case .sweepNoShows: "sweepNoShows"
        case .dispatch: "dispatch"
        case .receive: "receive"
        case .advance: "advance"
        }
    }

    /// Steps that record a physical fact (goods counted, sold, lost) or a policy (safety stock):
    /// they may leave a position promising more than it can; no other step may.
    var isPhysical: Bool {
        switch self {
        case .move, .count, .safetyStock: true
        case .placeHold, .extendHold, .releaseHold, .sweepHolds, .convertHold, .createOrder, .orderStep, .sweepNoShows, .dispatch, .receive,
            .advance:
            false
        }
    }
}

/// A line of a transfer receipt (the core takes tuples; a struct prints and compares).
struct ReceivedLine: Equatable {
    var sku: String
    var quantity: Int64
}

/// What the core answered.
enum Outcome {
    case accepted([LedgerEvent])
    case refused(Rejections)
    /// Events recorded and the request refused after them (a wrong pickup code is counted).
    case recordedAndRefused([LedgerEvent], Rejections)

    var events: [LedgerEvent] {
        switch self {
        case .accepted(let events), .recordedAndRefused(let events, _): events
        case .refused: []
        }
    }

    var codes: Set<String> {
        switch self {
        case .accepted: []
        case .refused(let rejections), .recordedAndRefused(_, let rejections): Set(rejections.all.map(\.code))
        }
    }
}
