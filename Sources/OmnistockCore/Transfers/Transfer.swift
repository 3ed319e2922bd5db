public enum TransferStatus: String, Codable, CaseIterable, Sendable {
    case inTransit = "in-transit"
    case received
}

public struct TransferLine: Equatable, Codable, Sendable {
    public var sku: String
    public var quantity: Int64
    public var received: Int64?
    public var lost: Int64?

    public init(sku: String, quantity: Int64, received: Int64? = nil, lost: Int64? = nil) {
        self.sku = sku
        self.quantity = quantity
        self.received = received
        self.lost = lost
    }
}

public struct Transfer: Equatable, Codable, Sendable {
    public var id: String
    public var status: TransferStatus
    public var fromLocationId: String
    public var toLocationId: String
    /// The pickup order the transfer brings lines for, when it was made for one.
    public var orderId: String?
    public var reference: String?
    public var lines: [TransferLine]
    public var dispatchedAtMs: Int64
    public var receivedAtMs: Int64?

    public init(
        id: String, status: TransferStatus, fromLocationId: String, toLocationId: String, orderId: String?, reference: String?,
        lines: [TransferLine], dispatchedAtMs: Int64, receivedAtMs: Int64? = nil
    ) {
        self.id = id
        self.status = status
        self.fromLocationId = fromLocationId
        self.toLocationId = toLocationId
        self.orderId = orderId
        self.reference = reference
        self.lines = lines
        self.dispatchedAtMs = dispatchedAtMs
        self.receivedAtMs = receivedAtMs
    }

    public static func stream(_ id: String) -> String { "transfer-\(id)" }
}

public enum TransferStep: String, Codable, CaseIterable, Sendable {
    case dispatched
    case received

    public var type: String { "transfer.\(rawValue)" }
}

/// One step of a transfer: the transfer after it, and what it did to `incoming`.
public struct TransferRecorded: Equatable, Codable, Sendable {
    public var step: TransferStep
    public var transfer: Transfer
    public var changes: [PositionChange]
    public var occurredAtMs: Int64

    public init(step: TransferStep, transfer: Transfer, changes: [PositionChange], occurredAtMs: Int64) {
        self.step = step
        self.transfer = transfer
        self.changes = changes
        self.occurredAtMs = occurredAtMs
    }
}
