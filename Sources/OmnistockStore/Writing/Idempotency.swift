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

/// Runs writes that are not batched so that a retried request gets the first answer and
/// changes nothing more, with the same key mechanism as the batching writers (`IdempotencyKeys`).
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
        _ body: @escaping @Sendable (Transaction) async throws -> (response: StoredResponse, stored: StoredResponse)
    ) async throws -> IdempotentOutcome {
        let keys = IdempotencyKeys(retentionSeconds: retentionSeconds, logger: logger)
        return try await database.transaction { connection in
            if let request {
                switch try await keys.claim([request], on: connection)[0] {
                case .replayed(let earlier)?: return .replayed(earlier)
                case .refused(let rejections)?: throw rejections
                case nil: break
                }
            }
            let (response, stored) = try await body(Transaction(connection))
            if let request { try await keys.finish(keep: [(request, stored)], free: [], on: connection) }
            return .executed(response)
        }
    }

    /// Deletes up to `limit` expired keys; returns how many went. Run by the sweeper.
    public func sweep(limit: Int, on database: Database) async throws -> Int {
        try await database.withConnection { connection in
            let rows = try await connection.query(
                """
                DELETE FROM idempotency_keys WHERE ctid IN (
                    SELECT ctid FROM idempotency_keys WHERE expires_at <= clock_timestamp() ORDER BY expires_at LIMIT \(limit)
                    FOR UPDATE SKIP LOCKED)
                RETURNING 1
                """,
                logger: logger
            ).collect()
            return rows.count
        }
    }
}
