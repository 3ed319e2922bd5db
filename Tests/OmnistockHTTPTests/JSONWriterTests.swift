import Foundation
@testable import OmnistockHTTP
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
            .init(sku: "NONE", available: 0, ship: 0, pickup: [], locations: []),
        ])
        let written = try JSONSerialization.jsonObject(with: Data(view.json())) as? NSDictionary
        let encoded = try JSONSerialization.jsonObject(with: JSON.encoder.encode(view)) as? NSDictionary
        #expect(written != nil && written == encoded)
    }
}
