/// Every bound the service enforces, in one place, each named with its unit last.
///
/// A limit that is not written here does not exist: a value that cannot be bounded is a bug,
/// because it is how memory, disk and latency run away under real traffic.
public enum Limits {
    /// Identifiers chosen by the retailer (location ids, SKUs) are short printable tokens.
    public static let identifierLengthMax = 64
    /// Human-readable names (a store's name, an API key's label).
    public static let nameLengthMax = 200
    /// A location's daily order capacity; 0 means it takes no orders that day.
    public static let dailyCapacityMax: Int64 = 1_000_000
    /// Location priority: lower is preferred when sourcing, ties broken by distance.
    public static let priorityMin: Int64 = 0
    public static let priorityMax: Int64 = 1_000
    /// Days an uncollected pickup order waits before it expires and its stock is released.
    public static let pickupWindowDaysMin: Int64 = 1
    public static let pickupWindowDaysMax: Int64 = 60
    /// What a location definition gets when it does not say.
    public static let pickupWindowDaysDefault: Int64 = 7
    public static let priorityDefault: Int64 = 100
    /// How soon after its order a pickup is promised ready ("ready in under two hours", the
    /// retailers' click & collect promise); a setting (`OMS_PICKUP_PROMISE_SECONDS`) within
    /// these bounds.
    public static let pickupPromiseSecondsDefault: Int64 = 7_200
    public static let pickupPromiseSecondsMin: Int64 = 60
    public static let pickupPromiseSecondsMax: Int64 = 7 * 86_400
    /// The customer's tracking link (`/track/{token}`): random bytes of a token (256 bits,
    /// base64url: 43 characters), and the longest token looked up (anything longer is unknown).
    public static let trackingTokenBytes = 32
    public static let trackingTokenLengthMax = 64
    /// How long a tracking link keeps working after its order ended (collected, shipped,
    /// cancelled, expired); a setting (`OMS_TRACKING_VALID_AFTER_END_SECONDS`) within these.
    public static let trackingValidAfterEndSecondsDefault: Int64 = 30 * 86_400
    public static let trackingValidAfterEndSecondsMin: Int64 = 3_600
    public static let trackingValidAfterEndSecondsMax: Int64 = 365 * 86_400
    /// Steps a tracking page shows, and events of one order read for it (an order has a
    /// handful; a bound all the same).
    public static let trackingStepsMax = 100
    public static let trackingEventsMax = 500
    /// Guessing tracking links: unknown tokens one client address may ask within the window
    /// before every tracking request of it is answered 429 until the window ends, and client
    /// addresses remembered (the oldest window is forgotten first).
    public static let trackingMissesPerWindowMax = 20
    public static let trackingMissWindowSeconds: Int64 = 60
    public static let trackingAddressesMax = 10_000
    /// Coordinates in decimal degrees (WGS 84).
    public static let latitudeDegreesMax = 90.0
    public static let longitudeDegreesMax = 180.0

    /// An API key may be bound to at most this many locations; larger estates use an
    /// unbound integration key.
    public static let apiKeyLocationsMax = 1_000

    /// Idempotency keys are client-chosen opaque strings (Stripe and the IETF draft use UUIDs).
    public static let idempotencyKeyLengthMax = 255
    /// How long a stored answer to an idempotent request is kept, by default and at most.
    public static let idempotencyRetentionSecondsDefault: Int64 = 86_400
    public static let idempotencyRetentionSecondsMin: Int64 = 60
    public static let idempotencyRetentionSecondsMax: Int64 = 7 * 86_400

    /// Pages of the event feed and of listings.
    public static let pageSizeDefault = 100
    public static let pageSizeMax = 1_000
    /// Event types a feed request may filter on at once.
    public static let eventTypeFilterCountMax = 50

