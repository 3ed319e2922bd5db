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

    static func render(_ record: OrderRecord, pickupCode: String?, trackingToken: String? = nil, promiseSeconds: Int64) throws -> [UInt8] {
        Array(try JSON.encoder.encode(OrderView(record, pickupCode: pickupCode, trackingToken: trackingToken, promiseSeconds: promiseSeconds)))
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
