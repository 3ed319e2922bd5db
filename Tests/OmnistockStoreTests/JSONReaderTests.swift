import Foundation
import OmnistockCore
@testable import OmnistockStore
import Testing

/// The hand-written readers of the hot events (`EventCodec.fastDecode`) say what the decoder
/// says of every payload they take, and give the others to it.
@Suite struct JSONReaderTests {
    static let tricky = ["plain", "Ref \"quoted\" \\ é ☃ \n\t\u{1} / 🧥", "", "\u{7F}\u{2028}"]

    static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    static func events() -> [LedgerEvent] {
        var events: [LedgerEvent] = []
        let lines = [HoldLine(id: "1", sku: "JACKET-M", locationId: "PAR-01", quantity: 2), HoldLine(id: "2", sku: "B", locationId: "L", quantity: 1)]
        for text in tricky {
            events.append(.stockMoved(StockMoved(
                sku: "SKU-" + text, locationId: "LOC", kind: .adjustment, quantity: -5, onHandDelta: -5, onHandAfter: Int64.max,
                reason: text, reference: nil, occurredAtMs: 1_800_000_000_000)))
            events.append(.stockMoved(StockMoved(
                sku: "S", locationId: text, kind: .receipt, quantity: 0, onHandDelta: 0, onHandAfter: 0, reason: nil, reference: text,
                occurredAtMs: 0)))
            events.append(.holdPlaced(HoldPlaced(
                holdId: "hld_1", reference: text, fulfilment: nil, allowPartial: true, lines: lines, unfilled: [], expiresAtMs: 9,
                occurredAtMs: 8)))
        }
        events.append(.holdPlaced(HoldPlaced(
            holdId: "hld_2", reference: nil, fulfilment: nil, allowPartial: false, lines: [], unfilled: [], expiresAtMs: 1, occurredAtMs: 1)))
        events.append(.holdPlaced(HoldPlaced(
            holdId: "hld_5", reference: "c&c", fulfilment: .pickup(locationId: "PAR-01"), allowPartial: false, lines: lines, unfilled: [],
            expiresAtMs: 1, occurredAtMs: 1)))
        events.append(.holdPlaced(HoldPlaced(
            holdId: "hld_6", reference: nil, fulfilment: .ship(latitude: 48.8566, longitude: -0.00001), allowPartial: true, lines: lines,
            unfilled: [], expiresAtMs: 1, occurredAtMs: 1)))
        events.append(.holdConverted(HoldConverted(holdId: "hld_5", orderId: "ord_1", lines: lines, occurredAtMs: 2)))
        events.append(.holdReleased(HoldReleased(holdId: "hld_3", lines: lines, occurredAtMs: 5)))
        events.append(.holdExpired(HoldExpired(holdId: "hld_4", lines: lines, occurredAtMs: 5, recordedAtMs: 6)))
        return events
    }

    /// jsonb's text of a document: a space after each comma and colon outside strings (the
    /// ledger's payloads written before migration 0017 read back so).
    static func spaced(_ json: String) -> String {
        var out = ""
        var inString = false
        var escaped = false
        for character in json {
            out.append(character)
            if inString {
                if escaped { escaped = false } else if character == "\\" { escaped = true } else if character == "\"" { inString = false }
            } else if character == "\"" {
                inString = true
            } else if character == "," || character == ":" {
                out.append(" ")
            }
        }
        return out
    }

    @Test func theFastReadersAgreeWithTheDecoderOnEveryHotEvent() throws {
        for event in Self.events() {
            let written = try EventCodec.encode(event, with: Self.encoder())
            let byEncoder = String(decoding: try Self.encoder().encode(Standard(event)), as: UTF8.self)
            #expect(written == byEncoder)
            for payload in [written, byEncoder, Self.spaced(written), "  \n" + written + "\t "] {
                let fast = EventCodec.fastDecode(type: event.type, payload: payload)
                #expect(fast == event, "\(payload)")
                #expect(try EventCodec.decode(type: event.type, payload: payload) == event)
            }
        }
    }

    /// Escapes the encoder does not write (\u escapes, surrogate pairs, \/) read as the decoder reads them.
    @Test func escapesReadAsTheDecoderReadsThem() throws {
        let payload = #"{"holdId":"h\u00e9\/\ud83e\udde5\"\\\b\f\n\r\t","lines":[],"occurredAtMs":-9223372036854775808}"#
        let fast = EventCodec.fastDecode(type: HoldReleased.type, payload: payload)
        let decoded = try JSONDecoder().decode(HoldReleased.self, from: Data(payload.utf8))
        #expect(fast == .holdReleased(decoded))
        #expect(decoded.holdId == "hé/🧥\"\\\u{8}\u{C}\n\r\t" && decoded.occurredAtMs == Int64.min)
    }

