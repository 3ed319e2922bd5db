import OmnistockCore
import OmnistockStore

/// A hold as JSON, written by hand: it is the answer of the hot path, and Foundation's encoder
/// costs more than the rest of the answer (same document as the encoder would write, keys sorted).
enum HoldJSON {
    static func render(_ hold: Hold, nowMs: Int64) -> [UInt8] {
        var writer = JSONWriter(capacity: 320 + 96 * hold.lines.count)
        writer.beginObject()
        writer.key("allowPartial"); writer.bool(hold.allowPartial)
        if let ended = hold.endedAt(atMs: nowMs) { writer.key("endedAt"); writer.string(Timestamp.iso(ended)) }
        writer.key("expiresAt"); writer.string(Timestamp.iso(hold.expiresAtMs))
        fulfilment(hold.fulfilment, into: &writer)
        writer.key("id"); writer.string(hold.id)
        writer.key("lines")
        writer.holdLines(hold.lines)
        writer.key("placedAt"); writer.string(Timestamp.iso(hold.placedAtMs))
        if let reference = hold.reference { writer.key("reference"); writer.string(reference) }
        writer.key("status"); writer.string(hold.status(atMs: nowMs).rawValue)
        writer.key("unfilled")
        unfilled(hold.unfilled, into: &writer)
        writer.endObject()
        return writer.bytes
    }

    /// The `fulfilment` member, absent when the hold names none.
    private static func fulfilment(_ fulfilment: Fulfilment?, into writer: inout JSONWriter) {
        switch fulfilment {
        case .pickup(let locationId)?:
            writer.key("fulfilment")
            writer.beginObject()
            writer.key("locationId"); writer.string(locationId)
            writer.key("type"); writer.string("pickup")
            writer.endObject()
        case .ship(let latitude, let longitude)?:
            writer.key("fulfilment")
            writer.beginObject()
            writer.key("address")
            writer.beginObject()
            writer.key("latitude"); writer.number(latitude)
            writer.key("longitude"); writer.number(longitude)
            writer.endObject()
            writer.key("type"); writer.string("ship")
            writer.endObject()
        case nil:
            break
        }
    }

    /// The lines a partial hold could not fill, as an array.
    private static func unfilled(_ lines: [UnfilledLine], into writer: inout JSONWriter) {
        writer.beginArray()
        for line in lines {
            writer.beginObject()
            writer.key("available"); writer.integer(line.available)
            writer.key("line"); writer.integer(Int64(line.line))
            if let locationId = line.locationId { writer.key("locationId"); writer.string(locationId) }
            writer.key("requested"); writer.integer(line.requested)
            writer.key("sku"); writer.string(line.sku)
            writer.endObject()
        }
        writer.endArray()
    }
}
