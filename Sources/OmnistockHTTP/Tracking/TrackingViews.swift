import Foundation
import OmnistockCore
import OmnistockStore

/// An order as its customer's tracking link shows it: status, steps with their times, lines,
/// where to collect it (and by when it is promised, and until when it waits) or how it was
/// shipped. Never the pickup code, the order's reference, its stock locations or its id.
struct TrackingView: Encodable {
    struct Step: Encodable {
        var step: String
        var at: String
        var lineId: String?
        var sku: String?
        var carrier: String?
        var tracking: String?
        var reason: String?
        var replacedBy: String?
    }
    struct Line: Encodable {
        var id: String
        var sku: String
        var quantity: Int64
        var status: String
        var replaces: String?
        var returned: Int64
    }
    struct Pickup: Encodable {
        var name: String
        var latitude: Double
        var longitude: Double
        /// RFC 5870: the phone offers the customer's own map application for it.
        var geoUri: String
        /// The order time plus the pickup promise (`OMS_PICKUP_PROMISE_SECONDS`).
        var readyBy: String
        var readyAt: String?
        /// Once ready: until when the store keeps it.
        var waitsUntil: String?
    }
    struct Shipment: Encodable {
        var carrier: String
        var tracking: String
        var shippedAt: String
        var lines: [String]
    }
    var orderNumber: String
    var status: String
    var fulfilment: String
    var placedAt: String
    var updatedAt: String
    var endedAt: String?
    var steps: [Step]
    var lines: [Line]
    var pickup: Pickup?
    var shipments: [Shipment]
    /// The ledger position of the last change shown (the stream's event id).
    var position: Int64

    init(_ tracking: OrderTracking, pickupLocation: Location?, promiseSeconds: Int64) {
        let order = tracking.order
        orderNumber = order.orderNumber
        status = order.status.rawValue
        fulfilment = order.pickupLocationId == nil ? "ship" : "pickup"
        placedAt = Timestamp.iso(order.createdAtMs)
        updatedAt = Timestamp.iso(order.updatedAtMs)
        endedAt = order.endedAtMs.map(Timestamp.iso)
        steps = tracking.steps.map {
            Step(
                step: $0.kind.rawValue, at: Timestamp.iso($0.atMs), lineId: $0.lineId, sku: $0.sku, carrier: $0.carrier, tracking: $0.tracking,
                reason: $0.reason, replacedBy: $0.replacedBy)
        }
        lines = order.lines.map {
            Line(id: $0.id, sku: $0.sku, quantity: $0.quantity, status: $0.status.rawValue, replaces: $0.replaces, returned: $0.returned)
        }
        pickup = pickupLocation.map { location in
            Pickup(
                name: location.name, latitude: location.latitude, longitude: location.longitude,
                geoUri: "geo:\(location.latitude),\(location.longitude)",
                readyBy: Timestamp.iso(order.createdAtMs + promiseSeconds * 1_000), readyAt: order.readyAtMs.map(Timestamp.iso),
                waitsUntil: order.status == .ready ? order.pickupExpiresAtMs.map(Timestamp.iso) : nil)
        }
        shipments = order.shipments.map {
            Shipment(carrier: $0.carrier, tracking: $0.tracking, shippedAt: Timestamp.iso($0.shippedAtMs), lines: $0.lines)
        }
        position = tracking.position
    }

    static func render(_ tracking: OrderTracking, pickupLocation: Location?, promiseSeconds: Int64) throws -> [UInt8] {
        Array(try JSON.encoder.encode(TrackingView(tracking, pickupLocation: pickupLocation, promiseSeconds: promiseSeconds)))
    }
}

/// The answer of a revocation: the order's new tracking link.
struct TrackingLinkView: Encodable {
    /// Nil in the answer kept for a replay of the Idempotency-Key: the token is not kept.
    var trackingUrl: String?
}