    /// Stock quantities: one line, one position, one count.
    public static let stockQuantityMax: Int64 = 1_000_000_000
    /// Lines in one stock movements request (a warehouse's daily receipts, a POS day).
    public static let movementLinesMax = 10_000
    /// Lines in one count.
    public static let countLinesMax = 10_000
    /// Reason codes and external references on movements.
    public static let referenceLengthMax = 128
    /// How far a count's `countedAt` may lie ahead of the server clock (clock skew), and how far back.
    public static let countFutureSkewMillisecondsMax: Int64 = 5 * 60 * 1000
    public static let countAgeMillisecondsMax: Int64 = 90 * 86_400 * 1000
    /// SKUs in one availability request.
    public static let availabilitySkusMax = 500
    /// Search radius around a point, in kilometres.
    public static let radiusKilometresMax = 20_000.0
    /// Events that touched a position since an `asOf` time that one time-travel read takes back;
    /// further back is refused (400, naming the earliest time it can answer), so one read stays
    /// a bounded amount of work (measured: 0.5 to 1 s at the bound, debug build on 2 cores, nearly
    /// all of it decoding the events).
    public static let asOfEventsReadMax = 10_000

    /// The largest request body the edge reads, in bytes. Sized for 10,000 stock movement lines.
    public static let requestBodyBytesMax = 8 * 1024 * 1024
    /// How deeply a request body's objects and arrays may nest: no body the API takes nests
    /// deeper than 3 (a hold's fulfilment address), and the bound caps the duplicate-key scan's stack.
    public static let requestBodyNestingDepthMax = 32

    /// Holds: how long one lasts unless extended (15 minutes), and the bounds of a request's TTL.
    public static let holdTTLSecondsDefault: Int64 = 900
    public static let holdTTLSecondsMin: Int64 = 1
    public static let holdTTLSecondsMax: Int64 = 86_400
    /// How long after it was placed a hold may last in all, extensions included: a hold
    /// extended for ever would lock stock for ever.
    public static let holdLifetimeSecondsMax: Int64 = 86_400
    /// Lines in one hold (a large basket), and units on one line.
    public static let holdLinesMax = 100
    public static let holdLineQuantityMax: Int64 = 1_000_000
    /// Hold requests waiting for the writer of one instance; past it the edge answers 503 with
    /// Retry-After rather than grow memory without bound.
    public static let holdQueueDepthMax = 20_000
    /// Hold requests decided in one database transaction (group commit).
    public static let holdBatchRequestsMax = 512
    /// Hold batches one instance decides and writes at once. Two lanes let one batch decide
    /// while the other commits; more would only queue on the same row locks and ledger head.
    public static let holdWriterLanesMax = 2
    /// Holds expired by one sweeper transaction, and how often the sweeper looks for them.
    public static let holdExpiryBatchMax = 500
    public static let holdSweepIntervalMilliseconds: Int64 = 1_000

