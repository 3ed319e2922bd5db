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
