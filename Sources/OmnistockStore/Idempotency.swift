import Foundation
import Logging
import NIOCore
import OmnistockCore
import PostgresNIO

/// An answer as it is sent and, for idempotent requests, stored.
public struct StoredResponse: Sendable, Equatable {
    public var status: Int
    public var body: [UInt8]

    public init(status: Int, body: [UInt8]) {
        self.status = status
        self.body = body
    }
}

/// The identity of an idempotent request: who sent it, under which key, with which content.
public struct IdempotencyRequest: Sendable, Equatable {
    public var apiKeyId: String
    public var key: String
    /// SHA-256 of the request's method, route and normalised body.
    public var requestHash: [UInt8]

    public init(apiKeyId: String, key: String, requestHash: [UInt8]) {
        self.apiKeyId = apiKeyId
        self.key = key
        self.requestHash = requestHash
    }
}

/// The result of an idempotent write: executed now, or the stored answer of an earlier one.
public enum IdempotentOutcome: Sendable, Equatable {
    case executed(StoredResponse)
    case replayed(StoredResponse)
}

/// Runs writes so that a retried request gets the first answer and changes nothing more.
///
/// The key row is inserted in the same transaction as the effect. A second request with the same
/// key blocks on the unique index until the first commits (then reads its answer) or rolls back
/// (then executes itself): two requests with one key never both execute.
public struct IdempotencyStore: Sendable {
    let logger: Logger
    public let retentionSeconds: Int64

    public init(retentionSeconds: Int64, logger: Logger) {
        precondition(
            (Limits.idempotencyRetentionSecondsMin...Limits.idempotencyRetentionSecondsMax).contains(retentionSeconds),
            "the retention is validated at start-up")
        self.retentionSeconds = retentionSeconds
        self.logger = logger
    }

    /// Runs `body` in a transaction, once per idempotency key.
    ///
    /// `body` returns the answer to send now and the answer to store for replays (they differ
    /// only when the first holds a secret that must be shown once). When `body` throws (a
    /// refusal or a failure), nothing is written, the key included, so a retry runs again.
    public func perform(
        _ request: IdempotencyRequest?,
        on database: Database,
        _ body: (Transaction) async throws -> (response: StoredResponse, stored: StoredResponse)
    ) async throws -> IdempotentOutcome {
        try await database.transaction { connection in
            if let request {
                if let earlier = try await claim(request, on: connection) {
                    return .replayed(earlier)
                }
            }
            let (response, stored) = try await body(Transaction(connection))
            if let request {
                try await connection.query(
                    """
                    UPDATE idempotency_keys SET status = \(stored.status), response_body = \(ByteBuffer(bytes: stored.body)),
                           expires_at = clock_timestamp() + make_interval(secs => \(Double(retentionSeconds)))
                     WHERE api_key_id = \(request.apiKeyId) AND key = \(request.key)
                    """,
                    logger: logger)
            }
            return .executed(response)
        }
    }

    /// Inserts the key row, or returns the stored answer of the request that holds it.
    private func claim(_ request: IdempotencyRequest, on connection: PostgresConnection) async throws -> StoredResponse? {
        // An expired key is free again: its answer is past the promised retention.
        try await connection.query(
            "DELETE FROM idempotency_keys WHERE api_key_id = \(request.apiKeyId) AND key = \(request.key) AND expires_at <= now()",
            logger: logger)
        let inserted = try await connection.query(
            """
            INSERT INTO idempotency_keys (api_key_id, key, request_sha256, status, response_body, expires_at)
            VALUES (\(request.apiKeyId), \(request.key), \(ByteBuffer(bytes: request.requestHash)), 0, ''::bytea,
                    now() + make_interval(secs => \(Double(retentionSeconds))))
            ON CONFLICT (api_key_id, key) DO NOTHING
            RETURNING true
            """,
            logger: logger
        ).collect()
        if !inserted.isEmpty { return nil }
        guard
            let row = try await connection.query(
                """
                SELECT request_sha256, status, response_body FROM idempotency_keys
                 WHERE api_key_id = \(request.apiKeyId) AND key = \(request.key)
                """,
                logger: logger
            ).collect().first
        else {
            // The holder expired and was swept between our statements; the caller may retry.
            throw Rejection.concurrentModification(stream: "idempotency-key")
        }
        let (hash, status, body) = try row.decode((ByteBuffer, Int, ByteBuffer).self)
        guard Array(hash.readableBytesView) == request.requestHash else { throw Rejection.idempotencyKeyReused }
        return StoredResponse(status: status, body: Array(body.readableBytesView))
    }

    /// Deletes up to `limit` expired keys; returns how many went. Run by the sweeper.
    public func sweep(limit: Int, on database: Database) async throws -> Int {
        try await database.withConnection { connection in
            let rows = try await connection.query(
                """
                DELETE FROM idempotency_keys WHERE ctid IN (
                    SELECT ctid FROM idempotency_keys WHERE expires_at <= now() ORDER BY expires_at LIMIT \(limit)
                    FOR UPDATE SKIP LOCKED)
                RETURNING 1
                """,
                logger: logger
            ).collect()
            return rows.count
        }
    }
}
