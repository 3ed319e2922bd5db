import OmnistockCore
import OmnistockStore

/// A sourcing preview: which location would send which line, and why the others were not chosen.
struct PlanView: Encodable {
    struct Assignment: Encodable {
        var line: Int
        var sku: String
        var quantity: Int64
        var locationId: String
        var viaTransfer: Bool
        var distanceKilometres: Double?
    }
    struct Reason: Encodable {
        var code: String
        var sku: String?
    }
    struct Candidate: Encodable {
        var locationId: String
        var distanceKilometres: Double?
        var chosen: Bool
        var reasons: [Reason]
    }
    var feasible: Bool
    var locations: [String]
    var assignments: [Assignment]
    var unfilled: [UnfilledLine]
    var candidates: [Candidate]

    init(_ outcome: SourcingOutcome) {
        let distances = Dictionary(outcome.candidates.map { ($0.locationId, $0.distanceKilometres) }, uniquingKeysWith: { first, _ in first })
        feasible = outcome.unfilled.isEmpty
        locations = outcome.locations
        assignments = outcome.lines.map {
            Assignment(
                line: $0.line, sku: $0.sku, quantity: $0.quantity, locationId: $0.locationId, viaTransfer: $0.viaTransfer,
                distanceKilometres: (distances[$0.locationId] ?? nil).map(Self.rounded))
        }
        unfilled = outcome.unfilled
        candidates = outcome.candidates.map {
            Candidate(
                locationId: $0.locationId, distanceKilometres: $0.distanceKilometres.map(Self.rounded), chosen: $0.chosen,
                reasons: $0.reasons.map { Reason(code: $0.reason.rawValue, sku: $0.sku) })
        }
    }

    /// Distances to the metre: more digits would only be noise.
    static func rounded(_ kilometres: Double) -> Double { (kilometres * 1000).rounded() / 1000 }
}
