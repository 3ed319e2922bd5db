import NIOCore
import OmnistockCore
import OmnistockStore

/// The answer of `GET /v1/availability`, written straight from the core's summary: per SKU
/// asked, what can be sold, shipped and picked up where, and the ledger `position` the figures
/// reflect. The document (sorted keys, absent nils) is the one the OpenAPI document describes;
/// a test checks it against JSONEncoder's encoding of the same figures.
///
/// No view is built in between: mapping the summary into Codable structs first copied every
/// location's strings per position (a measured seventh of a cart read, perf).
enum AvailabilityJSON {
    static func write(_ summary: AvailabilitySummary, position: Int64) -> ByteBuffer {
        let positions = summary.items.reduce(0) { $0 + $1.locations.count }
        var writer = JSONWriter(capacity: 256 + summary.items.count * 64 + positions * 230)
        // A location's own members (kind, id, name) are the same for every SKU: written once
        // per answer and copied into each of its entries.
        var fixed = [[UInt8]?](repeating: nil, count: summary.locations.count)
        writer.beginObject()
        writer.key("items")
        writer.beginArray()
        for item in summary.items {
            writer.beginObject()
            writer.key("available"); writer.integer(item.available)
            writer.key("locations")
            writer.beginArray()
            for entry in item.locations { write(entry, of: summary, fixed: &fixed, into: &writer) }
            writer.endArray()
            writer.key("pickup")
            writer.beginArray()
            for index in item.pickup {
                let point = item.locations[index]
                let location = summary.locations[Int(point.location)]!
                writer.beginObject()
                writer.key("available"); writer.integer(point.available)
                if let distance = point.distanceKilometres { writer.key("distanceKm"); writer.number(distance) }
                writer.key("locationId"); writer.string(location.id)
                writer.key("name"); writer.string(location.name)
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
        return writer.byteBuffer
    }

    private static func write(
        _ entry: AvailabilitySummary.AtLocation, of summary: AvailabilitySummary, fixed: inout [[UInt8]?], into writer: inout JSONWriter
    ) {
        let ordinal = Int(entry.location)
        if fixed[ordinal] == nil { fixed[ordinal] = fixedMembers(of: summary.locations[ordinal]!) }
        // Hand-written (one append per member name), the shape of most of an answer's bytes;
        // members in sorted order, as JSONEncoder writes them (the test compares both).
        writer.beginHandWrittenValue()
        writer.append("{\"allocated\":"); writer.appendInteger(entry.position.allocated)
        writer.append(",\"available\":"); writer.appendInteger(entry.available)
        if let distance = entry.distanceKilometres { writer.append(",\"distanceKm\":"); writer.appendNumber(distance) }
        writer.append(",\"held\":"); writer.appendInteger(entry.position.held)
        writer.append(",\"incoming\":"); writer.appendInteger(entry.position.incoming)
        writer.append(","); writer.append(fixed[ordinal]!)
        writer.append(",\"onHand\":"); writer.appendInteger(entry.position.onHand)
        writer.append(",\"safetyStock\":"); writer.appendInteger(entry.safetyStock)
        writer.append(",\"short\":"); writer.appendInteger(entry.position.shortfall)
        writer.append("}")
    }

    /// `"kind":…,"locationId":…,"name":…` of a location.
    private static func fixedMembers(of location: Location) -> [UInt8] {
        JSONWriter.members { writer in
            writer.key("kind"); writer.string(location.kind.rawValue)
            writer.key("locationId"); writer.string(location.id)
            writer.key("name"); writer.string(location.name)
        }
    }
}
