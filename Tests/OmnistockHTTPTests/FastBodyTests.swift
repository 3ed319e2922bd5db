import Foundation
@testable import OmnistockHTTP
import Testing

/// The hand-written readers of the hold and movement bodies read what the decoder reads, and
/// write the canonical form (whose hash identifies a request for idempotency) byte for byte as
/// the encoder writes it; what they do not take is left to the decoder.
@Suite struct FastBodyTests {
    static let holds = [
        #"{"lines":[{"sku":"JACKET-M","quantity":1}]}"#,
        #" { "reference" : "cart \"42\" é ☃ / \u00e9 \ud83e\udde5", "ttlSeconds": 900, "allowPartial": true,"#
            + #" "lines": [ {"quantity": 2, "locationId": "PAR-01", "sku": "A"}, {"sku": "B", "quantity": 1} ] } "#,
        #"{"lines":[{"sku":"A","quantity":1}],"fulfilment":{"type":"pickup","locationId":"PAR-01"}}"#,
        #"{"lines":[{"sku":"A","quantity":1}],"fulfilment":{"type":"ship","address":{"latitude":48.8566,"longitude":-2.5e-1}}}"#,
        #"{"lines":[]}"#,
    ]
    static let movements = [
        #"{"movements":[{"sku":"A","locationId":"L","kind":"receipt","quantity":10}]}"#,
        #"{"movements":[{"sku":"A\n","locationId":"L","kind":"adjustment","quantity":-3,"reason":"damaged \\ box","#
            + #""reference":"r/1","occurredAt":"2026-12-01T10:00:00Z"},{"kind":"sale","quantity":1,"sku":"B","locationId":"M"}]}"#,
    ]

    @Test func holdBodiesReadAndWriteAsTheDecoderAndEncoderDo() throws {
        for text in Self.holds {
            let data = Data(text.utf8)
            let fast = try #require(HoldBody.fastRead(data), "\(text)")
            let standard = try JSONDecoder().decode(HoldBody.self, from: data)
            #expect(try JSON.encoder.encode(fast) == JSON.encoder.encode(standard))
            let canonical = try JSON.Decoded(value: fast).canonical()
            #expect(canonical == (try JSON.encoder.encode(standard)), "\(String(decoding: canonical, as: UTF8.self))")
        }
    }

    static let orders = [
        #"{"orderNumber":"1001","holdId":"hld_1"}"#,
        #" { "reference" : "web \"42\" é / \ud83e\udde5", "orderNumber": "A-1", "#
            + #""lines": [ {"quantity": 2, "locationId": "PAR-01", "sku": "A"}, {"sku": "B", "quantity": 1} ], "#
            + #""fulfilment": {"locationId": "PAR-01", "type": "pickup"} } "#,
        #"{"orderNumber":"2","lines":[],"fulfilment":{"type":"ship","address":{"latitude":48.8566,"longitude":2.3522}}}"#,
    ]

    @Test func orderAndCollectBodiesReadAndWriteAsTheDecoderAndEncoderDo() throws {
        for text in Self.orders {
            let data = Data(text.utf8)
            let fast = try #require(OrderBody.fastRead(data), "\(text)")
            let standard = try JSONDecoder().decode(OrderBody.self, from: data)
            #expect(try JSON.encoder.encode(fast) == JSON.encoder.encode(standard))
            #expect(try JSON.Decoded(value: fast).canonical() == JSON.encoder.encode(standard), "\(text)")
        }
        for text in [#"{"pickupCode":"123456"}"#, #" {"pickupCode" : "a\"b\\c/é"} "#] {
            let data = Data(text.utf8)
            let fast = try #require(CollectBody.fastRead(data), "\(text)")
            let standard = try JSONDecoder().decode(CollectBody.self, from: data)
            #expect(try JSON.Decoded(value: fast).canonical() == JSON.encoder.encode(standard), "\(text)")
        }
    }

    /// What the order and collect readers do not take is refused by the decoder, which names the fault.
    @Test(arguments: [
        (#"{"orderNumber":"1","holdId":null}"#, "wrong-type"),
        (#"{"orderNumber":"1","holdId":"h","colour":"red"}"#, "unknown-field"),
        (#"{"orderNumber":1}"#, "wrong-type"),
        (#"{"holdId":"h"}"#, "missing-field"),
        (#"{"orderNumber":"1","lines":[{"sku":"A","quantity":0.5}]}"#, "invalid-value"),
    ])
    func whatTheOrderReaderDoesNotTakeIsRefusedByTheDecoder(text: String, code: String) {
        #expect(OrderBody.fastRead(Data(text.utf8)) == nil)
        do {
            _ = try JSON.decode(OrderBody.self, from: Data(text.utf8))
            Issue.record("\(text) was taken")
        } catch let problem as Problem {
            #expect(problem.errors.first?.code == code, "\(text): \(problem)")
        } catch {
            Issue.record("\(text): \(error)")
        }
    }

    @Test func movementBodiesReadAndWriteAsTheDecoderAndEncoderDo() throws {
        for text in Self.movements {
            let data = Data(text.utf8)
            let fast = try #require(MovementsBody.fastRead(data), "\(text)")
            let standard = try JSONDecoder().decode(MovementsBody.self, from: data)
            #expect(try JSON.encoder.encode(fast) == JSON.encoder.encode(standard))
            #expect(try JSON.Decoded(value: fast).canonical() == JSON.encoder.encode(standard))
        }
    }

    /// Nulls, unknown fields, other types and fractions go to the decoder, which names the fault.
    @Test(arguments: [
        (#"{"lines":[{"sku":"A","quantity":1}],"reference":null}"#, "wrong-type"),
        (#"{"lines":[{"sku":"A","quantity":1,"colour":"red"}]}"#, "unknown-field"),
        (#"{"lines":[{"sku":"A","quantity":"1"}]}"#, "wrong-type"),
        (#"{"lines":[{"sku":"A","quantity":1.5}]}"#, "invalid-value"),
        (#"{"lines":[{"sku":"A"}]}"#, "missing-field"),
        (#"{"lines":[{"sku":"A","quantity":1}]"#, "malformed-json"),
    ])
    func whatTheFastReaderDoesNotTakeIsRefusedByTheDecoder(text: String, code: String) {
        #expect(HoldBody.fastRead(Data(text.utf8)) == nil)
        do {
            _ = try JSON.decode(HoldBody.self, from: Data(text.utf8))
            Issue.record("\(text) was taken")
        } catch let problem as Problem {
            #expect(problem.errors.first?.code == code, "\(text): \(problem)")
        } catch {
            Issue.record("\(text): \(error)")
        }
    }
}
