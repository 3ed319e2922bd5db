import Foundation
import OmnistockStore
import Prometheus
import Synchronization

/// Prometheus figures of the edge: requests and latency per route, the database pool, the
/// writers, the ledger tail and the streams.
///
/// Routes are labelled by their template (`/v1/locations/{locationId}`), never by the concrete
/// path, and unmatched paths share one label, so the number of series stays bounded.
public final class EdgeMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    static let latencyBuckets: [Duration] = [
        .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
        .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
        .milliseconds(500), .seconds(1), .seconds(2), .seconds(5),
    ]
    private let histograms = Mutex<[String: DurationHistogram]>([:])
    private let counters = Mutex<[String: Counter]>([:])
    let poolLeased: Gauge
    let poolWaiting: Gauge
    let poolSize: Gauge
    let reconnects: Gauge
    let failovers: Gauge
    let restarts: Gauge
    let holdQueued: Gauge
    let holdBatches: Gauge
    let holdRequests: Gauge
    let holdRetries: Gauge
    let holdBatchSeconds: Gauge
    let stepQueued: Gauge
    let stepBatches: Gauge
    let stepRequests: Gauge
    let stepRetries: Gauge
    let stepBatchSeconds: Gauge
    let tailPosition: Gauge
    let tailEvents: Gauge
    let tailSubscribers: Gauge
    let tailDropped: Gauge
    let tailReconnects: Gauge
    let livePositions: Gauge
    let liveLoads: Gauge
    let liveReady: Gauge
    let liveWatches: Gauge
    /// Open streams, messages written, disconnects and send lag (StreamMetrics.swift).
    public let streams: StreamMetrics
    /// Webhook attempts, durations and lags (WebhookMetrics.swift), told by the delivery.
    public let webhooks: WebhookMetrics
    /// Orders, holds, no-shows and order-to-ready times from the ledger tail (BusinessMetrics.swift).
    public let business: BusinessMetrics

    public init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        self.streams = StreamMetrics(registry: registry)
        self.webhooks = WebhookMetrics(registry: registry)
        self.business = BusinessMetrics(registry: registry)
        func gauge(_ subsystem: String, _ name: String, unit: String = "", help: String) -> Gauge {
            // The name is `oms_<subsystem>_<name>[_<unit>]`, the one dashboards and the README know;
            // an empty unit is left out of it, since most of these gauges count things.
            registry.makeGauge(descriptor: .init(namespace: "oms", subsystem: subsystem, metricName: name, unitName: unit, helpText: help))
        }
        self.poolLeased = gauge("db_pool", "connections_leased", help: "Database connections lent out now.")
        self.poolWaiting = gauge("db_pool", "requests_waiting", help: "Requests waiting for a database connection.")
        self.poolSize = gauge("db_pool", "connections_max", help: "The pool's connection limit.")
        self.reconnects = gauge("db", "reconnects", help: "Times database connections were lost or refused and a new one reached the database, since start.")
        self.failovers = gauge("db", "failovers_seen", help: "Changes of the primary seen (another server, or a new timeline: a failover or switchover), since start.")
        self.restarts = gauge("db", "restarts_seen", help: "Restarts in place of the primary seen (same server and timeline, new start time), since start.")
        // Totals since start, read from the writer at scrape time (hence gauges, not counters).
        self.holdQueued = gauge("hold_writer", "queued", help: "Hold requests waiting for the writer now.")
        self.holdBatches = gauge("hold_writer", "batches", help: "Hold transactions committed since start.")
        self.holdRequests = gauge("hold_writer", "requests", help: "Hold requests answered by committed batches since start.")
        self.holdRetries = gauge("hold_writer", "retries", help: "Hold batches retried after a transient failure since start.")
        self.holdBatchSeconds = gauge("hold_writer", "batch", unit: "seconds", help: "Time spent in hold transactions since start.")
        self.stepQueued = gauge("order_step_writer", "queued", help: "Store steps waiting for the step writer now.")
        self.stepBatches = gauge("order_step_writer", "batches", help: "Store-step transactions committed since start.")
        self.stepRequests = gauge("order_step_writer", "requests", help: "Store steps answered by committed batches since start.")
        self.stepRetries = gauge("order_step_writer", "retries", help: "Store-step batches retried after a transient failure since start.")
        self.stepBatchSeconds = gauge("order_step_writer", "batch", unit: "seconds", help: "Time spent in store-step transactions since start.")
        self.tailPosition = gauge("ledger_tail", "position", help: "The last ledger position the tail delivered.")
        self.tailEvents = gauge("ledger_tail", "events", help: "Events the tail delivered since start.")
        self.tailSubscribers = gauge("ledger_tail", "subscribers", help: "Subscribers of the tail now.")
        self.tailDropped = gauge("ledger_tail", "subscribers_dropped", help: "Subscribers dropped for falling behind since start.")
        self.tailReconnects = gauge("ledger_tail", "reconnects", help: "Times the tail lost its connection and reconnected since start.")
        self.livePositions = gauge("availability_model", "positions", help: "Positions the instance's availability model holds in memory.")
        self.liveLoads = gauge("availability_model", "loads", help: "Times the availability model was loaded since start (more than 1: it fell behind the tail and reloaded).")
        self.liveReady = gauge("availability_model", "ready", help: "1 while availability is answered from memory, 0 while it loads or stood down.")
        self.liveWatches = gauge("availability_model", "watches", help: "Availability streams watching the model now.")
    }

    /// Why a tracking request was refused, as `/metrics` labels it.
    enum TrackingRefusal: String {
        case unknown
        case rateLimited = "rate_limited"
    }

    /// Counts a refused tracking request (`oms_tracking_refusals_total{reason}`).
    func trackingRefused(_ reason: TrackingRefusal) {
        let counter = counters.withLock { counters in
            let key = "tracking \(reason.rawValue)"
            if let existing = counters[key] { return existing }
            let made = registry.makeCounter(
                descriptor: .init(namespace: "oms", subsystem: "tracking", metricName: "refusals", unitName: "total", helpText: "Tracking requests refused: an unknown, revoked or expired token, or an address that guessed too often."),
                labels: [("reason", reason.rawValue)])
            counters[key] = made
            return made
        }
        counter.increment()
    }

    func record(method: String, route: String, status: Int, duration: Duration) {
        let statusClass = "\(status / 100)xx"
        let counter = counters.withLock { counters in
            let key = "\(method) \(route) \(status)"
            if let existing = counters[key] { return existing }
            let made = registry.makeCounter(
                descriptor: .init(namespace: "oms", subsystem: "http", metricName: "requests", unitName: "total", helpText: "HTTP requests answered, by route and status."),
                labels: [("method", method), ("route", route), ("status", "\(status)"), ("class", statusClass)])
            counters[key] = made
            return made
        }
        counter.increment()
        let histogram = histograms.withLock { histograms in
            let key = "\(method) \(route)"
            if let existing = histograms[key] { return existing }
            let made = registry.makeDurationHistogram(
                descriptor: .init(namespace: "oms", subsystem: "http", metricName: "request_duration", unitName: "seconds", helpText: "Time to answer HTTP requests, by route."),
                labels: [("method", method), ("route", route)], buckets: Self.latencyBuckets)
            histograms[key] = made
            return made
        }
        histogram.record(duration)
    }

    /// The exposition text, with the pool figures read at scrape time.
    func exposition(database: Database, holdWriter: HoldWriter, orderSteps: OrderStepWriter, tail: LedgerTail, live: LiveStock) -> String {
        let tailed = tail.statistics
        tailPosition.set(Double(tailed.position))
        tailEvents.set(Double(tailed.events))
        tailSubscribers.set(Double(tailed.subscribers))
        tailDropped.set(Double(tailed.subscribersDropped))
        tailReconnects.set(Double(tailed.reconnects))
        let modelled = live.statistics
        livePositions.set(Double(modelled.positions))
        liveLoads.set(Double(modelled.loads))
        liveReady.set(Double(modelled.ready ? 1 : 0))
        liveWatches.set(Double(modelled.watches))
        let steps = orderSteps.statistics
        stepQueued.set(Double(steps.queued))
        stepBatches.set(Double(steps.batches))
        stepRequests.set(Double(steps.requests))
        stepRetries.set(Double(steps.retries))
        stepBatchSeconds.set(steps.batchSeconds)
        let writer = holdWriter.statistics
        holdQueued.set(Double(writer.queued))
        holdBatches.set(Double(writer.batches))
        holdRequests.set(Double(writer.requests))
        holdRetries.set(Double(writer.retries))
        holdBatchSeconds.set(writer.batchSeconds)
        let (leased, waiting) = database.poolStatistics
        poolLeased.set(Double(leased))
        poolWaiting.set(Double(waiting))
        poolSize.set(Double(database.poolSize))
        reconnects.set(Double(database.reconnects))
        let seen = database.watch.counts
        failovers.set(Double(seen.failovers))
        restarts.set(Double(seen.restarts))
        return registry.emitToString()
    }
}
