import Foundation
import Logging
import OmnistockCore
import PostgresNIO
import Synchronization

/// Webhook subscriptions: what the API manages (`create` … `deliveries`), and what delivery
/// needs (leases, targets, progress; WebhookLeases.swift).
public final class WebhookStore: Sendable {
    let logger: Logger
    /// Bumped after every change committed through this instance's API, so that its delivery
    /// takes the change up at once rather than at its next lease round (other instances: at theirs).
    private let changeCount = Atomic<Int>(0)

    /// How many changes this instance made so far.
    public var changes: Int { changeCount.load(ordering: .acquiring) }

    /// Says a change was committed (the edge calls it once the change's transaction is done).
    public func changed() { changeCount.add(1, ordering: .releasing) }

    public init(logger: Logger) {
        self.logger = logger
    }

    static let columns = """
        s.id, s.url, s.event_types, s.location_ids, s.description, s.status, s.disabled_reason, s.created_at, s.created_by,
        s.cursor, s.failed_attempts, s.next_attempt_at, s.previous_secret_expires_at,
        d.position, d.attempt, d.outcome, d.status_code, d.duration_ms, d.error, d.next_retry_at, d.attempted_at
        """
    /// The newest attempt of each subscription read, beside it.
    static let lastDelivery = """
        LEFT JOIN LATERAL (
            SELECT position, attempt, outcome, status_code, duration_ms, error, next_retry_at, attempted_at
              FROM webhook_deliveries WHERE subscription_id = s.id ORDER BY id DESC LIMIT 1) d ON true
        """

    // MARK: - The API's side

    /// Creates a subscription whose cursor is the ledger's head: it receives what is recorded
    /// from now on (older events are a `redeliver` away). Returns the record and its secret,
    /// shown only this once. Creations queue on one advisory lock, so the deployment's bound holds.
    public func create(_ spec: WebhookSpec, createdBy: String, in transaction: Transaction) async throws -> Result<(WebhookRecord, secret: String), Rejection> {
        let connection = transaction.connection
        _ = try await connection.query("SELECT pg_advisory_xact_lock(hashtext('webhook_subscriptions'))", logger: logger).collect()
        let count = try await connection.query("SELECT count(*) FROM webhook_subscriptions", logger: logger).collect().first?.decode(Int64.self) ?? 0
        guard count < Limits.webhookSubscriptionsMax else { return .failure(.webhookLimitReached(countMax: Limits.webhookSubscriptionsMax)) }
        let id = "wh_" + ApiKeyStore.randomToken(bytes: 9)
        let secret = Self.newSecret()
        _ = try await connection.query(
            """
            INSERT INTO webhook_subscriptions (id, url, event_types, location_ids, description, status, secret, created_by, cursor)
            SELECT \(id), \(spec.url), \(spec.eventTypes)::text[], \(spec.locationIds)::text[], \(spec.description), 'active', \(secret),
                   \(createdBy), position
              FROM ledger_head
            """,
            logger: logger
        ).collect()
        guard let record = try await read(id: id, owner: .anyone, on: connection) else {
            throw StoreError.corrupt("the webhook subscription just inserted is missing")
        }
        return .success((record, secret))
    }

    /// Every subscription the owner sees, oldest first (at most `Limits.webhookSubscriptionsMax`).
    public func list(owner: WebhookOwner, on database: Database) async throws -> [WebhookRecord] {
        try await database.withConnection { connection in
            let rows = try await connection.query(
                """
                SELECT \(unescaped: Self.columns) FROM webhook_subscriptions s \(unescaped: Self.lastDelivery)
                 WHERE (\(owner.keyId)::text IS NULL OR s.created_by = \(owner.keyId))
                 ORDER BY s.created_at, s.id LIMIT \(Limits.webhookSubscriptionsMax)
                """,
                logger: self.logger
            ).collect()
            return try rows.map(Self.record)
        }
    }

    public func get(id: String, owner: WebhookOwner, on database: Database) async throws -> WebhookRecord? {
        try await database.withConnection { connection in try await self.read(id: id, owner: owner, on: connection) }
    }

    func read(id: String, owner: WebhookOwner, on connection: PostgresConnection) async throws -> WebhookRecord? {
        let rows = try await connection.query(
            """
            SELECT \(unescaped: Self.columns) FROM webhook_subscriptions s \(unescaped: Self.lastDelivery)
             WHERE s.id = \(id) AND (\(owner.keyId)::text IS NULL OR s.created_by = \(owner.keyId))
            """,
            logger: logger
        ).collect()
        return try rows.first.map(Self.record)
    }

    /// Deletes a subscription and its log; returns it as it was, or nil when the owner has none
    /// of that id. Its delivering instance notices at its next write or lease round.
    public func delete(id: String, owner: WebhookOwner, on database: Database) async throws -> WebhookRecord? {
        try await database.transaction { connection in
            guard let record = try await self.read(id: id, owner: owner, on: connection) else { return nil }
            _ = try await connection.query("DELETE FROM webhook_subscriptions WHERE id = \(id)", logger: self.logger).collect()
            return record
        }
    }

    /// A new secret; the old one keeps signing beside it for `Limits.webhookPreviousSecretSeconds`.
    public func rotateSecret(id: String, owner: WebhookOwner, in transaction: Transaction) async throws -> (WebhookRecord, secret: String)? {
        let secret = Self.newSecret()
        let changed = try await change(
            id: id, owner: owner,
            set: """
                previous_secret = secret, secret = \(secret),
                previous_secret_expires_at = now() + make_interval(secs => \(Double(Limits.webhookPreviousSecretSeconds)))
                """,
            in: transaction)
        return changed.map { ($0, secret) }
    }

