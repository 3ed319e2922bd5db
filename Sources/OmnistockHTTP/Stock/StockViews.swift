import Foundation
import OmnistockCore
import OmnistockStore

/// Timestamps in bodies and query strings are RFC 3339 / ISO 8601, with or without fractions.
enum Timestamp {
    static func milliseconds(_ text: String) -> Int64? {
        for strategy in [
            Date.ISO8601FormatStyle(includingFractionalSeconds: true), Date.ISO8601FormatStyle(includingFractionalSeconds: false),
        ] {
            if let date = try? Date(text, strategy: strategy) { return Int64((date.timeIntervalSince1970 * 1000).rounded()) }
        }
        return nil
    }

    static func nowMilliseconds() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }

    static func date(_ milliseconds: Int64) -> Date { Date(timeIntervalSince1970: Double(milliseconds) / 1000) }
}

struct MovementsBody: Codable, Sendable {
    struct Line: Codable, Sendable {
        var sku: String
        var locationId: String
        var kind: MovementKind
        var quantity: Int64
        var reason: String?
        var reference: String?
        var occurredAt: String?
    }
    var movements: [Line]

    /// The core's lines; a malformed `occurredAt` is named with its line.
    func lines() throws -> [MovementLine] {
        var faults: [Rejection] = []
        let lines = movements.enumerated().map { index, line in
            var occurredAtMs: Int64?
            if let text = line.occurredAt {
                occurredAtMs = Timestamp.milliseconds(text)
                if occurredAtMs == nil {
                    faults.append(.inLine(path: "movements/\(index)", .outOfRange(field: "occurredAt", lower: "an RFC 3339 time", upper: "now")))
                }
            }
            return MovementLine(
                sku: line.sku, locationId: line.locationId, kind: line.kind, quantity: line.quantity, reason: line.reason,
                reference: line.reference, occurredAtMs: occurredAtMs)
        }
        if !faults.isEmpty { throw Problem(Rejections(faults)) }
        return lines
    }
}

struct CountBody: Codable, Sendable {
    struct Line: Codable, Sendable {
        var sku: String
        var quantity: Int64
    }
    var locationId: String
    var countedAt: String
    var full: Bool?
    var lines: [Line]

    func count() throws -> Count {
        guard let countedAtMs = Timestamp.milliseconds(countedAt) else {
            throw Problem(.outOfRange(field: "countedAt", lower: "an RFC 3339 time", upper: "now"))
        }
        return Count(
            locationId: locationId, countedAtMs: countedAtMs, full: full ?? false,
            lines: lines.map { CountLine(sku: $0.sku, quantity: $0.quantity) })
    }
}

struct SafetyStockBody: Codable, Sendable {
    /// The position's own safety stock; null returns it to the location's default.
    var quantity: Int64?
}

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

struct AvailabilityView: Codable, Sendable {
    struct LocationEntry: Codable, Sendable {
        var locationId: String
        var name: String
        var kind: Location.Kind
        var onHand: Int64
        var held: Int64
        var allocated: Int64
        var safetyStock: Int64
        var incoming: Int64
        var available: Int64
        var short: Int64
        var distanceKm: Double?
    }
    struct PickupPoint: Codable, Sendable {
        var locationId: String
        var name: String
        var available: Int64
        var distanceKm: Double?
    }
    struct Item: Codable, Sendable {
        var sku: String
        /// Sellable units across every active location.
        var available: Int64
        /// Units that locations which ship orders can send.
        var ship: Int64
        /// Pickup points holding the SKU, nearest first when `near` was given.
        var pickup: [PickupPoint]
        var locations: [LocationEntry]
    }
    var items: [Item]
}
