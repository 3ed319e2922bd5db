import Foundation
import OmnistockCore

/// A webhook subscription as stored, without its secrets (which only delivery reads).
public struct WebhookRecord: Equatable, Sendable {
    public var id: String
    public var url: String
    public var eventTypes: [String]?
    public var locationIds: [String]?
    public var description: String?
    public var status: WebhookStatus
    public var disabledReason: WebhookDisabledReason?
    public var createdAt: Date
    public var createdBy: String
    /// The last position delivered or passed over (not wanted by the subscription).
    public var cursor: Int64
    public var failedAttempts: Int
    public var nextAttemptAt: Date?
    public var previousSecretExpiresAt: Date?
    /// The newest attempt, when there is one.
    public var lastDelivery: DeliveryRecord?
}

/// One attempt to deliver an event.
public struct DeliveryRecord: Equatable, Sendable {
    public var position: Int64
    public var attempt: Int
    public var outcome: DeliveryOutcome
    public var statusCode: Int?
    public var durationMilliseconds: Double
    public var error: String?
    public var nextRetryAt: Date?
    public var attemptedAt: Date

    public init(
        position: Int64, attempt: Int, outcome: DeliveryOutcome, statusCode: Int?, durationMilliseconds: Double, error: String?,
        nextRetryAt: Date?, attemptedAt: Date
    ) {
        self.position = position
        self.attempt = attempt
        self.outcome = outcome
        self.statusCode = statusCode
        self.durationMilliseconds = durationMilliseconds
        self.error = error
        self.nextRetryAt = nextRetryAt
        self.attemptedAt = attemptedAt
    }
}

/// What the delivering instance needs of a subscription it leased.
public struct DeliveryTarget: Sendable {
    public var id: String
    public var url: String
    public var filter: WebhookFilter
    public var secret: String
    /// The secret before the last rotation, and until when it signs beside the new one.
    public var previousSecret: (secret: String, until: Date)?
    public var cursor: Int64
    public var failedAttempts: Int
    public var nextAttemptAt: Date?
    public var generation: Int64

    /// The secrets that sign at `now`, newest first.
    public func secrets(at now: Date) -> [String] {
        guard let previousSecret, previousSecret.until > now else { return [secret] }
        return [secret, previousSecret.secret]
    }
}

/// A subscription an instance holds the lease of, and the generation of its row.
public struct LeasedSubscription: Equatable, Hashable, Sendable {
    public var id: String
    public var generation: Int64
}

/// Who may see which subscriptions: an admin every one, an integration only those it created.
public enum WebhookOwner: Equatable, Sendable {
    case anyone
    case key(String)

    public init(_ principal: Principal) {
        self = principal.role == .admin ? .anyone : .key(principal.apiKeyId)
    }

    var keyId: String? {
        switch self {
        case .anyone: nil
        case .key(let id): id
        }
    }
}

/// The progress a delivery loop writes: delivered events move the cursor; attempts are logged.
public struct DeliveryProgress: Sendable {
    /// The new cursor (at least the old one).
    public var cursor: Int64
    public var failedAttempts: Int
    public var nextAttemptAt: Date?
    /// Set when this progress disables the subscription.
    public var disabled: WebhookDisabledReason?
    public var attempts: [DeliveryRecord]

    public init(cursor: Int64, failedAttempts: Int, nextAttemptAt: Date?, disabled: WebhookDisabledReason?, attempts: [DeliveryRecord]) {
        self.cursor = cursor
        self.failedAttempts = failedAttempts
        self.nextAttemptAt = nextAttemptAt
        self.disabled = disabled
        self.attempts = attempts
    }
}
