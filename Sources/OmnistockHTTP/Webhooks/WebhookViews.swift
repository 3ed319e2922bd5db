import Foundation
import OmnistockCore
import OmnistockStore

/// The body of `POST /v1/webhooks`.
struct WebhookBody: Codable, Sendable {
    var url: String
    var eventTypes: [String]?
    var locationIds: [String]?
    var description: String?
}

/// The body of `POST /v1/webhooks/{webhookId}/redeliver`.
struct RedeliverBody: Codable, Sendable {
    var fromPosition: Int64
}

/// A subscription as its owner sees it; never its secrets, but the answer that makes one.
struct WebhookView: Codable, Sendable {
    var id: String
    var url: String
    var eventTypes: [String]?
    var locationIds: [String]?
    var description: String?
    /// `active`, `disabled`, or `deleted` in the answer to a delete.
    var status: String
    var disabledReason: WebhookDisabledReason?
    var createdAt: Date
    var createdBy: String
    var cursor: Int64
    var headPosition: Int64
    var lag: Int64
    var failedAttempts: Int
    var nextAttemptAt: Date?
    var lastDelivery: DeliveryView?
    var previousSecretExpiresAt: Date?
    /// The signing secret: only in the answers that create or rotate it.
    var secret: String?

    init(_ record: WebhookRecord, head: Int64, secret: String? = nil, deleted: Bool = false) {
        id = record.id
        url = record.url
        eventTypes = record.eventTypes
        locationIds = record.locationIds
        description = record.description
        status = deleted ? "deleted" : record.status.rawValue
        disabledReason = record.disabledReason
        createdAt = record.createdAt
        createdBy = record.createdBy
        cursor = record.cursor
        headPosition = max(head, record.cursor)
        lag = max(0, head - record.cursor)
        failedAttempts = record.failedAttempts
        nextAttemptAt = record.nextAttemptAt
        lastDelivery = record.lastDelivery.map(DeliveryView.init)
        previousSecretExpiresAt = record.previousSecretExpiresAt
        self.secret = secret
    }
}

/// One attempt of a delivery.
struct DeliveryView: Codable, Sendable {
    var position: Int64
    var webhookId: String
    var attempt: Int
    var outcome: DeliveryOutcome
    var statusCode: Int?
    var durationMs: Double
    var error: String?
    var nextRetryAt: Date?
    var attemptedAt: Date

    init(_ record: DeliveryRecord) {
        position = record.position
        webhookId = "evt_\(record.position)"
        attempt = record.attempt
        outcome = record.outcome
        statusCode = record.statusCode
        durationMs = (record.durationMilliseconds * 1_000).rounded() / 1_000
        error = record.error
        nextRetryAt = record.nextRetryAt
        attemptedAt = record.attemptedAt
    }
}

/// The body of a delivery, `{"type", "timestamp", "data"}`: `data` is the object the event feed
/// shows for the event to the subscription's scope (the same JSON as an event stream's message),
/// so an integration parses one shape whichever way it is told.
public enum WebhookPayload {
    /// The renderer webhook delivery is given: through the instance's cache of event JSON, so an
    /// event goes to fifty subscriptions and a thousand streams written once.
    public static func renderer(_ services: EdgeServices) -> @Sendable (RecordedEvent, LocationScope) throws -> [UInt8]? {
        let cache = services.eventJSON
        return { event, scope in try render(event, for: scope, cache: cache) }
    }

    static func render(_ event: RecordedEvent, for scope: LocationScope, cache: EventStreamCache) throws -> [UInt8]? {
        guard let item = try EventView.streamJSON(event, for: scope, cache: cache) else { return nil }
        // Written by hand: two JSONEncoder calls per delivery cost more than the rest of the body.
        var writer = JSONWriter(capacity: item.count + 96)
        writer.beginObject()
        writer.key("type")
        writer.string(event.type)
        writer.key("timestamp")
        writer.string(JSON.dateText(event.recordedAt))
        writer.key("data")
        writer.beginHandWrittenValue()
        writer.append(item)
        writer.endObject()
        return writer.bytes
    }
}
