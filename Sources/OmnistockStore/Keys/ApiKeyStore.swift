import Crypto
import Foundation
import Logging
import NIOCore
import OmnistockCore
import PostgresNIO
import Synchronization

/// An API key as listed: never its secret.
public struct ApiKeyRecord: Sendable, Equatable {
    public var id: String
    public var name: String
    public var role: Role
    public var scope: LocationScope
    public var createdAt: Date
    public var createdBy: String?
    public var revokedAt: Date?
}

/// API keys: creation (the secret is returned once), revocation, and authentication.
///
/// Authentication results are cached for a few seconds so that the hot path does not pay a
/// database round trip per request; a revocation on this instance clears the cache at once,
/// other instances see it within `cacheSeconds`.
public final class ApiKeyStore: Sendable {
    let logger: Logger
    let cacheSeconds: Double
    private let cache = Mutex<[Data: (principal: Principal, until: ContinuousClock.Instant)]>([:])
    /// Bumped by every revocation, so a lookup that read a key before it was revoked does not
    /// put it back in the cache afterwards.
    private let generation = Atomic<Int>(0)

    public init(cacheSeconds: Double, logger: Logger) {
        self.cacheSeconds = cacheSeconds
        self.logger = logger
    }

    /// Creates a key; returns its record and the secret bearer token, shown only this once.
    public func create(
        _ spec: ApiKeySpec, createdBy: String?, in transaction: Transaction
    ) async throws -> (ApiKeyRecord, token: String) {
        let connection = transaction.connection
        let id = "key_" + Self.randomToken(bytes: 9)
        let token = "oms_" + Self.randomToken(bytes: 32)
        let hash = Array(SHA256.hash(data: Data(token.utf8)))
        let rows = try await connection.query(
            """
            INSERT INTO api_keys (id, name, role, location_ids, secret_sha256, created_by)
            VALUES (\(id), \(spec.name), \(spec.role.rawValue), \(spec.scope.sortedIds)::text[], \(ByteBuffer(bytes: hash)), \(createdBy))
            RETURNING created_at
            """,
            logger: logger
        ).collect()
        let createdAt = try rows.first?.decode(Date.self) ?? Date()
        return (
            ApiKeyRecord(
                id: id, name: spec.name, role: spec.role, scope: spec.scope, createdAt: createdAt, createdBy: createdBy,
                revokedAt: nil),
            token
        )
    }

    /// Creates a key in a transaction of its own.
    public func create(_ spec: ApiKeySpec, createdBy: String?, on database: Database) async throws -> (ApiKeyRecord, token: String) {
        try await database.transaction { connection in
            try await self.create(spec, createdBy: createdBy, in: Transaction(connection))
        }
    }

    /// Revokes a key; returns the record as it now is, or nil when there is no such key.
    public func revoke(id: String, on database: Database) async throws -> ApiKeyRecord? {
        let record = try await database.withConnection { connection in
            try await connection.query(
                """
                UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = \(id)
                RETURNING id, name, role, location_ids, created_at, created_by, revoked_at
                """,
                logger: self.logger
            ).collect().first.map(Self.record)
        }
        cache.withLock { entries in
            generation.add(1, ordering: .sequentiallyConsistent)
            entries = entries.filter { $0.value.principal.apiKeyId != id }
        }
        return record
    }

    /// Every key, newest first, without secrets.
    public func list(on database: Database) async throws -> [ApiKeyRecord] {
        try await database.withConnection { connection in
            try await connection.query(
                """
                SELECT id, name, role, location_ids, created_at, created_by, revoked_at
                  FROM api_keys ORDER BY created_at DESC, id
                """,
                logger: self.logger
            ).collect().map(Self.record)
        }
    }

    /// The caller a bearer token belongs to, or nil for an unknown or revoked token.
    public func authenticate(token: String, on database: Database) async throws -> Principal? {
        // Tokens are bounded before hashing so a huge header costs nothing.
        guard token.utf8.count <= 128 else { return nil }
        let hash = Data(SHA256.hash(data: Data(token.utf8)))
        let now = ContinuousClock.now
        if let hit = cache.withLock({ $0[hash] }), hit.until > now {
            return hit.principal
        }
        let seen = generation.load(ordering: .sequentiallyConsistent)
        let principal = try await database.withConnection { connection in
            try await connection.query(
                """
                SELECT id, role, location_ids FROM api_keys
                 WHERE secret_sha256 = \(ByteBuffer(bytes: hash)) AND revoked_at IS NULL
                """,
                logger: self.logger
            ).collect().first.map { row in
                let (id, role, locations) = try row.decode((String, String, [String]?).self)
                guard let role = Role(rawValue: role) else { throw StoreError.corrupt("api key \(id) has role '\(role)'") }
                return Principal(apiKeyId: id, role: role, scope: locations.map { .only(Set($0)) } ?? .all)
            }
        }
        if let principal {
            cache.withLock { entries in
                guard generation.load(ordering: .sequentiallyConsistent) == seen else { return }
                if entries.count >= Limits.apiKeyCacheEntriesMax { entries.removeAll(keepingCapacity: true) }
                entries[hash] = (principal, now.advanced(by: .milliseconds(Int64(cacheSeconds * 1000))))
            }
        }
        return principal
    }

    private static func record(_ row: PostgresRow) throws -> ApiKeyRecord {
        let (id, name, role, locations, createdAt, createdBy, revokedAt) = try row.decode(
            (String, String, String, [String]?, Date, String?, Date?).self)
        guard let role = Role(rawValue: role) else { throw StoreError.corrupt("api key \(id) has role '\(role)'") }
        return ApiKeyRecord(
            id: id, name: name, role: role, scope: locations.map { .only(Set($0)) } ?? .all, createdAt: createdAt,
            createdBy: createdBy, revokedAt: revokedAt)
    }

    /// URL-safe base64 of `bytes` bytes from the system's cryptographically secure generator.
    static func randomToken(bytes count: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
