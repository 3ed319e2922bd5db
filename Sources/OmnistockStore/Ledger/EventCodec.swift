import Foundation
import OmnistockCore

/// Encoding of ledger event payloads as JSON, and back.
public enum EventCodec {
    public static func encode(_ event: LedgerEvent, with encoder: JSONEncoder) throws -> String {
        // The most frequent events are written by hand: JSONEncoder's per-call cost dominated
        // large movement batches and hold batches. Same documents as the encoder (tests
        // compare them).
        switch event {
        case .stockMoved(let payload): return fastJSON(payload)
        case .holdPlaced(let payload):
            if payload.fulfilment == nil && payload.unfilled.isEmpty { return fastJSON(payload) }
            return try text(encoder.encode(payload))
        case .holdReleased(let payload):
            return fastJSON(type: "released", holdId: payload.holdId, lines: payload.lines, occurredAtMs: payload.occurredAtMs, recordedAtMs: nil)
        case .holdExpired(let payload):
            return fastJSON(
                type: "expired", holdId: payload.holdId, lines: payload.lines, occurredAtMs: payload.occurredAtMs,
                recordedAtMs: payload.recordedAtMs)
        case .locationDefined(let payload): return try text(encoder.encode(payload))
        case .stockCounted(let payload): return try text(encoder.encode(payload))
        case .countCorrected(let payload): return try text(encoder.encode(payload))
        case .safetyStockSet(let payload): return try text(encoder.encode(payload))
        case .positionShort(let payload): return try text(encoder.encode(payload))
        case .holdExtended(let payload): return try text(encoder.encode(payload))
        case .holdConverted(let payload): return try text(encoder.encode(payload))
        case .order(let payload): return try text(encoder.encode(payload))
        case .transfer(let payload): return try text(encoder.encode(payload))
        }
    }

    private static func text(_ data: Data) -> String { String(decoding: data, as: UTF8.self) }

    /// `StockMoved` as JSONEncoder with sorted keys writes it.
    public static func fastJSON(_ moved: StockMoved) -> String {
        var writer = JSONWriter(capacity: 256)
        writer.beginObject()
        writer.key("kind"); writer.string(moved.kind.rawValue)
        writer.key("locationId"); writer.string(moved.locationId)
        writer.key("occurredAtMs"); writer.integer(moved.occurredAtMs)
        writer.key("onHandAfter"); writer.integer(moved.onHandAfter)
        writer.key("onHandDelta"); writer.integer(moved.onHandDelta)
        writer.key("quantity"); writer.integer(moved.quantity)
        if let reason = moved.reason { writer.key("reason"); writer.string(reason) }
        if let reference = moved.reference { writer.key("reference"); writer.string(reference) }
        writer.key("sku"); writer.string(moved.sku)
        writer.endObject()
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    /// `HoldPlaced` without fulfilment or unfilled lines (the hot path), as the encoder writes it.
    public static func fastJSON(_ placed: HoldPlaced) -> String {
        precondition(placed.fulfilment == nil && placed.unfilled.isEmpty, "only the plain shape is written by hand")
        var writer = JSONWriter(capacity: 160 + 80 * placed.lines.count)
        writer.beginObject()
        writer.key("allowPartial"); writer.bool(placed.allowPartial)
        writer.key("expiresAtMs"); writer.integer(placed.expiresAtMs)
        writer.key("holdId"); writer.string(placed.holdId)
        writer.key("lines"); writer.holdLines(placed.lines)
        writer.key("occurredAtMs"); writer.integer(placed.occurredAtMs)
        if let reference = placed.reference { writer.key("reference"); writer.string(reference) }
        writer.key("unfilled"); writer.beginArray(); writer.endArray()
        writer.endObject()
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    /// Event metadata as the encoder writes it (sorted keys, absent values left out).
    public static func json(_ metadata: EventMetadata) -> String {
        var writer = JSONWriter(capacity: 160)
        writer.beginObject()
        writer.key("actor"); writer.string(metadata.actor)
        if let correlationId = metadata.correlationId { writer.key("correlationId"); writer.string(correlationId) }
        if let idempotencyKey = metadata.idempotencyKey { writer.key("idempotencyKey"); writer.string(idempotencyKey) }
        writer.endObject()
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    /// `HoldReleased` and `HoldExpired`, as the encoder writes them.
    static func fastJSON(type: StaticString, holdId: String, lines held: [HoldLine], occurredAtMs: Int64, recordedAtMs: Int64?) -> String {
        var writer = JSONWriter(capacity: 120 + 80 * held.count)
        writer.beginObject()
        writer.key("holdId"); writer.string(holdId)
        writer.key("lines"); writer.holdLines(held)
        writer.key("occurredAtMs"); writer.integer(occurredAtMs)
        if let recordedAtMs { writer.key("recordedAtMs"); writer.integer(recordedAtMs) }
        writer.endObject()
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    /// Decodes a stored event; throws when the type is unknown or the payload does not fit.
    public static func decode(type: String, payload: String) throws -> LedgerEvent {
        let decoder = JSONDecoder()
        let data = Data(payload.utf8)
        switch type {
        case LocationDefined.type: return .locationDefined(try decoder.decode(LocationDefined.self, from: data))
        case StockMoved.type: return .stockMoved(try decoder.decode(StockMoved.self, from: data))
        case StockCounted.type: return .stockCounted(try decoder.decode(StockCounted.self, from: data))
        case CountCorrected.type: return .countCorrected(try decoder.decode(CountCorrected.self, from: data))
        case SafetyStockSet.type: return .safetyStockSet(try decoder.decode(SafetyStockSet.self, from: data))
        case PositionShort.type: return .positionShort(try decoder.decode(PositionShort.self, from: data))
        case HoldPlaced.type: return .holdPlaced(try decoder.decode(HoldPlaced.self, from: data))
        case HoldExtended.type: return .holdExtended(try decoder.decode(HoldExtended.self, from: data))
        case HoldReleased.type: return .holdReleased(try decoder.decode(HoldReleased.self, from: data))
        case HoldExpired.type: return .holdExpired(try decoder.decode(HoldExpired.self, from: data))
        case HoldConverted.type: return .holdConverted(try decoder.decode(HoldConverted.self, from: data))
        case _ where type.hasPrefix("order."): return .order(try decoder.decode(OrderRecorded.self, from: data))
        case _ where type.hasPrefix("transfer."): return .transfer(try decoder.decode(TransferRecorded.self, from: data))
        default: throw StoreError.corrupt("the ledger holds an event of unknown type '\(type)'")
        }
    }
}
