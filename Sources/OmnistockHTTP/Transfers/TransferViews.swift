import OmnistockCore
import OmnistockStore

/// A transfer between two locations, as its endpoints show it.
struct TransferView: Encodable {
    var id: String
    var status: String
    var fromLocationId: String
    var toLocationId: String
    var orderId: String?
    var reference: String?
    var lines: [TransferLine]
    var dispatchedAt: String
    var receivedAt: String?
    var version: Int64

    init(_ record: TransferRecord) {
        let transfer = record.transfer
        id = transfer.id
        status = transfer.status.rawValue
        fromLocationId = transfer.fromLocationId
        toLocationId = transfer.toLocationId
        orderId = transfer.orderId
        reference = transfer.reference
        lines = transfer.lines
        dispatchedAt = Timestamp.iso(transfer.dispatchedAtMs)
        receivedAt = transfer.receivedAtMs.map(Timestamp.iso)
        version = record.version
    }
}

/// A page of the transfers to a location.
struct TransferPageView: Encodable {
    var transfers: [TransferView]
    var next: String?

    func encode(to encoder: any Encoder) throws {
        enum Keys: String, CodingKey { case transfers, next }
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(transfers, forKey: .transfers)
        // `next` is always present: null on the last page.
        try container.encode(next, forKey: .next)
    }
}
