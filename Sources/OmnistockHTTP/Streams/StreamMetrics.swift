import Foundation
import Prometheus

/// Prometheus figures of the streams, in the edge's registry: open streams by kind, messages
/// written, disconnects by reason, and the send lag (from an event's `recordedAt` to its write).
///
/// Every series is made up front, one per kind and per reason, so the number of series is fixed.
public final class StreamMetrics: Sendable {
    static let lagBuckets: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]
    private let open: [StreamKind: Gauge]
    private let messages: [StreamKind: Counter]
    private let disconnects: [StreamDisconnect: Counter]
    private let lag: ValueHistogram

    public init(registry: PrometheusCollectorRegistry) {
        var open: [StreamKind: Gauge] = [:]
        var messages: [StreamKind: Counter] = [:]
        for kind in StreamKind.allCases {
            open[kind] = registry.makeGauge(
                descriptor: .init(namespace: "oms", subsystem: "streams", metricName: "open", unitName: "", helpText: "Server-Sent Event streams open now, by kind."),
                labels: [("kind", kind.rawValue)])
            messages[kind] = registry.makeCounter(
                descriptor: .init(
                    namespace: "oms", subsystem: "streams", metricName: "messages", unitName: "total",
                    helpText: "Messages written to stream clients since start, by kind."),
                labels: [("kind", kind.rawValue)])
        }
        var disconnects: [StreamDisconnect: Counter] = [:]
        for reason in StreamDisconnect.allCases {
            disconnects[reason] = registry.makeCounter(
                descriptor: .init(
                    namespace: "oms", subsystem: "streams", metricName: "disconnects", unitName: "total",
                    helpText: "Streams ended since start, by reason (client, slow, shutdown, tail, error)."),
                labels: [("reason", reason.rawValue)])
        }
        self.open = open
        self.messages = messages
        self.disconnects = disconnects
        self.lag = registry.makeValueHistogram(
            descriptor: .init(
                namespace: "oms", subsystem: "streams", metricName: "send_lag", unitName: "seconds",
                helpText: "Time from an event's commit (recordedAt) to its write to a stream client; catch-up writes of old events count too."),
            buckets: Self.lagBuckets)
    }

    func opened(_ kind: StreamKind) { open[kind]?.increment() }
    func closed(_ kind: StreamKind) { open[kind]?.decrement() }
    func ended(_ reason: StreamDisconnect) { disconnects[reason]?.increment() }

    func wrote(_ kind: StreamKind, recordedAt: Date?) {
        messages[kind]?.increment()
        if let recordedAt { lag.record(max(0, Date().timeIntervalSince(recordedAt))) }
    }
}
