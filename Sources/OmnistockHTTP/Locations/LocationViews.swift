import Foundation
import OmnistockCore
import OmnistockStore

/// The body of `PUT /v1/locations/{locationId}`.
struct LocationBody: Codable, Sendable {
    var name: String
    var kind: Location.Kind
    var latitude: Double
    var longitude: Double
    var capabilities: Location.Capabilities
    var dailyCapacity: Int64
    var priority: Int64?
    var pickupWindowDays: Int64?
    var active: Bool?
    var safetyStockDefault: Int64?

    func location(id: String) -> Location {
        Location(
            id: id, name: name, kind: kind, latitude: latitude, longitude: longitude, capabilities: capabilities,
            dailyCapacity: dailyCapacity, priority: priority ?? Limits.priorityDefault,
            pickupWindowDays: pickupWindowDays ?? Limits.pickupWindowDaysDefault, active: active ?? true,
            safetyStockDefault: safetyStockDefault ?? 0)
    }
}

struct LocationView: Codable, Sendable {
    var id: String
    var name: String
    var kind: Location.Kind
    var latitude: Double
    var longitude: Double
    var capabilities: Location.Capabilities
    var dailyCapacity: Int64
    var priority: Int64
    var pickupWindowDays: Int64
    var active: Bool
    var safetyStockDefault: Int64
    var version: Int64
    var createdAt: Date
    var updatedAt: Date

    init(_ record: LocationRecord) {
        let location = record.location
        self.id = location.id
        self.name = location.name
        self.kind = location.kind
        self.latitude = location.latitude
        self.longitude = location.longitude
        self.capabilities = location.capabilities
        self.dailyCapacity = location.dailyCapacity
        self.priority = location.priority
        self.pickupWindowDays = location.pickupWindowDays
        self.active = location.active
        self.safetyStockDefault = location.safetyStockDefault
        self.version = record.version
        self.createdAt = record.createdAt
        self.updatedAt = record.updatedAt
    }
}

/// A page of a listing; `nextCursor` is absent on the last page.
struct PageView<Item: Codable & Sendable>: Codable, Sendable {
    var items: [Item]
    var nextCursor: String?
}

/// The body of `POST /v1/api-keys`.
struct ApiKeyBody: Codable, Sendable {
    var name: String
    var role: Role
    var locations: [String]?
}

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

struct EventView: Codable, Sendable {
    var position: Int64
    var stream: String
    var streamVersion: Int64
    var type: String
    var recordedAt: Date
    var locationIds: [String]
    var data: JSONValue
    var metadata: JSONValue
    /// In a position's history only: its buckets right after this event.
    var balance: PositionView?

    init(_ event: RecordedEvent, balance: PositionView? = nil) throws {
        self.position = event.position
        self.stream = event.stream
        self.streamVersion = event.streamVersion
        self.type = event.type
        self.recordedAt = event.recordedAt
        self.locationIds = event.locationIds
        self.data = try JSONValue.parse(event.payload)
        self.metadata = try JSONValue.parse(event.metadata)
        self.balance = balance
    }
}

struct EventPageView: Codable, Sendable {
    var events: [EventView]
    /// Pass as `after` to read on; equal to the request's `after` when nothing new was found.
    var nextAfter: Int64
    /// The last committed position when the page was read: `nextAfter == headPosition` means caught up.
    var headPosition: Int64
}
