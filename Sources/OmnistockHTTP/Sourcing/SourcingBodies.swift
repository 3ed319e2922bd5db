import OmnistockCore

/// A line of a sourcing preview, a transfer or a receipt.
struct SkuQuantity: Codable, Sendable {
    var sku: String
    var quantity: Int64
}

/// `POST /v1/sourcing/plan`: the lines, and where they go (a destination or a fulfilment).
struct PlanBody: Codable, Sendable {
    struct Point: Codable, Sendable {
        var latitude: Double
        var longitude: Double
    }
    var lines: [SkuQuantity]
    var destination: Point?
    var fulfilment: HoldBody.FulfilmentBody?
}
