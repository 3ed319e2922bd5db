import Foundation
import OmnistockCore
import OmnistockStore

/// An order as every order endpoint shows it; the pickup code and the tracking link only in the
/// answer that made it.
struct OrderView: Encodable {
    struct Line: Encodable {
        var id: String
        var sku: String
        var quantity: Int64
        var locationId: String
        var status: String
        var transferId: String?
        var replaces: String?
        var returned: Int64
        var damaged: Int64
        var reason: String?
    }
    struct ShipmentView: Encodable {
        var carrier: String
        var tracking: String
        var lines: [String]
        var shippedAt: String
    }
    struct ReturnView: Encodable {
        var locationId: String
        var lines: [ReturnLine]
        var returnedAt: String
    }
    var id: String
    var orderNumber: String
    var status: String
    var holdId: String?
    var reference: String?
    var fulfilment: Fulfilment
    var lines: [Line]
    var pickupCode: String?
    /// The customer's tracking page, only in the answer that made the order.
    var trackingUrl: String?
    var wrongPickupCodes: Int
    var pickupLocked: Bool
    var createdAt: String
    var updatedAt: String
    /// When a pickup order is promised ready: its creation plus the pickup promise.
    var readyBy: String?
    var readyAt: String?
    var pickupExpiresAt: String?
    var endedAt: String?
    var shipments: [ShipmentView]
    var returns: [ReturnView]
    var cancelReason: String?
    var version: Int64

    init(_ record: OrderRecord, pickupCode: String?, trackingToken: String? = nil, promiseSeconds: Int64) {
        let order = record.order
        id = order.id
        orderNumber = order.orderNumber
        status = order.status.rawValue
        holdId = order.holdId
        reference = order.reference
        fulfilment = order.fulfilment
        lines = order.lines.map {
            Line(
                id: $0.id, sku: $0.sku, quantity: $0.quantity, locationId: $0.locationId, status: $0.status.rawValue, transferId: $0.transferId,
                replaces: $0.replaces, returned: $0.returned, damaged: $0.damaged, reason: $0.reason)
        }
        self.pickupCode = pickupCode
        trackingUrl = trackingToken.map(TrackingLinkView.url)
        wrongPickupCodes = order.wrongPickupCodes
        pickupLocked = order.pickupLocked
        createdAt = Timestamp.iso(order.createdAtMs)
        updatedAt = Timestamp.iso(order.updatedAtMs)
        readyBy = order.pickupLocationId == nil ? nil : Timestamp.iso(order.createdAtMs + promiseSeconds * 1_000)
        readyAt = order.readyAtMs.map(Timestamp.iso)
        pickupExpiresAt = order.pickupExpiresAtMs.map(Timestamp.iso)
        endedAt = order.endedAtMs.map(Timestamp.iso)
        shipments = order.shipments.map {
            ShipmentView(carrier: $0.carrier, tracking: $0.tracking, lines: $0.lines, shippedAt: Timestamp.iso($0.shippedAtMs))
        }
        returns = order.returns.map { ReturnView(locationId: $0.locationId, lines: $0.lines, returnedAt: Timestamp.iso($0.returnedAtMs)) }
        cancelReason = order.cancelReason
        version = record.version
    }

    /// The answer's bytes, written by hand (`write(into:)`): JSONEncoder was a measured part of
    /// every order step's CPU (OrderJSON says how much).
    static func render(_ record: OrderRecord, pickupCode: String?, trackingToken: String? = nil, promiseSeconds: Int64) throws -> [UInt8] {
        let view = OrderView(record, pickupCode: pickupCode, trackingToken: trackingToken, promiseSeconds: promiseSeconds)
        var writer = JSONWriter(capacity: 768 + 224 * view.lines.count)
        view.write(into: &writer)
        return writer.bytes
    }