    /// What the fast readers do not take goes to the decoder, which reads it (or refuses it) as before.
    @Test(arguments: [
        // A field the hand-written reader does not know.
        (HoldPlaced.type, #"{"allowPartial":false,"expiresAtMs":1,"holdId":"h","lines":[],"occurredAtMs":1,"unfilled":[],"extra":1}"#, true),
        // Shapes it leaves to the decoder: an unfilled line, a fulfilment with members of both kinds.
        (HoldPlaced.type,
         #"{"allowPartial":true,"expiresAtMs":1,"holdId":"h","lines":[],"occurredAtMs":1,"unfilled":[{"line":0,"sku":"A","locationId":"L","requested":2,"available":0}]}"#,
         true),
        (HoldPlaced.type,
         #"{"allowPartial":false,"expiresAtMs":1,"fulfilment":{"type":"pickup","locationId":"L","address":{"latitude":1,"longitude":2}},"holdId":"h","lines":[],"occurredAtMs":1,"unfilled":[]}"#,
         true),
        // A number written with a fraction or an exponent.
        (HoldReleased.type, #"{"holdId":"h","lines":[],"occurredAtMs":5.0}"#, true),
        (HoldReleased.type, #"{"holdId":"h","lines":[],"occurredAtMs":5e0}"#, true),
        // A trailing comma: not JSON, so not the fast reader's, though Foundation's decoder takes it.
        (HoldReleased.type, #"{"holdId":"h","lines":[],"occurredAtMs":5,}"#, true),
        // Not JSON: a leading zero, a missing comma, a raw control character,
        // a lone surrogate, a value after the document, a number past Int64.
        (HoldReleased.type, #"{"holdId":"h","lines":[],"occurredAtMs":05}"#, false),
        (HoldReleased.type, #"{"holdId":"h" "lines":[],"occurredAtMs":5}"#, false),
        (HoldReleased.type, "{\"holdId\":\"h\u{1}\",\"lines\":[],\"occurredAtMs\":5}", false),
        (HoldReleased.type, #"{"holdId":"\ud800","lines":[],"occurredAtMs":5}"#, false),
        (HoldReleased.type, #"{"holdId":"h","lines":[],"occurredAtMs":5} 1"#, false),
        (HoldReleased.type, #"{"holdId":"h","lines":[],"occurredAtMs":9223372036854775808}"#, false),
        (StockMoved.type, #"{"kind":"teleport","locationId":"L","occurredAtMs":1,"onHandAfter":1,"onHandDelta":1,"quantity":1,"sku":"A"}"#, false),
    ])
    func whatTheFastReadersDoNotTakeGoesToTheDecoder(type: String, payload: String, decodes: Bool) {
        #expect(EventCodec.fastDecode(type: type, payload: payload) == nil)
        let decoded = try? EventCodec.decode(type: type, payload: payload)
        let standard: LedgerEvent? = switch type {
        case HoldPlaced.type: (try? JSONDecoder().decode(HoldPlaced.self, from: Data(payload.utf8))).map(LedgerEvent.holdPlaced)
        case HoldReleased.type: (try? JSONDecoder().decode(HoldReleased.self, from: Data(payload.utf8))).map(LedgerEvent.holdReleased)
        default: (try? JSONDecoder().decode(StockMoved.self, from: Data(payload.utf8))).map(LedgerEvent.stockMoved)
        }
        #expect(decoded == standard)
        #expect((decoded != nil) == decodes, "\(payload)")
    }
}

/// An event's payload through the synthesized encoders alone.
private struct Standard: Encodable {
    let event: LedgerEvent
    init(_ event: LedgerEvent) { self.event = event }
    func encode(to encoder: any Encoder) throws {
        switch event {
        case .stockMoved(let payload): try payload.encode(to: encoder)
        case .holdPlaced(let payload): try payload.encode(to: encoder)
        case .holdReleased(let payload): try payload.encode(to: encoder)
        case .holdExpired(let payload): try payload.encode(to: encoder)
        case .holdConverted(let payload): try payload.encode(to: encoder)
        default: preconditionFailure("only the hot events are compared")
        }
    }
}
