import Foundation
import Testing

@testable import OmnistockCore

/// The core's own trigonometry (it has no Foundation) against the C library's.
@Suite struct GeoTests {
    @Test func sineAndCosineAgreeWithTheCLibrary() {
        for step in -2_000...2_000 {
            let x = Double(step) / 100  // -20 … 20 radians
            #expect(abs(Geo.sine(x) - sin(x)) < 1e-13, "sine(\(x))")
            #expect(abs(Geo.cosine(x) - cos(x)) < 1e-13, "cosine(\(x))")
        }
    }

    @Test func arcsineAgreesWithTheCLibrary() {
        for step in 0...1_000 {
            let x = Double(step) / 1_000
            #expect(abs(Geo.arcsine(x) - asin(x)) < 1e-9, "arcsine(\(x))")
        }
    }

    @Test func distancesAgreeWithAHaversineOnTheCLibraryToAMillimetre() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2_000 {
            let (a, b, c, d) = (
                Double.random(in: -90...90, using: &generator), Double.random(in: -180...180, using: &generator),
                Double.random(in: -90...90, using: &generator), Double.random(in: -180...180, using: &generator)
            )
            let radians = Double.pi / 180
            let h = pow(sin((c - a) * radians / 2), 2) + cos(a * radians) * cos(c * radians) * pow(sin((d - b) * radians / 2), 2)
            let expected = 2 * Geo.earthRadiusKilometres * asin(min(1, h.squareRoot()))
            let km = Geo.distanceKilometres(latitude1: a, longitude1: b, latitude2: c, longitude2: d)
            #expect(abs(km - expected) < 1e-6, "(\(a), \(b)) to (\(c), \(d)): \(km) km, \(expected) km")
        }
    }
}