    /// The view as `JSON.encoder` writes it (sorted keys, absent values left out); a test
    /// compares the two.
    func write(into writer: inout JSONWriter) {
        writer.beginObject()
        if let cancelReason { writer.key("cancelReason"); writer.string(cancelReason) }
        writer.key("createdAt"); writer.string(createdAt)
        if let endedAt { writer.key("endedAt"); writer.string(endedAt) }
        writer.key("fulfilment"); writer.fulfilment(fulfilment)
        if let holdId { writer.key("holdId"); writer.string(holdId) }
        writer.key("id"); writer.string(id)
        writer.key("lines"); writer.beginArray()
        for line in lines { line.write(into: &writer) }
        writer.endArray()
        writer.key("orderNumber"); writer.string(orderNumber)
        if let pickupCode { writer.key("pickupCode"); writer.string(pickupCode) }
        if let pickupExpiresAt { writer.key("pickupExpiresAt"); writer.string(pickupExpiresAt) }
        writer.key("pickupLocked"); writer.bool(pickupLocked)
        if let readyAt { writer.key("readyAt"); writer.string(readyAt) }
        if let readyBy { writer.key("readyBy"); writer.string(readyBy) }
        if let reference { writer.key("reference"); writer.string(reference) }
        writer.key("returns"); writer.beginArray()
        for taken in returns {
            writer.beginObject()
            writer.key("lines"); writer.returnLines(taken.lines)
            writer.key("locationId"); writer.string(taken.locationId)
            writer.key("returnedAt"); writer.string(taken.returnedAt)
            writer.endObject()
        }
        writer.endArray()
        writer.key("shipments"); writer.beginArray()
        for shipment in shipments {
            writer.beginObject()
            writer.key("carrier"); writer.string(shipment.carrier)
            writer.key("lines"); writer.strings(shipment.lines)
            writer.key("shippedAt"); writer.string(shipment.shippedAt)
            writer.key("tracking"); writer.string(shipment.tracking)
            writer.endObject()
        }
        writer.endArray()
        writer.key("status"); writer.string(status)
        if let trackingUrl { writer.key("trackingUrl"); writer.string(trackingUrl) }
        writer.key("updatedAt"); writer.string(updatedAt)
        writer.key("version"); writer.integer(version)
        writer.key("wrongPickupCodes"); writer.integer(Int64(wrongPickupCodes))
        writer.endObject()
    }
}

extension OrderView.Line {
    func write(into writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("damaged"); writer.integer(damaged)
        writer.key("id"); writer.string(id)
        writer.key("locationId"); writer.string(locationId)
        writer.key("quantity"); writer.integer(quantity)
        if let reason { writer.key("reason"); writer.string(reason) }
        if let replaces { writer.key("replaces"); writer.string(replaces) }
        writer.key("returned"); writer.integer(returned)
        writer.key("sku"); writer.string(sku)
        writer.key("status"); writer.string(status)
        if let transferId { writer.key("transferId"); writer.string(transferId) }
        writer.endObject()
    }
}

/// A page of a store's queue.
struct OrderPageView: Encodable {
    var orders: [OrderView]
    var next: String?
    /// The ledger head read before the page: the page reflects at least every event up to it,
    /// so a live view that streams events after it misses none.
    var position: Int64

    func encode(to encoder: any Encoder) throws {
        enum Keys: String, CodingKey { case orders, next, position }
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(orders, forKey: .orders)
        try container.encode(position, forKey: .position)
        // `next` is always present: null on the last page.
        try container.encode(next, forKey: .next)
    }
}

/// What a return needs of an order: its lines and how much of each can come back.
struct ReturnableOrderView: Encodable {
    struct Line: Encodable {
        var id: String
        var sku: String
        var quantity: Int64
        var status: String
        var returned: Int64
        var damaged: Int64
        /// Units handed over and not yet returned.
        var returnable: Int64
    }
    var id: String
    var orderNumber: String
    var status: String
    var fulfilmentType: String
    var lines: [Line]

    init(_ order: Order) {
        id = order.id
        orderNumber = order.orderNumber
        status = order.status.rawValue
        fulfilmentType = order.pickupLocationId == nil ? "ship" : "pickup"
        lines = order.lines.map {
            Line(id: $0.id, sku: $0.sku, quantity: $0.quantity, status: $0.status.rawValue, returned: $0.returned, damaged: $0.damaged, returnable: $0.returnable)
        }
    }
}
