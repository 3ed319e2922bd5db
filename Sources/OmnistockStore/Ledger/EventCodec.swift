import Foundation
import OmnistockCore

/// Encoding of ledger event payloads as JSON, and back.
public enum EventCodec {
    public static func encode(_ event: LedgerEvent, with encoder: JSONEncoder) throws -> String {
        // The most frequent events are written by hand: JSONEncoder's per-call cost dominated
        // large movement batches, hold batches and order steps (OrderJSON). Same documents as
        // the encoder (tests compare them).
        switch event {
        case .stockMoved(let payload): return fastJSON(payload)
        case .holdPlaced(let payload):
            if payload.unfilled.isEmpty { return fastJSON(payload) }
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
        case .holdConverted(let payload): return fastJSON(payload)
        case .order(let payload): return OrderJSON.payload(payload)
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

    /// `HoldPlaced` without unfilled lines (the hot path), as the encoder writes it.
    public static func fastJSON(_ placed: HoldPlaced) -> String {
        precondition(placed.unfilled.isEmpty, "only holds without unfilled lines are written by hand")
        var writer = JSONWriter(capacity: 224 + 80 * placed.lines.count)
        writer.beginObject()
        writer.key("allowPartial"); writer.bool(placed.allowPartial)
        writer.key("expiresAtMs"); writer.integer(placed.expiresAtMs)
        if let fulfilment = placed.fulfilment { writer.key("fulfilment"); writer.fulfilment(fulfilment) }
        writer.key("holdId"); writer.string(placed.holdId)
        writer.key("lines"); writer.holdLines(placed.lines)
        writer.key("occurredAtMs"); writer.integer(placed.occurredAtMs)
        if let reference = placed.reference { writer.key("reference"); writer.string(reference) }
        writer.key("unfilled"); writer.beginArray(); writer.endArray()
        writer.endObject()
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    /// `HoldConverted` (every order made from a hold), as the encoder writes it.
    static func fastJSON(_ converted: HoldConverted) -> String {
        var writer = JSONWriter(capacity: 160 + 80 * converted.lines.count)
        writer.beginObject()
        writer.key("holdId"); writer.string(converted.holdId)
        writer.key("lines"); writer.holdLines(converted.lines)
        writer.key("occurredAtMs"); writer.integer(converted.occurredAtMs)
        writer.key("orderId"); writer.string(converted.orderId)
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
    ///
    /// The most frequent events are read by hand first (`JSONReader`); a payload of another
    /// shape than the hand-written readers know goes to the decoder, which reads or refuses it.
    public static func decode(type: String, payload: String) throws -> LedgerEvent {
        if let event = fastDecode(type: type, payload: payload) { return event }
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

    /// The hand-read events, or nil for the decoder to read.
    static func fastDecode(type: String, payload: String) -> LedgerEvent? {
        switch type {
        case StockMoved.type: return JSONReader.read(payload, readStockMoved).map(LedgerEvent.stockMoved)
        case HoldPlaced.type: return JSONReader.read(payload, readHoldPlaced).map(LedgerEvent.holdPlaced)
        case HoldConverted.type: return JSONReader.read(payload, readHoldConverted).map(LedgerEvent.holdConverted)
        case HoldReleased.type:
            return JSONReader.read(payload) { (reader: inout JSONReader) throws(JSONReader.Mismatch) in try readHoldEnd(&reader, expired: false) }
                .map { .holdReleased(HoldReleased(holdId: $0.holdId, lines: $0.lines, occurredAtMs: $0.occurredAtMs)) }
        case HoldExpired.type:
            return JSONReader.read(payload) { (reader: inout JSONReader) throws(JSONReader.Mismatch) in try readHoldEnd(&reader, expired: true) }
                .flatMap { end in
                    end.recordedAtMs.map {
                        .holdExpired(HoldExpired(holdId: end.holdId, lines: end.lines, occurredAtMs: end.occurredAtMs, recordedAtMs: $0))
                    }
                }
        case _ where type.hasPrefix("order."): return OrderJSON.recorded(payload).map(LedgerEvent.order)
        default: return nil
        }
    }

    private static func readStockMoved(_ reader: inout JSONReader) throws(JSONReader.Mismatch) -> StockMoved {
        var sku: String?, locationId: String?, kind: MovementKind?, reason: String?, reference: String?
        var quantity: Int64?, onHandDelta: Int64?, onHandAfter: Int64?, occurredAtMs: Int64?
        try reader.beginObject()
        var first = true
        while let key = try reader.nextKey(first: &first) {
            switch key {
            case "sku": sku = try reader.string()
            case "locationId": locationId = try reader.string()
            case "kind": kind = try reader.value(of: MovementKind.self)
            case "quantity": quantity = try reader.int64()
            case "onHandDelta": onHandDelta = try reader.int64()
            case "onHandAfter": onHandAfter = try reader.int64()
            case "occurredAtMs": occurredAtMs = try reader.int64()
            case "reason": reason = reader.null() ? nil : try reader.string()
            case "reference": reference = reader.null() ? nil : try reader.string()
            default: throw JSONReader.Mismatch()
            }
        }
        guard let sku, let locationId, let kind, let quantity, let onHandDelta, let onHandAfter, let occurredAtMs else {
            throw JSONReader.Mismatch()
        }
        return StockMoved(
            sku: sku, locationId: locationId, kind: kind, quantity: quantity, onHandDelta: onHandDelta, onHandAfter: onHandAfter,
            reason: reason, reference: reference, occurredAtMs: occurredAtMs)
    }

    /// A `HoldPlaced` with no unfilled line: the others go to the decoder.
    private static func readHoldPlaced(_ reader: inout JSONReader) throws(JSONReader.Mismatch) -> HoldPlaced {
        var holdId: String?, reference: String?, allowPartial: Bool?, lines: [HoldLine]?, expiresAtMs: Int64?, occurredAtMs: Int64?
        var fulfilment: Fulfilment?
        var unfilledEmpty = false
        try reader.beginObject()
        var first = true
        while let key = try reader.nextKey(first: &first) {
            switch key {
            case "holdId": holdId = try reader.string()
            case "reference": reference = reader.null() ? nil : try reader.string()
            case "fulfilment": fulfilment = reader.null() ? nil : try reader.fulfilment()
            case "allowPartial": allowPartial = try reader.bool()
            case "lines": lines = try readHoldLines(&reader)
            case "unfilled":
                try reader.beginArray()
                var none = true
                guard try !reader.nextElement(first: &none) else { throw JSONReader.Mismatch() }
                unfilledEmpty = true
            case "expiresAtMs": expiresAtMs = try reader.int64()
            case "occurredAtMs": occurredAtMs = try reader.int64()
            default: throw JSONReader.Mismatch()
            }
        }
        guard let holdId, let allowPartial, let lines, unfilledEmpty, let expiresAtMs, let occurredAtMs else { throw JSONReader.Mismatch() }
        return HoldPlaced(
            holdId: holdId, reference: reference, fulfilment: fulfilment, allowPartial: allowPartial, lines: lines, unfilled: [],
            expiresAtMs: expiresAtMs, occurredAtMs: occurredAtMs)
    }

    private static func readHoldConverted(_ reader: inout JSONReader) throws(JSONReader.Mismatch) -> HoldConverted {
        var holdId: String?, orderId: String?, lines: [HoldLine]?, occurredAtMs: Int64?
        try reader.beginObject()
        var first = true
        while let key = try reader.nextKey(first: &first) {
            switch key {
            case "holdId": holdId = try reader.string()
            case "orderId": orderId = try reader.string()
            case "lines": lines = try readHoldLines(&reader)
            case "occurredAtMs": occurredAtMs = try reader.int64()
            default: throw JSONReader.Mismatch()
            }
        }
        guard let holdId, let orderId, let lines, let occurredAtMs else { throw JSONReader.Mismatch() }
        return HoldConverted(holdId: holdId, orderId: orderId, lines: lines, occurredAtMs: occurredAtMs)
    }

    /// `HoldReleased` and `HoldExpired` (with `recordedAtMs`), which share their other fields.
    private static func readHoldEnd(_ reader: inout JSONReader, expired: Bool) throws(JSONReader.Mismatch) -> (
        holdId: String, lines: [HoldLine], occurredAtMs: Int64, recordedAtMs: Int64?
    ) {
        var holdId: String?, lines: [HoldLine]?, occurredAtMs: Int64?, recordedAtMs: Int64?
        try reader.beginObject()
        var first = true
        while let key = try reader.nextKey(first: &first) {
            switch key {
            case "holdId": holdId = try reader.string()
            case "lines": lines = try readHoldLines(&reader)
            case "occurredAtMs": occurredAtMs = try reader.int64()
            case "recordedAtMs" where expired: recordedAtMs = try reader.int64()
            default: throw JSONReader.Mismatch()
            }
        }
        guard let holdId, let lines, let occurredAtMs else { throw JSONReader.Mismatch() }
        return (holdId, lines, occurredAtMs, recordedAtMs)
    }

    private static func readHoldLines(_ reader: inout JSONReader) throws(JSONReader.Mismatch) -> [HoldLine] {
        var lines: [HoldLine] = []
        try reader.beginArray()
        var firstLine = true
        while try reader.nextElement(first: &firstLine) {
            var id: String?, sku: String?, locationId: String?, quantity: Int64?
            try reader.beginObject()
            var first = true
            while let key = try reader.nextKey(first: &first) {
                switch key {
                case "id": id = try reader.string()
                case "sku": sku = try reader.string()
                case "locationId": locationId = try reader.string()
                case "quantity": quantity = try reader.int64()
                default: throw JSONReader.Mismatch()
                }
            }
            guard let id, let sku, let locationId, let quantity else { throw JSONReader.Mismatch() }
            lines.append(HoldLine(id: id, sku: sku, locationId: locationId, quantity: quantity))
        }
        return lines
    }
}