    /// Orders: lines in one order (a large basket, as for holds), and the pickup code.
    public static let orderLinesMax = 100
    /// Pickup codes are 8 characters from a 32-symbol alphabet (40 bits): unguessable
    /// within `pickupCodeAttemptsMax` tries.
    public static let pickupCodeLength = 8
    /// Wrong pickup codes after which an order is locked for collection until unlocked.
    public static let pickupCodeAttemptsMax = 5
    /// Orders whose pickup window ended that one sweeper transaction expires, and how often
    /// the sweeper looks for them.
    public static let noShowBatchMax = 500
    public static let noShowSweepIntervalMilliseconds: Int64 = 5_000
    /// Lines in one transfer.
    public static let transferLinesMax = 1_000
    /// How far a location may be from where the goods go (the customer, or the pickup store a
    /// transfer serves) to be chosen by sourcing, in kilometres.
    public static let sourcingDistanceKilometresMax = 1_000.0
    /// Milliseconds in a day: daily capacity counts orders per UTC day, pickup windows are days.
    public static let dayMilliseconds: Int64 = 86_400_000
    /// Store steps (picking, ready, collect, unlock) waiting for the step writer of one
    /// instance, decided in one transaction, and decided at once (as for holds).
    public static let orderStepQueueDepthMax = 20_000
    public static let orderStepBatchMax = 256
    public static let orderStepLanesMax = 2
    /// Rows read or written per statement by replay, verify and an import's pre-flight: large
    /// enough to amortise round trips, small enough to bound one statement's memory.
    public static let rebuildRowsPerStatementMax = 10_000
    /// Events of one transaction from which their encoding runs beside the projection statement
    /// (below, a child task costs more than it overlaps: a hold batch appends tens of events).
    public static let appendEncodedAlongsideEventsMin = 1_000
    /// Positions from which a writer's lock first tries them as existing rows, in a savepoint
    /// (`StockStore.lock`): a movement request's size, not a hold's or an order step's.
    public static let positionsLockedFirstAsExistingMin = 1_000
    /// Attempts when two first definitions of one location race (the loser reads again).
    public static let locationRaceAttemptsMax = 3
    /// Decisions made again when concurrent orders filled a chosen location's daily capacity.
    public static let capacityRecheckMax = 3
    /// Events a ledger tail reads per statement while it catches up, and pages per wake.
    public static let tailPageEventsMax = 1_000
    public static let tailCatchUpPagesMax = 100
    /// Events waiting for one subscriber of a ledger tail; one that falls further behind is
    /// dropped (with a reason) rather than allowed to grow memory.
    public static let tailSubscriberQueueEventsMax = 10_000
    /// Subscribers one ledger tail serves at once.
    public static let tailSubscribersMax = 10_000
    /// How often a ledger tail reads the ledger without a notification, in case one was missed.
    public static let tailPollIntervalMilliseconds: Int64 = 5_000
    /// Pause before a ledger tail connects again after losing its connection.
    public static let tailReconnectDelayMilliseconds: Int64 = 1_000
    /// Positions the in-memory availability model of an instance holds at most. Past it the
    /// model stands down and availability is read from PostgreSQL (as before it existed), and
    /// the availability stream answers 503: the bound keeps a large estate from growing one
    /// instance's memory without limit (about 300 bytes a position, measured by `make bench`).
    public static let liveStockPositionsMax = 5_000_000
    /// How long an availability read with `minPosition` waits for the model to reach it before
    /// it is read from PostgreSQL instead (the model trails a commit by the tail's wake).
    public static let liveStockCatchUpWaitMilliseconds: Int64 = 250
    /// The longest the model sleeps between two sweeps of expired holds: a hold frees its stock on
    /// the availability stream within this of its `expiresAt` (the issue asks for a second).
    public static let liveStockSweepIntervalMillisecondsMax: Int64 = 200
    /// Recent events whose stream JSON an instance keeps, so that many open event streams
    /// encode each event once: a few seconds of a busy ledger.
    public static let streamEventCacheEntriesMax = 8_192
    /// A batching writer's retries of a transient failure, and its backoff between them.
    public static let writerRetriesMax = 3
    public static let writerRetryBackoffMillisecondsMax: Int64 = 50
    /// Background sweeps: keys deleted per statement, statements per round, and how often the
    /// idempotency keys are swept (their retention is hours, so a minute is fine-grained).
    public static let idempotencySweepBatchMax = 1_000
    public static let sweepBatchesPerRoundMax = 100
    public static let idempotencySweepIntervalMilliseconds: Int64 = 60_000
    /// Authenticated API keys an instance keeps in memory.
    public static let apiKeyCacheEntriesMax = 10_000
    /// How long opening a database connection may take before it fails.
    public static let databaseConnectTimeoutMilliseconds: Int64 = 5_000
    /// How long a caller waits for a pooled connection while the pool cannot connect before it
    /// is answered 503: the pool queues a lease for as long as it cannot connect (60 s, then its
    /// own breaker trips: the 66 s waits seen after `kill -9` of the postmaster), so 1.5 s keeps
    /// every answer of an outage within about two seconds.
    public static let databaseAcquireTimeoutMilliseconds: Int64 = 1_500
    /// How long a caller waits for a pooled connection while the pool connects but lags (every
    /// connection busy, a loaded machine): not an outage, and the whole test suite on two busy
    /// cores saw leases of more than 1.5 s.
    public static let databaseAcquireBusyTimeoutMilliseconds: Int64 = 10_000
    /// While the database is away, the pause between one caller's probe of the pool and the
    /// next; callers in between are answered 503 at once (a writer running a failed batch of
    /// 512 one by one would otherwise wait 1.5 s per request, measured 10.5 s for 8 holds).
    public static let databaseProbePauseMilliseconds: Int64 = 500
    /// How long a lease whose connection closed may stay lent before its pool slot is given
    /// back: a query answers its connection's loss in milliseconds, except one PostgresNIO lost
    /// (written to the channel after it closed), which would otherwise keep the slot for ever.
    public static let databaseLostConnectionGraceMilliseconds: Int64 = 1_000
    /// How often an instance looks at which database server answers (primary or standby, its
    /// address and timeline), to count failovers in `/metrics` and log them: within a second of
    /// a failover (Patroni's takes 3 to 4 s here, `make ha-test`).
    public static let databaseWatchIntervalMilliseconds: Int64 = 1_000
    /// Starts of the embedded PostgreSQL on a port of its choosing before giving up.
    public static let embeddedStartAttemptsMax = 3
    /// The bytes of COPY data a replay or a verify gathers before it sends them.
    public static let rebuildCopyBufferBytesMax = 1 << 20
    /// The embedded PostgreSQL's max_connections: an instance's pool, its ledger tail and the
    /// operator's tools, with room to spare.
    public static let embeddedConnectionsMax = 200

