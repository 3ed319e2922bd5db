import Foundation
import Logging
import OmnistockCore
import PostgresNIO

/// The one mechanism for Idempotency-Keys: the keys of the requests decided in one transaction
/// (a batch of the hold writer or the order step writer, or one request alone) are claimed in
/// one statement and answered in one, whatever their number.
///
/// The key row is inserted in the same transaction as the effect. A second request with the
/// same key blocks on the unique index until the first commits (then reads its answer) or rolls
/// back (then executes itself): two requests with one key never both execute.
struct IdempotencyKeys {
    /// What claiming found for a request whose key was used before.
    enum Claim: Sendable {
        /// The stored answer of the first request: this one is not executed.
        case replayed(StoredResponse)
        /// The key was used with another body, or its holder vanished meanwhile.
        case refused(Rejections)
    }

    let retentionSeconds: Int64
    let logger: Logger

    /// Claims every key; per request, nil means "claimed now (or no key): execute it".
    func claim(_ requests: [IdempotencyRequest?], on connection: PostgresConnection) async throws -> [Claim?] {
        var claims = [Claim?](repeating: nil, count: requests.count)
        let keyed = requests.indices.filter { requests[$0] != nil }
        guard !keyed.isEmpty else { return claims }
        // Claimed in one order by every batch, so two lanes with the same keys cannot deadlock
        // on the unique index.
        let sorted = keyed.map { requests[$0]! }.sorted { ($0.apiKeyId, $0.key) < ($1.apiKeyId, $1.key) }
        var claimed = Set<String>()
        let claim = Claiming.query(sorted, retentionSeconds: retentionSeconds)
        for try await row in try await connection.run(Claiming.self, claim, logger: logger) {
            let (apiKeyId, key) = try row.decode((String, String).self)
            claimed.insert(apiKeyId + "\u{0}" + key)
        }
        var earlier = sorted.filter { !claimed.contains($0.apiKeyId + "\u{0}" + $0.key) }
        guard !earlier.isEmpty else { return claims }
        // A key past its retention is free again (its answer is older than promised): it is
        // claimed anew in place. Only batches that met used keys pay this statement.
        for try await (apiKeyId, key) in try await connection.query(
            """
            UPDATE idempotency_keys AS i SET request_sha256 = decode(a.h, 'hex'), status = 0, response_body = ''::bytea,
                   created_at = clock_timestamp(), expires_at = clock_timestamp() + make_interval(secs => \(Double(retentionSeconds)))
              FROM unnest(\(earlier.map(\.apiKeyId))::text[], \(earlier.map(\.key))::text[], \(earlier.map { Self.hex($0.requestHash) })::text[])
                   AS a(id, key, h)
             WHERE i.api_key_id = a.id AND i.key = a.key AND i.expires_at <= clock_timestamp()
            RETURNING i.api_key_id, i.key
            """,
            logger: logger
        ).decode((String, String).self) {
            claimed.insert(apiKeyId + "\u{0}" + key)
        }
        earlier = earlier.filter { !claimed.contains($0.apiKeyId + "\u{0}" + $0.key) }
        guard !earlier.isEmpty else { return claims }
        var stored: [String: (hash: [UInt8], response: StoredResponse)] = [:]
        for try await (apiKeyId, key, hash, status, body) in try await connection.query(
            """
            SELECT api_key_id, key, request_sha256, status, response_body FROM idempotency_keys
             WHERE (api_key_id, key) IN (SELECT * FROM unnest(\(earlier.map(\.apiKeyId))::text[], \(earlier.map(\.key))::text[]))
            """,
            logger: logger
        ).decode((String, String, ByteBuffer, Int, ByteBuffer).self) {
            stored[apiKeyId + "\u{0}" + key] = (Array(hash.readableBytesView), StoredResponse(status: status, body: Array(body.readableBytesView)))
        }
        for index in keyed {
            let request = requests[index]!
            let name = request.apiKeyId + "\u{0}" + request.key
            guard !claimed.contains(name) else { continue }
            if let earlier = stored[name] {
                claims[index] = earlier.hash == request.requestHash ? .replayed(earlier.response) : .refused(Rejections(.idempotencyKeyReused))
            } else {
                // The holder expired and was swept between the statements; a retry runs anew.
                claims[index] = .refused(Rejections(.concurrentModification(stream: "idempotency-key")))
            }
        }
        return claims
    }

    /// The first statement of `claim`: every key not held yet, claimed in the given order.
    private enum Claiming: StatementText {
        static let name = "idempotency_claim"
        static let sql = query([], retentionSeconds: 0).sql

        static func query(_ sorted: [IdempotencyRequest], retentionSeconds: Int64) -> PostgresQuery {
            """
            INSERT INTO idempotency_keys (api_key_id, key, request_sha256, status, response_body, expires_at)
            SELECT a, k, decode(h, 'hex'), 0, ''::bytea, clock_timestamp() + make_interval(secs => \(Double(retentionSeconds)))
              FROM unnest(\(sorted.map(\.apiKeyId))::text[], \(sorted.map(\.key))::text[], \(sorted.map { IdempotencyKeys.hex($0.requestHash) })::text[])
                   WITH ORDINALITY AS r(a, k, h, n)
             ORDER BY r.n
            ON CONFLICT (api_key_id, key) DO NOTHING
            RETURNING api_key_id, key
            """
        }
    }

    /// Whether a request that failed gives its key back, so a retry runs again (a refusal of
    /// the request itself; not a reused key, nor a key another request holds).
    static func givesKeyBack(_ error: any Error) -> Bool {
        guard let rejections = error as? Rejections else { return false }
        switch rejections.all.first {
        case .idempotencyKeyReused?, .concurrentModification?: return false
        default: return true
        }
    }

    /// Stores the answers to keep and deletes the keys given back, in one statement.
    func finish(keep: [(IdempotencyRequest, StoredResponse)], free: [IdempotencyRequest], on connection: PostgresConnection) async throws {
        var query = QueryBuilder()
        let parts = try finishParts(keep: keep, free: free, into: &query)
        try await ProjectionWriter.run(parts, query, on: connection, logger: logger)
    }

    /// The statements of `finish`, to run alone or as parts of a writer's projection statement
    /// (`LedgerTransaction.finish`'s `alongside`: one round trip less for every batch).
    func finishParts(keep: [(IdempotencyRequest, StoredResponse)], free: [IdempotencyRequest], into query: inout QueryBuilder) throws -> [String] {
        var parts: [String] = []
        if !keep.isEmpty {
            // The retention runs from the claim, milliseconds earlier: the answer leaves the
            // indexed expires_at alone, so the row's new version can stay in its page without
            // new index entries (a HOT update), where moving it wrote two index entries a hold.
            parts.append("""
                UPDATE idempotency_keys AS i SET status = a.status, response_body = decode(a.body, 'hex')
                  FROM unnest(\(try query.bind(keep.map(\.0.apiKeyId)))::text[], \(try query.bind(keep.map(\.0.key)))::text[],
                              \(try query.bind(keep.map { Int32($0.1.status) }))::int4[], \(try query.bind(keep.map { Self.hex($0.1.body) }))::text[])
                       AS a(id, key, status, body)
                 WHERE i.api_key_id = a.id AND i.key = a.key
                """)
        }
        if !free.isEmpty {
            parts.append("""
                DELETE FROM idempotency_keys
                 WHERE (api_key_id, key) IN (SELECT * FROM unnest(\(try query.bind(free.map(\.apiKeyId)))::text[], \(try query.bind(free.map(\.key)))::text[]))
                """)
        }
        return parts
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
