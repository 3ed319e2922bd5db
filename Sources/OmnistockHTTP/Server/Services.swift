import Logging
import OmnistockCore
import OmnistockStore

/// What the edge needs from the rest of the service; built once by the `oms` executable.
public struct EdgeServices: Sendable {
    public var database: Database
    public var events: EventStore
    public var locations: LocationStore
    public var stock: StockStore
    public var holds: HoldStore
    /// The instance's single hold writer (group commit).
    public var holdWriter: HoldWriter
    /// Orders, store work, returns, transfers and the sourcing preview.
    public var orders: OrderStore
    /// The instance's writer of store steps (group commit).
    public var orderSteps: OrderStepWriter
    /// The instance's ledger tail: the one source of what is real-time.
    public var tail: LedgerTail
    /// The instance's availability in memory, kept by the tail (run by `LiveStockService`).
    public var live: LiveStock
    /// The JSON of recent events as the event streams show them, made once per event.
    let eventJSON = EventStreamCache()
    public var apiKeys: ApiKeyStore
    public var idempotency: IdempotencyStore
    public var migrator: Migrator
    public var metrics: EdgeMetrics
    public var logger: Logger
    /// The instance's open Server-Sent Event streams, bounded in all and per key.
    public var streams: StreamRegistry
    /// Webhook subscriptions, and the check of their targets' addresses.
    public var webhooks: WebhookStore
    public var webhookTargets: TargetResolver
    /// How soon after its order a pickup is promised ready (`readyBy`; OMS_PICKUP_PROMISE_SECONDS).
    public var pickupPromiseSeconds: Int64 = Limits.pickupPromiseSecondsDefault
    /// How long a tracking link works after its order ended (`OMS_TRACKING_VALID_AFTER_END_SECONDS`).
    public var trackingValidAfterEndSeconds: Int64 = Limits.trackingValidAfterEndSecondsDefault
    /// The KPI projection's reads.
    public var kpis: KPIStore

    public init(
        database: Database, events: EventStore, locations: LocationStore, stock: StockStore, holds: HoldStore, holdWriter: HoldWriter, orders: OrderStore, orderSteps: OrderStepWriter, tail: LedgerTail, apiKeys: ApiKeyStore,
        idempotency: IdempotencyStore, migrator: Migrator, metrics: EdgeMetrics, logger: Logger,
        streams: StreamLimits = StreamLimits(), webhookTargets: TargetResolver = TargetResolver(allowPrivate: false)
    ) {
        self.database = database
        self.events = events
        self.locations = locations
        self.stock = stock
        self.holds = holds
        self.holdWriter = holdWriter
        self.orders = orders
        self.orderSteps = orderSteps
        self.tail = tail
        self.live = LiveStock(database: database, events: events, tail: tail, logger: logger)
        self.apiKeys = apiKeys
        self.idempotency = idempotency
        self.migrator = migrator
        self.metrics = metrics
        self.logger = logger
        self.streams = StreamRegistry(limits: streams, metrics: metrics.streams)
        self.webhooks = WebhookStore(logger: logger)
        self.webhookTargets = webhookTargets
        self.kpis = KPIStore(logger: logger)
    }
}