    /// How long `oms serve` gives its services to stop after SIGTERM (or a failed start)
    /// before cancelling them: as long as the common 30 s an orchestrator waits before SIGKILL.
    public static let shutdownGracefulSecondsMax: Int64 = 30
    /// How long the services then have to end once cancelled, before the process stops with a
    /// fatal error rather than hang.
    public static let shutdownCancellationSecondsMax: Int64 = 10

    /// How long a kept-alive HTTP connection may wait for its next request: longer than the
    /// 60 s idle timeout of common load balancers, so that the balancer closes first and never
    /// sends a request on a connection we are closing.
    public static let httpIdleTimeoutSecondsDefault = 75
    public static let httpIdleTimeoutSecondsMax = 3_600
    /// How long a request head may take from its first byte: a client sends it in one packet
    /// in milliseconds, so 10 s is ample on a poor mobile link and short for a slowloris.
    public static let httpHeaderTimeoutSecondsDefault = 10
    public static let httpHeaderTimeoutSecondsMax = 300
    /// How long a request body may take from the end of its head, whole: 60 s lets the
    /// largest body (8 MiB) arrive at 1.1 Mbit/s, and a 10,000-line movements file (about
    /// 1.2 MB) at 160 kbit/s.
    public static let httpBodyTimeoutSecondsDefault = 60
    public static let httpBodyTimeoutSecondsMax = 3_600
    /// The shortest connection timeout a setting may ask for.
    public static let httpTimeoutSecondsMin = 1
    /// Open HTTP connections one instance serves; past it, it stops accepting and new
    /// connections wait in the listen backlog. Half this host's `ulimit -n` of 20,000.
    public static let httpConnectionLimitDefault = 10_000
    public static let httpConnectionLimitMin = 1
    public static let httpConnectionLimitMax = 1_000_000
    /// Descriptors an instance keeps free of HTTP connections besides its database pool: 21
    /// are open at rest (logs, event loops, timers, the listening socket), and libdispatch
    /// opens one every second to watch its threads and traps the process when it cannot.
    public static let descriptorsReservedCount = 128

    /// Server-Sent Event streams open at once on one instance, by default and at most: each
    /// holds a connection and a ledger tail subscription, so the ceiling is the tail's.
    public static let streamsPerInstanceDefault = 2_000
    public static let streamsPerInstanceMax = tailSubscribersMax
    /// Streams one API key may hold open at once, so that one integration cannot take them all.
    public static let streamsPerKeyDefault = 200
    /// Messages waiting to be written to one stream's client, by default and at most; a client
    /// that lets more pile up is disconnected (it resumes from its Last-Event-ID). At about
    /// 0.5 KB an event, the default is about 0.5 MB for a stuck client.
    public static let streamQueueMessagesDefault = 1_000
    public static let streamQueueMessagesMax = 100_000
    /// Events a stream reads from the ledger per statement while it catches up.
    public static let streamCatchUpPageEventsMax = 500
    /// How long a stream may stay silent before a comment line is sent: under the 30 to 60 s
    /// idle timeouts of common proxies and load balancers.
    public static let streamHeartbeatSeconds = 15
    /// How long one write to a stream's client may take: past it the client has stopped reading
    /// with a full TCP window, and its connection is closed.
    public static let streamWriteTimeoutSeconds = 10
    /// The reconnection delay a stream suggests to an EventSource (its `retry:` field).
    public static let streamRetryMillisecondsHint = 2_000
    /// The Retry-After of a stream refused for too many open streams.
    public static let streamRetryAfterSeconds = 5
    /// How long an event stream's queue may stay full (without draining to half) before its
    /// client is cut off as too slow: a burst (a 10,000-line import commits 10,000 events at
    /// once) fills it for a moment, a client that reads slower than events come keeps it full.
    public static let streamQueueFullSecondsMax = 2
}

