import Foundation
import OmnistockCore
import OmnistockStore

/// A position as every stock endpoint shows it.
struct PositionView: Codable, Sendable {
    var sku: String
    var locationId: String
    var onHand: Int64
    var held: Int64
    var allocated: Int64
    /// The safety stock in force (the position's own, else the location's default).
    var safetyStock: Int64
    /// True when the position sets its own safety stock.
    var ownSafetyStock: Bool
    var incoming: Int64
    var available: Int64
    /// How much more is promised than is on hand (0 unless the position is short).
    var short: Int64
    var version: Int64?
    var asOf: Date?

    init(key: StockKey, position: StockPosition, safetyStockDefault: Int64, version: Int64?, asOf: Date? = nil) {
        self.sku = key.sku
        self.locationId = key.locationId
        self.onHand = position.onHand
        self.held = position.held
        self.allocated = position.allocated
        self.safetyStock = position.effectiveSafetyStock(locationDefault: safetyStockDefault)
        self.ownSafetyStock = position.safetyStock != nil
        self.incoming = position.incoming
        self.available = position.available(locationDefault: safetyStockDefault)
        self.short = position.shortfall
        self.version = version
        self.asOf = asOf
    }
}

/// The answer to a movement or a count.
struct StockWriteView: Codable, Sendable {
    /// Events appended by the request.
    var events: Int
    /// Positions changed.
    var positions: Int
    /// Positions that are short after the request (more promised than on hand).
    var short: [PositionView]
    /// Count differences: each SKU whose count differed from the ledger at `countedAt`.
    var differences: [CountDifference]?
}

/// A SKU whose count differed from the ledger.
struct CountDifference: Codable, Sendable {
    var sku: String
    var expected: Int64
    var counted: Int64
    var applied: Int64
}

/// A page of a position's history: ledger events, each with the balances right after it.
struct HistoryView: Codable, Sendable {
    var entries: [EventView]
    var nextCursor: String?
}
