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
    /// Absent: no daily limit.
    var dailyCapacity: Int64?
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

/// A location as every endpoint shows it.
struct LocationView: Codable, Sendable {
    var id: String
    var name: String
    var kind: Location.Kind
    var latitude: Double
    var longitude: Double
    var capabilities: Location.Capabilities
    /// Absent when the location has no daily limit.
    var dailyCapacity: Int64?
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