extension Limits {
    /// Webhook subscriptions of a deployment: each is a delivery loop and a lease in every round.
    public static let webhookSubscriptionsMax = 200
    /// A subscription's URL, its description, and the types and locations it may name.
    public static let webhookURLLengthMax = 2_048
    public static let webhookDescriptionLengthMax = 500
    public static let webhookEventTypesMax = 50
    public static let webhookLocationsMax = 100
    /// Retries after a first failed attempt, and the longest delay between two.
    public static let webhookRetriesMax = 20
    public static let webhookRetryDelaySecondsMax: Int64 = 86_400
    /// How long the old secret keeps signing beside the new one after a rotation.
    public static let webhookPreviousSecretSeconds: Int64 = 86_400
    /// A delivery's whole request (connect, send, answer) must end within this.
    public static let webhookTimeoutSeconds: Int64 = 10
    /// Bytes of a receiver's answer that are read; the rest is dropped with the connection.
    public static let webhookResponseBytesMax = 16_384
    /// Characters of a receiver's answer or error kept in the delivery log.
    public static let webhookErrorLengthMax = 300
    /// Attempts kept per subscription in the delivery log; older ones are pruned.
    public static let webhookDeliveriesKeptMax = 100
    /// Attempts a `deliveries` page shows, by default and at most.
    public static let webhookDeliveriesPageDefault = 50
    public static let webhookDeliveriesPageMax = 100
    /// The lease of a subscription, by default and within these bounds. It is renewed every
    /// quarter, and a delivery's request must end within three quarters of it from the last
    /// renewal, so it never outlives the lease: 30 s leaves a request its whole 10 s, and
    /// another instance takes over within about 40 s of one's death.
    public static let webhookLeaseSecondsDefault: Int64 = 30
    public static let webhookLeaseSecondsMin: Int64 = 2
    public static let webhookLeaseSecondsMax: Int64 = 300
    /// Events a subscription reads from the ledger at once when it is behind the tail.
    public static let webhookPageEventsMax = 200
    /// Recent events the dispatcher keeps from the tail for subscriptions that keep up: they are
    /// served from memory, not read again per subscription.
    public static let webhookWindowEventsMax = 20_000
    /// Delivered events whose cursor and log rows are written in one transaction, at most, and
    /// the longest a delivered event waits for that write. A crash loses at most this much
    /// progress, which is delivered again (at least once, duplicates by webhook-id).
    public static let webhookProgressBatchMax = 100
    public static let webhookProgressFlushMilliseconds: Int64 = 200
    /// Tries of one progress write (about 100 ms to 1 s apart, while the lease lasts).
    public static let webhookProgressWriteAttemptsMax = 60

    // MARK: Web pages

    /// The files of one web page shipped in the binary (the store app), and each file's size:
    /// they are read into memory at start, so a stray large file is refused there, not served.
    public static let webPageFilesMax = 64
    public static let webPageFileBytesMax = 1_048_576

    // MARK: KPIs

    /// The counters of the KPIs are kept per location and UTC hour: a period is read in whole
    /// hours, and a year of one store is 8,760 rows.
    public static let kpiBucketMilliseconds: Int64 = 3_600_000
    /// The order-to-ready histogram has one bucket per minute up to a week; longer waits share
    /// the last one.
    public static let kpiReadyMinutesMax = 10_080
    /// The longest period one KPI request reads (a year and a day), and its series' buckets.
    public static let kpiPeriodHoursMax: Int64 = 366 * 24
    public static let kpiSeriesBucketsMax = 1_000
    /// Locations one KPI request names.
    public static let kpiLocationsMax = 100
    /// A change of a location's default safety stock recounts its sellable positions in one
    /// transaction, holding each of them: at most this many.
    public static let locationPositionsRecountMax = 500_000
}
