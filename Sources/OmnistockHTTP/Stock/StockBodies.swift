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

extension MovementsBody: FastBody {
    /// 10,000-line bodies are the ingest path: the decoder's per-field cost was most of a
    /// request's own CPU.
    static func read(_ reader: inout JSONReader) throws(JSONReader.Mismatch) -> MovementsBody {
        var movements: [Line]?
        try reader.beginObject()
        var first = true
        while let key = try reader.nextKey(first: &first) {
            guard key == "movements", movements == nil else { throw JSONReader.Mismatch() }
            var lines: [Line] = []
            try reader.beginArray()
            var firstLine = true
            while try reader.nextElement(first: &firstLine) { lines.append(try Line.read(&reader)) }
            movements = lines
        }
        guard let movements else { throw JSONReader.Mismatch() }
        return MovementsBody(movements: movements)
    }

    /// Keys sorted, absent values left out, as `JSON.encoder` writes them.
    func canonicalJSON() -> [UInt8]? {
        var writer = JSONWriter(capacity: 64 + 128 * movements.count)
        writer.beginObject()
        writer.key("movements")
        writer.beginArray()
        for line in movements {
            writer.beginObject()
            writer.key("kind"); writer.string(line.kind.rawValue)
            writer.key("locationId"); writer.string(line.locationId)
            if let occurredAt = line.occurredAt { writer.key("occurredAt"); writer.string(occurredAt) }
            writer.key("quantity"); writer.integer(line.quantity)
            if let reason = line.reason { writer.key("reason"); writer.string(reason) }
            if let reference = line.reference { writer.key("reference"); writer.string(reference) }
            writer.key("sku"); writer.string(line.sku)
            writer.endObject()
        }
        writer.endArray()
        writer.endObject()
        return writer.bytes
    }
}

extension MovementsBody.Line {
    static func read(_ reader: inout JSONReader) throws(JSONReader.Mismatch) -> Self {
        var sku: String?, locationId: String?, kind: MovementKind?, quantity: Int64?
        var reason: String?, reference: String?, occurredAt: String?
        try reader.beginObject()
        var first = true
        while let key = try reader.nextKey(first: &first) {
            switch key {
            case "sku": sku = try reader.string()
            case "locationId": locationId = try reader.string()
            case "kind": kind = try reader.value(of: MovementKind.self)
            case "quantity": quantity = try reader.int64()
            case "reason": reason = try reader.string()
            case "reference": reference = try reader.string()
            case "occurredAt": occurredAt = try reader.string()
            default: throw JSONReader.Mismatch()
            }
        }
        guard let sku, let locationId, let kind, let quantity else { throw JSONReader.Mismatch() }
        return Self(sku: sku, locationId: locationId, kind: kind, quantity: quantity, reason: reason, reference: reference, occurredAt: occurredAt)
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
