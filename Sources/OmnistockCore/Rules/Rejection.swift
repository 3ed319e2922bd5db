/// Every reason the service refuses a request, as one closed set with stable codes.
///
/// A rejection is a value, not an exception: the domain returns it, the store passes it along,
/// and exactly one place (the HTTP edge's problem mapping) turns it into a status code.
/// The `code` strings are part of the public API: clients branch on them, so they never change.
public enum Rejection: Error, Equatable, Hashable, Sendable {
    /// A required field is absent.
    case missingField(field: String)
    /// An identifier is empty, too long, or uses characters outside `[A-Za-z0-9._:-]`.
    case invalidIdentifier(field: String)
    /// A text field is empty or longer than its limit.
    case invalidText(field: String, lengthMax: Int)
    /// A number lies outside its bounds (bounds rendered for the message).
    case outOfRange(field: String, lower: String, upper: String)
    /// A list has more entries than its limit.
    case tooMany(field: String, countMax: Int)
    /// A list names the same value twice.
    case duplicate(field: String, value: String)
    /// A field that is meaningless, or forbidden, in this combination.
    case notAllowed(field: String, reason: String)
    /// A cursor or position the caller sent back is not one the service handed out.
    case invalidCursor(field: String)

    /// A line of a bulk request failed; `path` names the line (`movements/3`).
    indirect case inLine(path: String, Rejection)
    /// A movement would take on-hand stock below zero: the ledger never holds negative stock.
    case insufficientOnHand(sku: String, locationId: String, onHand: Int64, requested: Int64)
    /// Not enough is available for a hold: what the request asks of the position (its lines
    /// for one position summed) and what was available. `locationId` is nil when the engine
    /// sourced the line (the figure is then across every candidate).
    case insufficientStock(sku: String, locationId: String?, requested: Int64, available: Int64)
    /// A count claims a time in the future, or too far in the past.
    case countTimeOutOfRange(field: String)

    /// The referenced location does not exist.
    case unknownLocation(locationId: String)
    /// The location exists but is not active.
    case locationInactive(locationId: String)
    /// The location cannot do what is asked (be a pickup point, ship).
    case locationLacksCapability(locationId: String, capability: String)
    /// The referenced hold does not exist.
    case unknownHold(holdId: String)
    /// The hold has ended (released, expired, converted) and cannot do what is asked.
    case holdNotActive(holdId: String, status: HoldStatus)
    /// The referenced API key does not exist.
    case unknownApiKey(apiKeyId: String)
    /// An order, order line or transfer that does not exist.
    case unknownOrder(orderId: String)
    case unknownOrderLine(orderId: String, lineId: String)
    case unknownTransfer(transferId: String)
    /// The order or transfer is not in a state that allows the step; `status` is where it is.
    case invalidTransition(status: String, step: String)
    /// A pickup order cannot be ready while lines are still on their way to the store.
    case linesInTransit(orderId: String)
    /// A pickup code that is not the order's; counted.
    case pickupCodeWrong(attemptsLeft: Int)
    /// Too many wrong pickup codes: collection waits for an unlock.
    case pickupLocked(orderId: String)

    /// The referenced webhook subscription does not exist (or is another integration's).
    case unknownWebhook(webhookId: String)
    /// A webhook URL whose host resolves to an address webhooks may not reach.
    case webhookTargetRefused(host: String, reason: String)
    /// An event type the ledger does not record.
    case unknownEventType(field: String, type: String)
    /// The deployment has as many subscriptions as it may.
    case webhookLimitReached(countMax: Int)

    /// The caller's role may not perform this operation.
    case roleForbidden(role: Role, operation: Operation)
    /// The caller is not bound to this location.
    case locationForbidden(locationId: String)

    /// The Idempotency-Key was used before for a different request.
    case idempotencyKeyReused
    /// A write raced with another on the same stream and lost; retrying is safe.
    case concurrentModification(stream: String)

