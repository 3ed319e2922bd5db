import OmnistockCore
import OmnistockStore
import Prometheus

/// Business counters and histograms beside the technical ones, from the ledger tail
/// (`BusinessMetricsService`): orders by fulfilment and outcome, order-to-ready seconds,
/// no-shows, lines not found, holds by outcome. Every instance counts every event of the
/// ledger from its start: read one instance (or the max), not the sum of all.
public final class BusinessMetrics: BusinessEventObserver {
    let orders: [String: Counter]
    let holds: [String: Counter]
    let noShows: Counter
    let linesNotFound: Counter
    let orderToReady: DurationHistogram
    static let outcomes = ["placed", "ready", "collected", "shipped", "cancelled", "expired", "returned"]
    static let holdOutcomes = ["placed", "converted", "released", "expired"]
    /// Five minutes to a day: the two-hour promise sits in the middle.
    static let readyBuckets: [Duration] = [300, 900, 1_800, 3_600, 5_400, 7_200, 10_800, 14_400, 28_800, 86_400].map { .seconds($0) }

    init(registry: PrometheusCollectorRegistry) {
        var orders: [String: Counter] = [:]
        for fulfilment in ["pickup", "ship"] {
            for outcome in Self.outcomes {
                orders[fulfilment + " " + outcome] = registry.makeCounter(
                    descriptor: .init(namespace: "oms", subsystem: "", metricName: "orders", unitName: "total",
                        helpText: "Order steps recorded in the ledger, by fulfilment and outcome."),
                    labels: [("fulfilment", fulfilment), ("outcome", outcome)])
            }
        }
        self.orders = orders
        var holds: [String: Counter] = [:]
        for outcome in Self.holdOutcomes {
            holds[outcome] = registry.makeCounter(
                descriptor: .init(namespace: "oms", subsystem: "", metricName: "holds", unitName: "total",
                    helpText: "Holds placed and ended in the ledger, by outcome."),
                labels: [("outcome", outcome)])
        }
        self.holds = holds
        noShows = registry.makeCounter(descriptor: .init(namespace: "oms", subsystem: "", metricName: "no_shows", unitName: "total",
            helpText: "Pickup orders that expired uncollected."))
        linesNotFound = registry.makeCounter(descriptor: .init(namespace: "oms", subsystem: "", metricName: "lines_not_found", unitName: "total",
            helpText: "Order lines a location reported not found."))
        orderToReady = registry.makeDurationHistogram(
            descriptor: .init(namespace: "oms", subsystem: "", metricName: "order_to_ready", unitName: "seconds",
                helpText: "From a pickup order to ready for pickup."),
            buckets: Self.readyBuckets)
    }

    public func observed(_ event: LedgerEvent) {
        switch event {
        case .order(let recorded): observedOrder(recorded)
        case .holdPlaced: holds["placed"]?.increment()
        case .holdConverted: holds["converted"]?.increment()
        case .holdReleased: holds["released"]?.increment()
        case .holdExpired: holds["expired"]?.increment()
        case .locationDefined, .stockMoved, .stockCounted, .countCorrected, .safetyStockSet, .positionShort, .holdExtended, .transfer:
            break
        }
    }

    private func observedOrder(_ recorded: OrderRecorded) {
        let order = recorded.order
        let fulfilment = order.pickupLocationId == nil ? "ship" : "pickup"
        func count(_ outcome: String) { orders[fulfilment + " " + outcome]?.increment() }
        switch recorded.step {
        case .created: count("placed")
        case .ready:
            count("ready")
            if let readyAtMs = order.readyAtMs { orderToReady.record(.milliseconds(max(0, readyAtMs - order.createdAtMs))) }
        case .collected: count("collected")
        case .shipped: if order.status == .shipped { count("shipped") }
        case .cancelled: count("cancelled")
        case .expired:
            count("expired")
            noShows.increment()
        case .lineNotFound:
            linesNotFound.increment()
            if order.status == .cancelled { count("cancelled") }
        case .returned: count("returned")
        case .picking, .pickupCodeRefused, .pickupUnlocked, .transferReceived: break
        }
    }
}