    /// Delivery starts again at `fromPosition` (the cursor is set just before it) with a fresh
    /// retry schedule; the status is left as it is. Refused past the head.
    public func redeliver(id: String, owner: WebhookOwner, fromPosition: Int64, in transaction: Transaction) async throws -> Result<WebhookRecord, Rejection> {
        precondition(fromPosition >= 1, "the edge bounds the position")
        let head = try await EventStore(logger: logger).head(in: transaction)
        guard fromPosition <= head + 1 else {
            return .failure(.outOfRange(field: "fromPosition", lower: "1", upper: "\(head + 1) (the ledger's head plus one)"))
        }
        let changed = try await change(
            id: id, owner: owner, set: "cursor = \(fromPosition - 1), failed_attempts = 0, next_attempt_at = NULL", in: transaction)
        return changed.map { .success($0) } ?? .failure(.unknownWebhook(webhookId: id))
    }

    /// Active again, from its kept cursor, with a fresh retry schedule.
    public func resume(id: String, owner: WebhookOwner, in transaction: Transaction) async throws -> WebhookRecord? {
        try await change(
            id: id, owner: owner, set: "status = 'active', disabled_reason = NULL, failed_attempts = 0, next_attempt_at = NULL",
            in: transaction)
    }

    /// Applies `set` to the owner's subscription and bumps its generation (its delivering
    /// instance reloads it); the record after, or nil when there is none.
    private func change(id: String, owner: WebhookOwner, set: PostgresQuery, in transaction: Transaction) async throws -> WebhookRecord? {
        var query = PostgresQuery(unsafeSQL: "UPDATE webhook_subscriptions SET generation = generation + 1, ")
        query.sql += set.sql
        var binds = set.binds
        binds.append(id)
        query.sql += " WHERE id = $\(binds.count)"
        if let keyId = owner.keyId {
            binds.append(keyId)
            query.sql += " AND created_by = $\(binds.count)"
        }
        query.sql += " RETURNING id"
        query.binds = binds
        let rows = try await transaction.connection.query(query, logger: logger).collect()
        guard !rows.isEmpty else { return nil }
        return try await read(id: id, owner: .anyone, on: transaction.connection)
    }

    /// The newest attempts of the owner's subscription, newest first; nil when there is none.
    public func deliveries(id: String, owner: WebhookOwner, limit: Int, on database: Database) async throws -> [DeliveryRecord]? {
        precondition(limit > 0 && limit <= Limits.webhookDeliveriesPageMax, "the edge bounds the page")
        return try await database.withConnection { connection in
            let exists = try await connection.query(
                "SELECT 1 FROM webhook_subscriptions WHERE id = \(id) AND (\(owner.keyId)::text IS NULL OR created_by = \(owner.keyId))",
                logger: self.logger
            ).collect()
            guard !exists.isEmpty else { return nil }
            let rows = try await connection.query(
                """
                SELECT position, attempt, outcome, status_code, duration_ms, error, next_retry_at, attempted_at
                  FROM webhook_deliveries WHERE subscription_id = \(id) ORDER BY id DESC LIMIT \(limit)
                """,
                logger: self.logger
            ).collect()
            return try rows.map { row in
                let (position, attempt, outcome, code, duration, error, next, at) = try row.decode(
                    (Int64, Int, String, Int?, Double, String?, Date?, Date).self)
                return try Self.delivery(position, attempt, outcome, code, duration, error, next, at)
            }
        }
    }

    // MARK: - Rows

    static func record(_ row: PostgresRow) throws -> WebhookRecord {
        let (id, url, types, locations, description, status, reason, createdAt, createdBy, cursor, failed, next, previousExpires,
            position, attempt, outcome, code, duration, error, retry, at) = try row.decode(
            (String, String, [String]?, [String]?, String?, String, String?, Date, String, Int64, Int, Date?, Date?,
                Int64?, Int?, String?, Int?, Double?, String?, Date?, Date?).self)
        guard let status = WebhookStatus(rawValue: status) else { throw StoreError.corrupt("a webhook has the status '\(status)'") }
        var record = WebhookRecord(
            id: id, url: url, eventTypes: types, locationIds: locations, description: description, status: status,
            disabledReason: try reason.map(Self.reason), createdAt: createdAt, createdBy: createdBy, cursor: cursor,
            failedAttempts: failed, nextAttemptAt: next, previousSecretExpiresAt: previousExpires.flatMap { $0 > Date() ? $0 : nil })
        if let position, let attempt, let outcome, let duration, let at {
            record.lastDelivery = try delivery(position, attempt, outcome, code, duration, error, retry, at)
        }
        return record
    }

    static func reason(_ text: String) throws -> WebhookDisabledReason {
        guard let reason = WebhookDisabledReason(rawValue: text) else { throw StoreError.corrupt("a webhook is disabled for '\(text)'") }
        return reason
    }

    static func delivery(
        _ position: Int64, _ attempt: Int, _ outcome: String, _ code: Int?, _ duration: Double, _ error: String?, _ next: Date?, _ at: Date
    ) throws -> DeliveryRecord {
        guard let outcome = DeliveryOutcome(rawValue: outcome) else { throw StoreError.corrupt("a delivery has the outcome '\(outcome)'") }
        return DeliveryRecord(
            position: position, attempt: attempt, outcome: outcome, statusCode: code, durationMilliseconds: duration, error: error,
            nextRetryAt: next, attemptedAt: at)
    }

    /// `whsec_` and the base64 of 32 random bytes (Standard Webhooks' form of a signing key).
    static func newSecret() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return "whsec_" + Data(bytes).base64EncodedString()
    }
}
