import Foundation
import OmnistockCore
import OmnistockStore

/// `POST /v1/orders`.
struct OrderBody: Codable, Sendable {
    /// A line as a hold body writes it.
    typealias Line = HoldBody.Line
    var orderNumber: String
    var holdId: String?
    var lines: [Line]?
    var fulfilment: HoldBody.FulfilmentBody?
    var reference: String?

    func request() throws -> OrderRequest {
        OrderRequest(
            orderNumber: orderNumber, holdId: holdId, lines: (lines ?? []).map { RequestedLine(sku: $0.sku, quantity: $0.quantity, locationId: $0.locationId) },
            fulfilment: try fulfilment?.fulfilment(), reference: reference)
    }
}

/// `POST /v1/orders/{orderId}/collect`.
struct CollectBody: Codable, Sendable {
    var pickupCode: String
}

/// `POST /v1/orders/{orderId}/ship`.
struct ShipBody: Codable, Sendable {
    var carrier: String
    var tracking: String
    var lines: [String]?
}

/// `POST /v1/orders/{orderId}/cancel` (the body is optional).
struct CancelBody: Codable, Sendable {
    var reason: String?
}

/// `POST /v1/orders/{orderId}/returns`.
struct ReturnBody: Codable, Sendable {
    struct Line: Codable, Sendable {
        var sku: String
        var quantity: Int64
        var restock: Bool
    }
    var locationId: String
    var lines: [Line]
}

// The bodies of a store journey, read and written by hand: Foundation's decoder, and its
// encoder for the canonical form an Idempotency-Key hashes, were 2.2 % of the machine's CPU
// under the journeys bench once the orders' own JSON was hand-written (perf). What the readers
// do not take goes to the strict decoder, which reads it or names the fault (FastBodyTests).

extension OrderBody: FastBody {
    static func read(_ reader: inout JSONReader) throws(JSONReader.Mismatch) -> OrderBody {
        var orderNumber: String?, holdId: String?, lines: [Line]?, fulfilment: HoldBody.FulfilmentBody?, reference: String?
        try reader.beginObject()
        var first = true
        while let key = try reader.nextKey(first: &first) {
            switch key {
            case "orderNumber": orderNumber = try reader.string()
            case "holdId": holdId = try reader.string()
            case "lines": lines = try HoldBody.readLines(&reader)
            case "fulfilment": fulfilment = try HoldBody.FulfilmentBody.read(&reader)
            case "reference": reference = try reader.string()
            default: throw JSONReader.Mismatch()
            }
        }
        guard let orderNumber else { throw JSONReader.Mismatch() }
        return OrderBody(orderNumber: orderNumber, holdId: holdId, lines: lines, fulfilment: fulfilment, reference: reference)
    }

    /// Keys sorted, absent values left out, as `JSON.encoder` writes them; a shipping address
    /// (numbers with fractions) is left to the encoder.
    func canonicalJSON() -> [UInt8]? {
        guard fulfilment?.address == nil else { return nil }
        var writer = JSONWriter(capacity: 128 + 96 * (lines?.count ?? 0))
        writer.beginObject()
        if let fulfilment { writer.key("fulfilment"); fulfilment.writeCanonical(into: &writer) }
        if let holdId { writer.key("holdId"); writer.string(holdId) }
        if let lines { writer.key("lines"); HoldBody.writeCanonical(lines, into: &writer) }
        writer.key("orderNumber"); writer.string(orderNumber)
        if let reference { writer.key("reference"); writer.string(reference) }
        writer.endObject()
        return writer.bytes
    }
}

extension CollectBody: FastBody {
    static func read(_ reader: inout JSONReader) throws(JSONReader.Mismatch) -> CollectBody {
        var pickupCode: String?
        try reader.beginObject()
        var first = true
        while let key = try reader.nextKey(first: &first) {
            guard key == "pickupCode" else { throw JSONReader.Mismatch() }
            pickupCode = try reader.string()
        }
        guard let pickupCode else { throw JSONReader.Mismatch() }
        return CollectBody(pickupCode: pickupCode)
    }

    func canonicalJSON() -> [UInt8]? {
        var writer = JSONWriter(capacity: 64)
        writer.beginObject()
        writer.key("pickupCode"); writer.string(pickupCode)
        writer.endObject()
        return writer.bytes
    }
}
