import OmnistockCore
import OmnistockStore

/// `POST /v1/stock/movements`.
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

/// `POST /v1/stock/counts`.
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

/// `PUT /v1/stock/{locationId}/{sku}/safety-stock`.
struct SafetyStockBody: Codable, Sendable {
    /// The position's own safety stock; null returns it to the location's default.
    var quantity: Int64?
}
