import Foundation
import Logging
import OmnistockCore
import OmnistockStore
import ServiceLifecycle
import Synchronization

/// How an instance delivers webhooks.
public struct WebhookSettings: Sendable {
    public var allowPrivateTargets: Bool
    public var schedule: RetrySchedule
    public var leaseSeconds: Int64

    public init(allowPrivateTargets: Bool = false, schedule: RetrySchedule = .standard, leaseSeconds: Int64 = Limits.webhookLeaseSecondsDefault) {
        precondition((Limits.webhookLeaseSecondsMin...Limits.webhookLeaseSecondsMax).contains(leaseSeconds), "the settings bound the lease")
        self.allowPrivateTargets = allowPrivateTargets
        self.schedule = schedule
        self.leaseSeconds = leaseSeconds
    }
}

/// The body of a delivery for an event, as a subscription scoped to `LocationScope` may see it
/// (nil: the event is hidden from it). The edge writes it, with the feed's own JSON.
public typealias WebhookBodyRenderer = @Sendable (RecordedEvent, LocationScope) throws -> [UInt8]?

/// Delivers every active subscription this instance holds the lease of, each by a loop of its
/// own (DeliveryLoop.swift): one event in flight per subscription, in ledger order.
///
/// Events come from the ledger tail through a window of recent events (one read of the tail for
/// every subscription); a loop further behind reads the ledger itself. Leases are taken and
/// renewed in rounds, every quarter of the lease; a round starts the loops of subscriptions newly
/// held or changed through the API (their generation moved) and stops those no longer held.
public final class WebhookDispatcher: Service, Sendable {
    let store: WebhookStore
    let events: EventStore
    let database: Database
    let tail: LedgerTail
    let render: WebhookBodyRenderer
    let observer: (any WebhookDeliveryObserver)?
    let settings: WebhookSettings
    let resolver: TargetResolver
    let logger: Logger
    /// This instance's name in `lease_owner`: random per process, so a restarted instance does
    /// not mistake the leases of its previous life for current ones.
    public let owner: String
    let window = EventWindow()
    let sender = WebhookSender()
    let failures = FailureLog(what: "webhook lease round")
    /// When this instance's leases stop being surely its own, in nanoseconds of `epoch`.
    private let leaseValidNanoseconds = Atomic<Int64>(0)
    let epoch = ContinuousClock.now
    private let loops = Mutex<Loops>(Loops())
    /// Bumped when a loop ends on its own, so that a round soon starts it again if it is still
    /// held (its row changed through another instance) rather than a quarter lease later.
    private let loopsEnded = Atomic<Int>(0)

    struct Loops {
        var running: [String: (generation: Int64, token: Int, task: Task<Void, Never>)] = [:]
        var nextToken = 0
    }

    public init(
        store: WebhookStore, events: EventStore, database: Database, tail: LedgerTail, render: @escaping WebhookBodyRenderer,
        observer: (any WebhookDeliveryObserver)?, settings: WebhookSettings, logger: Logger
    ) {
        self.store = store
        self.events = events
        self.database = database
        self.tail = tail
        self.render = render
        self.observer = observer
        self.settings = settings
        self.resolver = TargetResolver(allowPrivate: settings.allowPrivateTargets)
        self.logger = logger
        var generator = SystemRandomNumberGenerator()
        self.owner = "oms-" + String(generator.next() as UInt64, radix: 36)
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.followTail() }
                group.addTask { await self.leaseRounds() }
            }
        }
        await stopAll()
        // Given up at once, so another instance takes over without waiting for them to run out.
        try? await store.release(owner: owner, on: database)
        await sender.shutdown()
    }

    // MARK: - The tail

    /// Keeps the window of recent events; joins the tail again when dropped.
    func followTail() async {
        while !Task.isCancelled {
            do {
                let subscription = try tail.subscribe()
                for await item in subscription {
                    switch item {
                    case .started(let after): window.restart(after: after)
                    case .events(let page): window.append(page)
                    case .dropped(let reason): logger.warning("webhook delivery left the ledger tail", metadata: ["reason": "\(reason)"])
                    }
                }
                subscription.cancel()
            } catch {
                logger.warning("webhook delivery could not join the ledger tail", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }

    // MARK: - Leases

    var roundInterval: Duration { .milliseconds(settings.leaseSeconds * 1_000 / 4) }

    /// A round every quarter of the lease, and soon after a change made through this instance's
    /// API (a new subscription, a redelivery) or a loop that ended, looked for every `changeCheck`.
    func leaseRounds() async {
        let changeCheck = Duration.milliseconds(100)
        func changes() -> Int { store.changes &+ loopsEnded.load(ordering: .acquiring) }
        var seen = changes()
        var last = ContinuousClock.now
        // The first round waits for the schema, which the server migrates as it starts.
        try? await Task.sleep(for: .milliseconds(500))
        while !Task.isCancelled {
            seen = changes()
            last = .now
            await leaseRound()
            while !Task.isCancelled, ContinuousClock.now - last < roundInterval, changes() == seen {
                try? await Task.sleep(for: changeCheck)
            }
        }
    }

    /// Claims and renews leases, then starts and stops loops to match.
    func leaseRound() async {
        let began = nanoseconds()
        do {
            let leased = try await store.claim(owner: owner, leaseSeconds: settings.leaseSeconds, limit: Limits.webhookSubscriptionsMax, on: database)
            failures.succeeded(logger)
            // PostgreSQL's lease runs to its clock's now plus the lease, read after `began`: a
            // quarter of the lease before that end is surely ours still.
            leaseValidNanoseconds.store(began + settings.leaseSeconds * 750_000_000, ordering: .releasing)
            reconcile(leased)
            window.wakeAll()
        } catch where error.sqlState == "42P01" {
            logger.debug("webhook delivery waits for the schema")
        } catch {
            failures.failed(error, logger)
        }
    }

    /// Starts a loop for each held subscription without one (or whose generation moved), and
    /// stops the loops of those no longer held.
    func reconcile(_ leased: [LeasedSubscription]) {
        var wanted: [String: Int64] = [:]
        for subscription in leased { wanted[subscription.id] = subscription.generation }
        loops.withLock { loops in
            for (id, loop) in loops.running where wanted[id] != loop.generation {
                loop.task.cancel()
                loops.running[id] = nil
            }
            for (id, generation) in wanted where loops.running[id] == nil {
                let token = loops.nextToken
                loops.nextToken += 1
                let task = Task { await self.deliver(id: id, generation: generation, token: token) }
                loops.running[id] = (generation, token, task)
            }
        }
    }

    /// A loop that ended on its own leaves, so that the next round may start it again.
    func ended(id: String, token: Int) {
        loops.withLock { loops in
            if loops.running[id]?.token == token { loops.running[id] = nil }
        }
        loopsEnded.add(1, ordering: .releasing)
        observer?.stopped(subscription: id)
    }

    func stopAll() async {
        let tasks = loops.withLock { loops in
            let tasks = loops.running.values.map(\.task)
            loops.running = [:]
            return tasks
        }
        for task in tasks { task.cancel() }
        window.wakeAll()
        for task in tasks { await task.value }
    }

    func nanoseconds() -> Int64 {
        let elapsed = ContinuousClock.now - epoch
        return elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000
    }

    /// How long a request may still take under the lease, or nil when the lease may have run
    /// out (renewals failed): a quarter of the lease is kept in hand for clock drift.
    func leaseRemaining() -> Duration? {
        let remaining = leaseValidNanoseconds.load(ordering: .acquiring) - nanoseconds()
        guard remaining > 250_000_000 else { return nil }
        return .nanoseconds(remaining)
    }
}