    /// The stable machine-readable code of this rejection.
    public var code: String {
        switch self {
        case .missingField: "missing-field"
        case .invalidIdentifier: "invalid-identifier"
        case .invalidText: "invalid-text"
        case .outOfRange: "out-of-range"
        case .tooMany: "too-many"
        case .duplicate: "duplicate"
        case .notAllowed: "not-allowed"
        case .invalidCursor: "invalid-cursor"
        case .inLine(_, let inner): inner.code
        case .insufficientOnHand: "insufficient-on-hand"
        case .countTimeOutOfRange: "count-time-out-of-range"
        case .insufficientStock: "insufficient-stock"
        case .locationInactive: "location-inactive"
        case .locationLacksCapability: "location-lacks-capability"
        case .unknownHold: "unknown-hold"
        case .holdNotActive: "hold-not-active"
        case .unknownLocation: "unknown-location"
        case .unknownApiKey: "unknown-api-key"
        case .unknownOrder: "unknown-order"
        case .unknownOrderLine: "unknown-order-line"
        case .unknownTransfer: "unknown-transfer"
        case .invalidTransition: "invalid-transition"
        case .linesInTransit: "lines-in-transit"
        case .pickupCodeWrong: "pickup-code-wrong"
        case .pickupLocked: "pickup-locked"
        case .unknownWebhook: "unknown-webhook"
        case .webhookTargetRefused: "webhook-target-refused"
        case .unknownEventType: "unknown-event-type"
        case .webhookLimitReached: "webhook-limit-reached"
        case .roleForbidden: "role-forbidden"
        case .locationForbidden: "location-forbidden"
        case .idempotencyKeyReused: "idempotency-key-reused"
        case .concurrentModification: "concurrent-modification"
        }
    }

    /// The request field at fault, as a JSON pointer-like path, when there is one.
    public var field: String? {
        switch self {
        case .missingField(let field), .invalidIdentifier(let field), .invalidText(let field, _),
            .outOfRange(let field, _, _), .tooMany(let field, _), .duplicate(let field, _),
            .notAllowed(let field, _), .invalidCursor(let field):
            field
        case .inLine(let path, let inner): inner.field.map { path.isEmpty ? $0 : path + "/" + $0 } ?? path
        case .insufficientOnHand, .insufficientStock: "quantity"
        case .locationInactive, .locationLacksCapability: "locationId"
        case .unknownHold: "holdId"
        case .holdNotActive: nil
        case .countTimeOutOfRange(let field): field
        case .unknownLocation, .locationForbidden: "locationId"
        case .unknownApiKey: "apiKeyId"
        case .unknownOrder: "orderId"
        case .unknownOrderLine: "lineId"
        case .unknownTransfer: "transferId"
        case .pickupCodeWrong, .pickupLocked: "pickupCode"
        case .unknownWebhook: "webhookId"
        case .webhookTargetRefused: "url"
        case .unknownEventType(let field, _): field
        case .webhookLimitReached: nil
        case .invalidTransition, .linesInTransit: nil
        case .idempotencyKeyReused: "Idempotency-Key"
        case .roleForbidden, .concurrentModification: nil
        }
    }

