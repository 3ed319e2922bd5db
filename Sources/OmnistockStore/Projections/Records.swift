import Foundation
import Logging
import OmnistockCore
import PostgresNIO

/// A stock position as the projection holds it.
public struct PositionRecord: Sendable, Equatable {
    public var key: StockKey
    public var position: StockPosition
    /// The version of the position's ledger stream.
    public var version: Int64

    public init(key: StockKey, position: StockPosition, version: Int64) {
        self.key = key
        self.position = position
        self.version = version
    }

    /// A position as its row's columns hold it (the writers' locking reads).
    init(
        sku: String, locationId: String, onHand: Int64, held: Int64, allocated: Int64, safetyStock: Int64?, incoming: Int64,
        lastCountedAtMs: Int64?, version: Int64
    ) {
        self.init(
            key: StockKey(sku: sku, locationId: locationId),
            position: StockPosition(
                onHand: onHand, held: held, allocated: allocated, safetyStock: safetyStock, incoming: incoming,
                lastCountedAtMs: lastCountedAtMs),
            version: version)
    }
}

extension PositionRecord {
    /// A row no event of its stream wrote and with nothing in any bucket: locked (created) to
    /// decide, and not a position of the ledger.
    var isVacant: Bool {
        version == 0 && position.onHand == 0 && position.held == 0 && position.allocated == 0 && position.incoming == 0
    }
}

/// A hold as the projection holds it.
public struct HoldRecord: Sendable, Equatable {
    public var hold: Hold
    /// The version of the hold's ledger stream.
    public var version: Int64

    public init(hold: Hold, version: Int64) {
        self.hold = hold
        self.version = version
    }
}

/// An order as the projection holds it.
public struct OrderRecord: Sendable, Equatable {
    public var order: Order
    public var version: Int64

    public init(order: Order, version: Int64) {
        self.order = order
        self.version = version
    }
}

/// A transfer as the projection holds it.
public struct TransferRecord: Sendable, Equatable {
    public var transfer: Transfer
    public var version: Int64

    public init(transfer: Transfer, version: Int64) {
        self.transfer = transfer
        self.version = version
    }
}

/// An order given to a location on one UTC day (what daily capacity counts).
public struct OrderAssignment: Hashable, Comparable, Sendable {
    public var locationId: String
    public var day: Int64
    public var orderId: String

    public static func < (lhs: Self, rhs: Self) -> Bool {
        (lhs.locationId, lhs.day, lhs.orderId) < (rhs.locationId, rhs.day, rhs.orderId)
    }
}
