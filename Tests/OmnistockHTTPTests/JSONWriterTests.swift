import Foundation
@testable import OmnistockHTTP
import OmnistockStore
import Testing

@Suite struct JSONWriterTests {
    /// The hand-written availability JSON says exactly what JSONEncoder says of the same view.
    @Test func availabilityJSONMatchesTheEncoder() throws {
        let view = AvailabilityView(position: 42, items: [
            .init(
                sku: "JACKET-M", available: 7, ship: 5,
                pickup: [.init(locationId: "PAR-01", name: "Paris \"Rivoli\" \\ é ☃ \u{1}\n\t", available: 2, distanceKm: 0.19)],
                locations: [
                    .init(
                        locationId: "PAR-01", name: "Paris \"Rivoli\" \\ é ☃ \u{1}\n\t", kind: .store, onHand: 9, held: 1, allocated: 2,
                        safetyStock: 4, incoming: 3, available: 2, short: 0, distanceKm: 0.19),
                    .init(
                        locationId: "WH-01", name: "Depot", kind: .warehouse, onHand: -0, held: 0, allocated: 0, safetyStock: 0,
                        incoming: 0, available: 5, short: 0, distanceKm: nil),
                ]),
            // The same location again, for another SKU: its fixed members are written once and reused.
            .init(
                sku: "JACKET-L", available: 1, ship: 0, pickup: [],
                locations: [
                    .init(
                        locationId: "PAR-01", name: "Paris \"Rivoli\" \\ é ☃ \u{1}\n\t", kind: .store, onHand: 1, held: 0, allocated: 0,
                        safetyStock: 0, incoming: 0, available: 1, short: 0, distanceKm: 12.5)
                ]),
            .init(sku: "NONE", available: 0, ship: 0, pickup: [], locations: []),
        ])
        let written = try JSONSerialization.jsonObject(with: Data(view.json())) as? NSDictionary
        let encoded = try JSONSerialization.jsonObject(with: JSON.encoder.encode(view)) as? NSDictionary
        #expect(written != nil && written == encoded)
    }

    /// Numbers are written as Swift prints them (what JSONEncoder writes), the fast paths for
    /// integers and hundredths included, and integers at their limits.
    @Test func numbersAreWrittenAsSwiftPrintsThem() {
        var generator = SystemRandomNumberGenerator()
        var values: [Double] = [0, -0.0, 0.01, 0.1, 0.5, 1.05, 12.3, 99.99, -3.14, 19_999.99, 1e13, 1e15, 1e16, 123.456, 1.0 / 3]
        for _ in 0..<5_000 { values.append((Double.random(in: -20_000...20_000, using: &generator) * 100).rounded() / 100) }
        for _ in 0..<1_000 { values.append(Double.random(in: -1e6...1e6, using: &generator)) }
        for value in values {
            var writer = JSONWriter()
            writer.number(value)
            let expected = value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : "\(value)"
            #expect(String(decoding: writer.bytes, as: UTF8.self) == expected, "\(value)")
        }
        for value in [Int64.min, Int64.min + 1, -1, 0, 9, 10, Int64.max] {
            var writer = JSONWriter()
            writer.integer(value)
            #expect(String(decoding: writer.bytes, as: UTF8.self) == String(value))
        }
    }
}
