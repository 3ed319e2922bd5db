import OmnistockCore
import OmnistockStore
import Prometheus
import Synchronization

/// Prometheus figures of webhook delivery, by subscription (at most
/// `Limits.webhookSubscriptionsMax`, so the series stay bounded): attempts by outcome, their
/// duration, and the lag of each subscription this instance delivers.
public final class WebhookMetrics: WebhookDeliveryObserver {
    let registry: PrometheusCollectorRegistry
    static let buckets: [Duration] = [
        .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2), .seconds(5), .seconds(10),
    ]
    private let series = Mutex<Series>(Series())

    struct Series {
        var attempts: [String: Counter] = [:]
        var durations: [String: DurationHistogram] = [:]
        var lags: [String: Gauge] = [:]
    }

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    public func attempted(subscription: String, outcome: DeliveryOutcome, seconds: Double) {
        let (counter, histogram) = series.withLock { series in
            let key = subscription + " " + outcome.rawValue
            let counter = series.attempts[key] ?? registry.makeCounter(
                descriptor: .init(
                    namespace: "oms", subsystem: "webhook", metricName: "deliveries", unitName: "total",
                    helpText: "Webhook delivery attempts, by subscription and outcome."),
                labels: [("subscription", subscription), ("outcome", outcome.rawValue)])
            series.attempts[key] = counter
            let histogram = series.durations[subscription] ?? registry.makeDurationHistogram(
                descriptor: .init(
                    namespace: "oms", subsystem: "webhook", metricName: "delivery_duration", unitName: "seconds",
                    helpText: "Time from sending a webhook to the end of its answer, by subscription."),
                labels: [("subscription", subscription)], buckets: Self.buckets)
            series.durations[subscription] = histogram
            return (counter, histogram)
        }
        counter.increment()
        histogram.record(.nanoseconds(Int64(seconds * 1e9)))
    }

    public func lag(subscription: String, events: Int64) {
        let gauge = series.withLock { series in
            let gauge = series.lags[subscription] ?? registry.makeGauge(
                descriptor: .init(
                    namespace: "oms", subsystem: "webhook", metricName: "lag", unitName: "events",
                    helpText: "Ledger positions a subscription delivered by this instance is behind the head."),
                labels: [("subscription", subscription)])
            series.lags[subscription] = gauge
            return gauge
        }
        gauge.set(Double(events))
    }

    /// The lag is another instance's to tell from now on (or nobody's).
    public func stopped(subscription: String) {
        guard let gauge = series.withLock({ $0.lags.removeValue(forKey: subscription) }) else { return }
        registry.unregisterGauge(gauge)
    }
}
