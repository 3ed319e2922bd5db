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
