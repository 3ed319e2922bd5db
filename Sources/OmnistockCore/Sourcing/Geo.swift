/// Great-circle distance on the WGS 84 mean sphere, for sourcing and "near me" pickup points.
public enum Geo {
    static let earthRadiusKilometres = 6_371.0088

    /// Kilometres between two points given in decimal degrees (haversine formula).
    public static func distanceKilometres(latitude1: Double, longitude1: Double, latitude2: Double, longitude2: Double) -> Double {
        let radians = Double.pi / 180
        let dLatitude = (latitude2 - latitude1) * radians
        let dLongitude = (longitude2 - longitude1) * radians
        let a = sinSquared(dLatitude / 2) + cosine(latitude1 * radians) * cosine(latitude2 * radians) * sinSquared(dLongitude / 2)
        return 2 * earthRadiusKilometres * arcsine(min(1, a.squareRoot()))
    }

    /// Kilometres from a point to a location as answers show them: rounded to ten metres, as
    /// more precision says nothing about a shop's door.
    public static func shownDistanceKilometres(from point: (latitude: Double, longitude: Double), to location: Location) -> Double {
        let exact = distanceKilometres(
            latitude1: point.latitude, longitude1: point.longitude, latitude2: location.latitude, longitude2: location.longitude)
        return (exact * 100).rounded() / 100
    }

    // The standard library has no trigonometry without Foundation; these are exact to well
    // below a metre over the ranges used. The sine is reduced to [-π/2, π/2] and summed to
    // x^23 there (the next term is under 1e-19): the series it replaced, 20 terms on [-π, π]
    // after a remainder, was 11% of the CPU of a cart's availability read.
    static func sine(_ x: Double) -> Double {
        var x = x
        if x > Double.pi || x < -Double.pi { x = x.truncatingRemainder(dividingBy: 2 * Double.pi) }
        if x > Double.pi { x -= 2 * Double.pi } else if x < -Double.pi { x += 2 * Double.pi }
        // sin(π - x) = sin(x) folds [π/2, π] onto [0, π/2], and likewise below.
        if x > Double.pi / 2 { x = Double.pi - x } else if x < -Double.pi / 2 { x = -Double.pi - x }
        let x2 = x * x
        var sum = 0.0
        for coefficient in sineCoefficients.reversed() { sum = sum * x2 + coefficient }
        return x * sum
    }

    /// 1/1!, -1/3!, 1/5!, … -1/23!: the sine's series in powers of x².
    static let sineCoefficients: [Double] = {
        var coefficients: [Double] = []
        var factorial = 1.0
        for n in stride(from: 1, through: 23, by: 2) {
            if n > 1 { factorial *= Double((n - 1) * n) }
            coefficients.append((coefficients.count % 2 == 0 ? 1 : -1) / factorial)
        }
        return coefficients
    }()

    static func cosine(_ x: Double) -> Double { sine(x + Double.pi / 2) }

    static func sinSquared(_ x: Double) -> Double {
        let s = sine(x)
        return s * s
    }

    /// arcsin on [0, 1] by Newton's method on sin(y) = x.
    /// It starts from the series' first three terms, which for the distances of one country
    /// are already within a millimetre, so it stops after one or two steps.
    static func arcsine(_ x: Double) -> Double {
        if x >= 1 { return Double.pi / 2 }
        var y = x + x * x * x / 6 + 3 * x * x * x * x * x / 40
        if y >= Double.pi / 2 { y = x }
        for _ in 0..<60 {
            let next = y - (sine(y) - x) / cosine(y)
            if abs(next - y) < 1e-15 { return next }
            y = next
        }
        return y
    }
}
