/// Webhook subscriptions: what a subscription asks for, and the rules its delivery follows.
///
/// The delivery itself (HTTP, signing, leases) lives in the workers; what is decided here is
/// pure: which events a subscription wants, whether an address may be a target, what an answer
/// of the receiver means, and when the next attempt comes.

/// Whether a subscription is delivered.
public enum WebhookStatus: String, Codable, CaseIterable, Sendable {
    case active
    /// Not delivered until resumed; the cursor is kept, so nothing is lost while the events stay
    /// in the ledger.
    case disabled
}

/// Why a subscription was disabled.
public enum WebhookDisabledReason: String, Codable, CaseIterable, Sendable {
    /// The receiver answered 410 Gone: it asked not to be called again.
    case gone
    /// Every attempt of the retry schedule failed.
    case retriesExhausted = "retries_exhausted"
}

/// What one attempt to deliver an event came to.
public enum DeliveryOutcome: String, Codable, CaseIterable, Sendable {
    /// A 2xx: the cursor moves past the event.
    case delivered
    /// A network error, a timeout, a 5xx, 408 or 429: the receiver may be back later.
    case retrying
    /// Any other answer (3xx, since redirects are not followed, and 4xx but 408, 410 and 429):
    /// the receiver refused this message. It is retried on the same schedule all the same: an
    /// event cannot be skipped without losing it, and a receiver's refusal is often a bug it fixes.
    case rejected
    /// 410 Gone: the subscription is disabled at once.
    case gone
    /// The target's address is one webhooks may not reach (it resolved to a private address
    /// since the subscription was made): retried, since DNS answers change.
    case refusedTarget = "refused_target"

    /// The outcome of a receiver's answer; `nil` status means no answer (network error, timeout).
    public static func of(statusCode: Int?) -> DeliveryOutcome {
        guard let statusCode else { return .retrying }
        switch statusCode {
        case 200..<300: return .delivered
        case 410: return .gone
        case 408, 429, 500..<600: return .retrying
        default: return .rejected
        }
    }

    /// Whether the outcome counts as a failed attempt of the retry schedule.
    public var isFailure: Bool {
        switch self {
        case .delivered, .gone: false
        case .retrying, .rejected, .refusedTarget: true
        }
    }
}

/// The retry schedule: the delays after each failed attempt, in seconds.
public struct RetrySchedule: Equatable, Sendable {
    public let delaysSeconds: [Int64]

    /// 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h: about three days and a half in all,
    /// long enough to outlast a receiver's weekend outage (Standard Webhooks' and Svix's schedule
    /// in spirit: quick at first, then hours apart).
    public static let standard = RetrySchedule(delaysSeconds: [5, 300, 1_800, 7_200, 18_000, 36_000, 50_400, 72_000, 86_400])

    public init(delaysSeconds: [Int64]) {
        precondition(!delaysSeconds.isEmpty && delaysSeconds.count <= Limits.webhookRetriesMax, "a schedule has 1 to \(Limits.webhookRetriesMax) delays")
        precondition(delaysSeconds.allSatisfy { $0 >= 0 && $0 <= Limits.webhookRetryDelaySecondsMax }, "a delay is 0 to a day")
        self.delaysSeconds = delaysSeconds
    }

    /// The delay before the next attempt after `failedAttempts` failures in a row, or nil when
    /// the schedule is spent. `jitter` (0 to 1, from the caller's randomness) spreads the delay
    /// over ±20 % of the scheduled one, so that receivers coming back are not met by every sender
    /// at the same second. A `Retry-After` of the receiver replaces the scheduled delay (within a
    /// day), since it says when it can take the message.
    public func delayMilliseconds(afterFailures failedAttempts: Int, retryAfterSeconds: Int64?, jitter: Double) -> Int64? {
        precondition(failedAttempts >= 1, "a delay follows a failure")
        precondition(jitter >= 0 && jitter <= 1, "jitter is a fraction")
        guard failedAttempts <= delaysSeconds.count else { return nil }
        if let retryAfterSeconds {
            return min(max(retryAfterSeconds, 1), Limits.webhookRetryDelaySecondsMax) * 1_000
        }
        let scheduled = Double(delaysSeconds[failedAttempts - 1] * 1_000)
        return Int64(scheduled * (0.8 + 0.4 * jitter))
    }

    /// Reads a schedule written as comma-separated seconds ("5,300,1800"); nil when malformed.
    public static func parse(_ text: String) -> RetrySchedule? {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
        guard !parts.isEmpty, parts.count <= Limits.webhookRetriesMax else { return nil }
        var delays: [Int64] = []
        for part in parts {
            let trimmed = part.filter { $0 != " " }
            guard let value = Int64(trimmed), value >= 0, value <= Limits.webhookRetryDelaySecondsMax else { return nil }
            delays.append(value)
        }
        return RetrySchedule(delaysSeconds: delays)
    }
}

/// What a subscription receives: the event types (nil: all) and the locations (nil: all).
public struct WebhookFilter: Equatable, Sendable {
    public let eventTypes: Set<String>?
    public let scope: LocationScope

    public init(eventTypes: Set<String>?, scope: LocationScope) {
        self.eventTypes = eventTypes
        self.scope = scope
    }

    /// The filter of a subscription's lists as stored (nil: every type, every location).
    public init(eventTypes: [String]?, locationIds: [String]?) {
        self.init(eventTypes: eventTypes.map(Set.init), scope: locationIds.map { .only(Set($0)) } ?? .all)
    }

    /// Whether an event of `type` concerning `locationIds` may be delivered (visibility is then
    /// decided on the event itself, by `Access.visibility`).
    public func wants(type: String, locationIds: [String]) -> Bool {
        if let eventTypes, !eventTypes.contains(type) { return false }
        switch scope {
        case .all: return true
        case .only(let ids): return locationIds.contains(where: ids.contains)
        }
    }
}

extension LedgerEvent {
    /// Every event type the ledger records, for the validation of subscriptions and filters.
    public static let knownTypes: Set<String> = {
        var types: Set<String> = [
            LocationDefined.type, StockMoved.type, StockCounted.type, CountCorrected.type, SafetyStockSet.type,
            PositionShort.type, HoldPlaced.type, HoldExtended.type, HoldReleased.type, HoldExpired.type, HoldConverted.type,
        ]
        for step in OrderStep.allCases { types.insert(step.type) }
        for step in TransferStep.allCases { types.insert(step.type) }
        return types
    }()
}
