import Foundation
import OmnistockCore
import OmnistockStore

/// `POST /v1/orders`.
struct OrderBody: Codable, Sendable {
    struct Line: Codable, Sendable {
        var sku: String
        var quantity: Int64
        var locationId: String?
    }
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
