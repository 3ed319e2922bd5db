import Foundation
import OmnistockCore
import OmnistockStore

/// The body of `POST /v1/api-keys`.
struct ApiKeyBody: Codable, Sendable {
    var name: String
    var role: Role
    var locations: [String]?
}

/// A key as admins see it.
struct ApiKeyView: Codable, Sendable {
    var id: String
    var name: String
    var role: Role
    /// Absent when the key acts on every location.
    var locations: [String]?
    var createdAt: Date
    var createdBy: String?
    var revokedAt: Date?
    /// The bearer token: present only in the response that created the key.
    var key: String?

    init(_ record: ApiKeyRecord, key: String? = nil) {
        self.id = record.id
        self.name = record.name
        self.role = record.role
        self.locations = record.scope.sortedIds
        self.createdAt = record.createdAt
        self.createdBy = record.createdBy
        self.revokedAt = record.revokedAt
        self.key = key
    }
}

/// The calling key, as `GET /v1/me` shows it.
struct CallerView: Encodable {
    var apiKeyId: String
    var role: Role
    /// The locations the key is bound to, sorted; null when it acts on every location.
    var locationIds: [String]?

    init(_ principal: Principal) {
        apiKeyId = principal.apiKeyId
        role = principal.role
        locationIds = principal.scope.sortedIds
    }

    func encode(to encoder: any Encoder) throws {
        enum Keys: String, CodingKey { case apiKeyId, role, locationIds }
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(apiKeyId, forKey: .apiKeyId)
        try container.encode(role, forKey: .role)
        // Always present: null says "every location", not "unknown".
        try container.encode(locationIds, forKey: .locationIds)
    }
}
