import Foundation
import OmnistockCore
import PostgresNIO

/// What delivery asks of the store: leases, the target of a leased subscription, its progress.
///
/// A lease is a row's `lease_owner` and `lease_until`, taken by `claim` when free or run out and
/// renewed by the same call while held. Every progress write names the owner and the row's
/// generation and requires the lease to be current, so a write of an instance that lost its
/// lease (or of a loop that has not yet seen a redeliver) changes nothing and says so.
extension WebhookStore {
    /// Takes or renews the leases of active subscriptions this instance may deliver, at most
    /// `limit`; returns those it holds now. It waits for rows another transaction has locked
    /// (a loop writing its progress, another instance's claim: both short, and taken in id
    /// order, so claims never deadlock) rather than skip them: a row of its own it skipped
    /// would read as a lease lost, and stop a healthy loop. A
    /// subscription of a revoked integration key is left alone: the integration is no longer
    /// allowed to read the feed.
    public func claim(owner: String, leaseSeconds: Int64, limit: Int, on database: Database) async throws -> [LeasedSubscription] {
        precondition(limit > 0 && limit <= Limits.webhookSubscriptionsMax, "a claim is bounded")
        return try await database.withConnection { connection in
            let rows = try await connection.query(
                """
                UPDATE webhook_subscriptions s
                   SET lease_owner = \(owner), lease_until = now() + make_interval(secs => \(Double(leaseSeconds)))
                 WHERE s.id IN (
                       SELECT id FROM webhook_subscriptions w
                        WHERE w.status = 'active'
                          AND (w.lease_owner = \(owner) OR w.lease_owner IS NULL OR w.lease_until < now())
                          AND NOT EXISTS (
                              SELECT 1 FROM api_keys k
                               WHERE k.id = w.created_by AND k.role = 'integration' AND k.revoked_at IS NOT NULL)
                        ORDER BY w.id LIMIT \(limit)
                          FOR UPDATE)
                RETURNING s.id, s.generation
                """,
                logger: self.logger
            ).collect()
            return try rows.map { row in
                let (id, generation) = try row.decode((String, Int64).self)
                return LeasedSubscription(id: id, generation: generation)
            }
        }
    }

    /// Gives up every lease of `owner` (at shutdown), so another instance takes over at once
    /// rather than after the lease runs out.
    public func release(owner: String, on database: Database) async throws {
        try await database.withConnection { connection in
            _ = try await connection.query(
                "UPDATE webhook_subscriptions SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = \(owner)",
                logger: self.logger
            ).collect()
        }
    }

    /// What delivering a subscription leased by `owner` needs; nil when the lease is not its own
    /// any more (or the subscription is gone or disabled).
    public func target(id: String, owner: String, on database: Database) async throws -> DeliveryTarget? {
        try await database.withConnection { connection in
            let rows = try await connection.query(
                """
                SELECT url, event_types, location_ids, secret, previous_secret, previous_secret_expires_at, cursor, failed_attempts, next_attempt_at, generation
                  FROM webhook_subscriptions
                 WHERE id = \(id) AND lease_owner = \(owner) AND lease_until > now() AND status = 'active'
                """,
                logger: self.logger
            ).collect()
            guard let row = rows.first else { return nil }
            let (url, types, locations, secret, previous, previousUntil, cursor, failed, next, generation) = try row.decode(
                (String, [String]?, [String]?, String, String?, Date?, Int64, Int, Date?, Int64).self)
            return DeliveryTarget(
                id: id, url: url,
                filter: WebhookFilter(eventTypes: types, locationIds: locations),
                secret: secret, previousSecret: previous.flatMap { old in previousUntil.map { (old, $0) } }, cursor: cursor, failedAttempts: failed, nextAttemptAt: next,
                generation: generation)
        }
    }

    /// Writes a loop's progress and logs its attempts, in one transaction; false (and nothing
    /// written) when the lease or the generation is not the loop's any more.
    public func record(_ progress: DeliveryProgress, id: String, owner: String, generation: Int64, on database: Database) async throws -> Bool {
        precondition(progress.attempts.count <= Limits.webhookProgressBatchMax + 1, "progress is written in bounded batches")
        return try await database.transaction { connection in
            let status = progress.disabled == nil ? "active" : "disabled"
            let rows = try await connection.query(
                """
                UPDATE webhook_subscriptions
                   SET cursor = greatest(cursor, \(progress.cursor)), failed_attempts = \(progress.failedAttempts),
                       next_attempt_at = \(progress.nextAttemptAt), status = \(status),
                       disabled_reason = \(progress.disabled?.rawValue),
                       lease_owner = CASE WHEN \(status) = 'active' THEN lease_owner END,
                       lease_until = CASE WHEN \(status) = 'active' THEN lease_until END
                 WHERE id = \(id) AND lease_owner = \(owner) AND generation = \(generation) AND lease_until > now()
                RETURNING id
                """,
                logger: self.logger
            ).collect()
            guard !rows.isEmpty else { return false }
            if !progress.attempts.isEmpty {
                try await self.log(progress.attempts, id: id, on: connection)
                try await self.prune(id: id, on: connection)
            }
            return true
        }
    }

    /// Appends attempts to the log in one statement.
    private func log(_ attempts: [DeliveryRecord], id: String, on connection: PostgresConnection) async throws {
        var builder = QueryBuilder()
        builder.sql = """
            INSERT INTO webhook_deliveries
                (subscription_id, position, attempt, outcome, status_code, duration_ms, error, next_retry_at, attempted_at) VALUES
            """
        let subscription = try builder.bind(id)
        for (index, attempt) in attempts.enumerated() {
            let code = try attempt.statusCode.map { try builder.bind($0) } ?? "NULL"
            let error = try attempt.error.map { try builder.bind($0) } ?? "NULL"
            let next = try attempt.nextRetryAt.map { try builder.bind($0) } ?? "NULL"
            builder.sql += index == 0 ? " " : ", "
            builder.sql += "(\(subscription), \(try builder.bind(attempt.position)), \(try builder.bind(attempt.attempt)), "
            builder.sql += "\(try builder.bind(attempt.outcome.rawValue)), \(code)::integer, \(try builder.bind(attempt.durationMilliseconds)), "
            builder.sql += "\(error)::text, \(next)::timestamptz, \(try builder.bind(attempt.attemptedAt)))"
        }
        _ = try await connection.query(builder.query, logger: logger).collect()
    }

    /// Keeps the newest `Limits.webhookDeliveriesKeptMax` attempts of the subscription, with each
    /// write of its progress: the index gives the boundary by reading that many entries, so the
    /// log stays a few hundred rows however fast a receiver takes events.
    private func prune(id: String, on connection: PostgresConnection) async throws {
        _ = try await connection.query(
            """
            DELETE FROM webhook_deliveries
             WHERE subscription_id = \(id)
               AND id <= (SELECT id FROM webhook_deliveries WHERE subscription_id = \(id)
                           ORDER BY id DESC OFFSET \(Limits.webhookDeliveriesKeptMax) LIMIT 1)
            """,
            logger: logger
        ).collect()
    }
}
