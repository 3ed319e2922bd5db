import OmnistockCore

/// `POST /v1/transfers`.
struct TransferBody: Codable, Sendable {
    var fromLocationId: String
    var toLocationId: String
    var lines: [SkuQuantity]
    var reference: String?
}

/// `POST /v1/transfers/{transferId}/receive`.
struct ReceiveBody: Codable, Sendable {
    var lines: [SkuQuantity]
}
