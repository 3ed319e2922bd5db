import OmnistockCore
import OmnistockStore

/// The answer of `GET /v1/availability`: per SKU asked, what can be sold, shipped and picked up where.
struct AvailabilityView: Codable, Sendable {
    struct LocationEntry: Codable, Sendable {
        var locationId: String
        var name: String
        var kind: Location.Kind
        var onHand: Int64
        var held: Int64
        var allocated: Int64
        var safetyStock: Int64
        var incoming: Int64
        var available: Int64
        var short: Int64
        var distanceKm: Double?
    }
    struct PickupPoint: Codable, Sendable {
        var locationId: String
        var name: String
        var available: Int64
        var distanceKm: Double?
    }
    struct Item: Codable, Sendable {
        var sku: String
        /// Sellable units across every active location.
        var available: Int64
        /// Units that locations which ship orders can send.
        var ship: Int64
        /// Pickup points holding the SKU, nearest first when `near` was given.
        var pickup: [PickupPoint]
        var locations: [LocationEntry]
    }
    /// The ledger position the figures reflect: every event up to it, none after it.
    var position: Int64
    var items: [Item]
}

extension AvailabilityView {
    /// The same document JSONEncoder writes for this view (sorted keys, absent nils).
    func json() -> [UInt8] {
        var writer = JSONWriter(capacity: 256 + items.count * 64 + items.reduce(0) { $0 + $1.locations.count } * 200)
        // A location's own members (kind, id, name) are the same for every SKU: written once
        // per answer and copied into each of its entries.
        var fixed: [String: [UInt8]] = [:]
        writer.beginObject()
        writer.key("items")
        writer.beginArray()
        for item in items {
            writer.beginObject()
            writer.key("available"); writer.integer(item.available)
            writer.key("locations")
            writer.beginArray()
            for entry in item.locations {
                writer.beginObject()
                writer.key("allocated"); writer.integer(entry.allocated)
                writer.key("available"); writer.integer(entry.available)
                if let distance = entry.distanceKm { writer.key("distanceKm"); writer.number(distance) }
                writer.key("held"); writer.integer(entry.held)
                writer.key("incoming"); writer.integer(entry.incoming)
                writer.members(fixed[entry.locationId] ?? Self.fixedMembers(of: entry, into: &fixed))
                writer.key("onHand"); writer.integer(entry.onHand)
                writer.key("safetyStock"); writer.integer(entry.safetyStock)
                writer.key("short"); writer.integer(entry.short)
                writer.endObject()
            }
            writer.endArray()
            writer.key("pickup")
            writer.beginArray()
            for point in item.pickup {
                writer.beginObject()
                writer.key("available"); writer.integer(point.available)
                if let distance = point.distanceKm { writer.key("distanceKm"); writer.number(distance) }
                writer.key("locationId"); writer.string(point.locationId)
                writer.key("name"); writer.string(point.name)
                writer.endObject()
            }
            writer.endArray()
            writer.key("ship"); writer.integer(item.ship)
            writer.key("sku"); writer.string(item.sku)
            writer.endObject()
        }
        writer.endArray()
        writer.key("position"); writer.integer(position)
        writer.endObject()
        return writer.bytes
    }

    /// `"kind":…,"locationId":…,"name":…` of an entry's location, kept for its other entries.
    private static func fixedMembers(of entry: LocationEntry, into fixed: inout [String: [UInt8]]) -> [UInt8] {
        let members = JSONWriter.members { writer in
            writer.key("kind"); writer.string(entry.kind.rawValue)
            writer.key("locationId"); writer.string(entry.locationId)
            writer.key("name"); writer.string(entry.name)
        }
        fixed[entry.locationId] = members
        return members
    }
}