    /// A sentence for humans; never parsed by clients.
    public var detail: String {
        switch self {
        case .missingField(let field):
            "The field '\(field)' is required."
        case .invalidIdentifier(let field):
            "The field '\(field)' must be 1 to \(Limits.identifierLengthMax) characters of A-Z, a-z, 0-9, '.', '_', ':' or '-'."
        case .invalidText(let field, let lengthMax):
            "The field '\(field)' must be 1 to \(lengthMax) characters."
        case .outOfRange(let field, let lower, let upper):
            "The field '\(field)' must be between \(lower) and \(upper)."
        case .tooMany(let field, let countMax):
            "The field '\(field)' may hold at most \(countMax) entries."
        case .duplicate(let field, let value):
            "The field '\(field)' names '\(value)' more than once."
        case .notAllowed(let field, let reason):
            "The field '\(field)' is not allowed: \(reason)."
        case .invalidCursor(let field):
            "The field '\(field)' is not a cursor this service handed out."
        case .inLine(let path, let inner):
            path.isEmpty ? inner.detail : "\(path): \(inner.detail)"
        case .insufficientOnHand(let sku, let locationId, let onHand, let requested):
            "'\(sku)' at '\(locationId)' has \(onHand) on hand; taking \(requested) would make it negative. Record a count or a receipt first."
        case .insufficientStock(let sku, let locationId, let requested, let available):
            if let locationId {
                "'\(sku)' at '\(locationId)': \(requested) asked, \(available) available."
            } else {
                "'\(sku)': \(requested) asked, \(available) available at the locations that can serve it."
            }
        case .locationInactive(let locationId):
            "The location '\(locationId)' is not active."
        case .locationLacksCapability(let locationId, let capability):
            "The location '\(locationId)' is not able to \(capability)."
        case .unknownHold(let holdId):
            "No hold has the id '\(holdId)'."
        case .holdNotActive(let holdId, let status):
            "The hold '\(holdId)' is \(status.rawValue); only an active hold can do this."
        case .countTimeOutOfRange(let field):
            "The field '\(field)' must not be in the future (beyond 5 minutes of clock skew) nor more than 90 days ago."
        case .unknownLocation(let locationId):
            "No location has the id '\(locationId)'."
        case .unknownApiKey(let apiKeyId):
            "No API key has the id '\(apiKeyId)'."
        case .unknownOrder(let orderId):
            "No order has the id '\(orderId)'."
        case .unknownOrderLine(let orderId, let lineId):
            "The order '\(orderId)' has no line '\(lineId)'."
        case .unknownTransfer(let transferId):
            "No transfer has the id '\(transferId)'."
        case .invalidTransition(let status, let step):
            "It is \(status); it cannot be \(step) now."
        case .linesInTransit(let orderId):
            "The order '\(orderId)' has lines still on their way to the store; receive their transfer first."
        case .pickupCodeWrong(let attemptsLeft):
            attemptsLeft > 0
                ? "That is not the order's pickup code; \(attemptsLeft) more wrong codes lock the order for collection."
                : "That is not the order's pickup code; the order is now locked for collection until it is unlocked."
        case .pickupLocked(let orderId):
            "The order '\(orderId)' is locked for collection after too many wrong pickup codes; an admin or the store must unlock it."
        case .unknownWebhook(let webhookId):
            "No webhook subscription has the id '\(webhookId)'."
        case .webhookTargetRefused(let host, let reason):
            "The host '\(host)' resolves to an address webhooks may not reach: \(reason). Use a public address (or set OMS_WEBHOOK_ALLOW_PRIVATE_TARGETS=true on a single-box set-up)."
        case .unknownEventType(_, let type):
            "The ledger records no events of type '\(type)'."
        case .webhookLimitReached(let countMax):
            "The deployment has \(countMax) webhook subscriptions, as many as it may; delete one first."
        case .roleForbidden(let role, let operation):
            "The role '\(role.rawValue)' may not \(operation.summary)."
        case .locationForbidden(let locationId):
            "This API key is not bound to the location '\(locationId)'."
        case .idempotencyKeyReused:
            "This Idempotency-Key was already used for a different request."
        case .concurrentModification(let stream):
            "Another request changed '\(stream)' at the same time; retry the request."
        }
    }
}

/// One or more rejections found together, so a caller learns every fault of a request at once.
public struct Rejections: Error, Equatable, Sendable {
    public let all: [Rejection]

    public init(_ all: [Rejection]) {
        precondition(!all.isEmpty, "a refusal names at least one fault")
        self.all = all
    }

    public init(_ one: Rejection) {
        self.all = [one]
    }
}
