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

    // The standard library has no trigonometry without Foundation; these series are exact to
    // well below a metre over the ranges used (angles in [-π, π]).
    static func sine(_ x: Double) -> Double {
        var x = x.truncatingRemainder(dividingBy: 2 * Double.pi)
        if x > Double.pi { x -= 2 * Double.pi } else if x < -Double.pi { x += 2 * Double.pi }
        var term = x
        var sum = x
        for n in stride(from: 2.0, through: 40.0, by: 2.0) {
            term *= -x * x / (n * (n + 1))
            sum += term
        }
        return sum
    }

    static func cosine(_ x: Double) -> Double { sine(x + Double.pi / 2) }

    static func sinSquared(_ x: Double) -> Double {
        let s = sine(x)
        return s * s
    }

    /// arcsin on [0, 1] by Newton's method on sin(y) = x.
    static func arcsine(_ x: Double) -> Double {
        if x >= 1 { return Double.pi / 2 }
        var y = x
        for _ in 0..<60 {
            let next = y - (sine(y) - x) / cosine(y)
            if abs(next - y) < 1e-15 { return next }
            y = next
        }
        return y
    }
}
