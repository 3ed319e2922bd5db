import Foundation
import OmnistockCore
import OmnistockStore
import OmnistockTestSupport
import PostgresNIO
import Testing

/// The ledger tail: every committed event once, in position order, to every subscriber of
/// every instance, across concurrent writers, a lost connection and a restart.
@Suite struct LedgerTailTests {
    let meta = EventMetadata(actor: "test")

    /// Runs `body` with a tail running on `database`; the tail stops when `body` returns.
    func withTail<R: Sendable>(
        _ database: Database, queueMax: Int = Limits.tailSubscriberQueueEventsMax, _ body: @Sendable (LedgerTail) async throws -> R
    ) async throws -> R {
        let tail = LedgerTail(database: database, events: EventStore(logger: testLogger), logger: testLogger, subscriberQueueMax: queueMax)
        let running = Task { await tail.run() }
        defer { running.cancel() }
        return try await body(tail)
    }

    /// Collects a subscription's items until it has delivered `head` (or ended), within 30 s.
    func collect(_ subscription: TailSubscription, until head: Int64) async throws -> [TailItem] {
        try await withThrowingTaskGroup(of: [TailItem].self) { group in
            group.addTask {
                var items: [TailItem] = []
                for await item in subscription {
                    items.append(item)
                    switch item {
                    case .started(let after) where after >= head: return items
                    case .events(let page) where page.last!.position >= head: return items
                    case .dropped: return items
                    case .started, .events: continue
                    }
                }
                return items
            }
            group.addTask {
                try await Task.sleep(for: .seconds(30))
                throw CancellationError()
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
    }

    func positions(_ items: [TailItem]) -> [Int64] {
        items.flatMap { item -> [Int64] in
            if case .events(let page) = item { return page.map(\.position) }
            return []
        }
    }

    func defineLocations(_ prefix: String, count: Int, on database: Database) async throws {
        let locations = LocationStore(events: EventStore(logger: testLogger), logger: testLogger)
        for index in 0..<count {
            _ = try await locations.define(location("\(prefix)-\(index)"), metadata: meta, on: database)
        }
    }

    @Test func twoInstancesWritingAtOnceEachDeliverEveryEventOnceInPositionOrder() async throws {
        let settings = try await TestCluster.shared.freshDatabase()
        try await withDatabase(settings) { first in
            try await withDatabase(settings) { second in
                try await withTail(first) { tailA in
                    try await withTail(second) { tailB in
                        let a = try tailA.subscribe()
                        let b = try tailB.subscribe()
                        // Four writers per instance, 25 transactions each, at once.
                        try await withThrowingTaskGroup(of: Void.self) { group in
                            for writer in 0..<4 {
                                group.addTask { try await defineLocations("A\(writer)", count: 25, on: first) }
                                group.addTask { try await defineLocations("B\(writer)", count: 25, on: second) }
                            }
                            try await group.waitForAll()
                        }
                        let head = try await EventStore(logger: testLogger).head(on: first)
                        #expect(head == 200)
                        for subscription in [a, b] {
                            let items = try await collect(subscription, until: head)
                            guard case .started(let after)? = items.first else {
                                Issue.record("the first item is not `started`: \(items.prefix(1))")
                                continue
                            }
                            #expect(positions(items) == Array((after + 1)...head))
                            // Each event comes decoded once by the tail, as its payload decodes.
                            for case .events(let page) in items {
                                for event in page {
                                    #expect(try event.decoded == EventCodec.decode(type: event.type, payload: event.payload))
                                }
                            }
                        }
                        let ledger = try await EventStore(logger: testLogger).read(after: 0, limit: 1_000, on: first).events
                        #expect(ledger.map(\.position) == Array(1...head))
                    }
                }
            }
        }
    }

    @Test func aTailThatLosesItsConnectionReconnectsAndMissesNothing() async throws {
        try await withFreshDatabase { database in
            try await withTail(database) { tail in
                let subscription = try tail.subscribe()
                try await defineLocations("BEFORE", count: 5, on: database)
                _ = try await collect(subscription, until: 5)
                // The tail's LISTEN connection is killed; events committed meanwhile arrive later.
                try await database.withConnection { connection in
                    _ = try await connection.query(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND datname = current_database() AND pid <> pg_backend_pid()",
                        logger: testLogger
                    ).collect()
                }
                try await defineLocations("AFTER", count: 5, on: database)
                let items = try await collect(subscription, until: 10)
                #expect(positions(items) == Array(6...10))
                #expect(tail.statistics.reconnects >= 1)
                #expect(tail.statistics.position == 10)
            }
        }
    }

    @Test func aSubscriberThatFallsBehindIsDroppedWithAReasonAndOthersGoOn() async throws {
        try await withFreshDatabase { database in
            try await withTail(database, queueMax: 4) { tail in
                let slow = try tail.subscribe()
                let fast = try tail.subscribe()
                // Both have started (at the empty ledger's head) before anything is written.
                for subscription in [slow, fast] {
                    for await item in subscription {
                        #expect(item == .started(after: 0))
                        break
                    }
                }
                let reading = Task { try await collect(fast, until: 3) }
                try await defineLocations("X", count: 3, on: database)
                #expect(positions(try await reading.value) == [1, 2, 3])
                // Nobody reads `slow`: the pages that fit its 4 places are queued whole (events 1
                // to at most 4, as the tail's wakes cut them), the page that does not fit drops it.
                let more = Task { try await collect(fast, until: 6) }
                try await defineLocations("Y", count: 3, on: database)
                #expect(positions(try await more.value) == [4, 5, 6])
                let items = try await collect(slow, until: 6)
                let queued = positions(items)
                #expect(!queued.isEmpty && queued.count <= 4 && queued == Array(1...Int64(queued.count)), "\(queued)")
                guard case .dropped(let reason)? = items.last else {
                    Issue.record("the slow subscriber was not dropped: \(items)")
                    return
                }
                #expect(reason.contains("behind"))
                #expect(tail.statistics.subscribersDropped == 1 && tail.statistics.subscribers == 1)
            }
        }
    }

    @Test func aRestartedTailStartsAtTheHeadAndGoesOn() async throws {
        try await withFreshDatabase { database in
            try await withTail(database) { tail in
                let subscription = try tail.subscribe()
                try await defineLocations("OLD", count: 3, on: database)
                _ = try await collect(subscription, until: 3)
            }
            try await withTail(database) { restarted in
                let subscription = try restarted.subscribe()
                for await item in subscription {
                    #expect(item == .started(after: 3))
                    break
                }
                try await defineLocations("NEW", count: 2, on: database)
                #expect(positions(try await collect(subscription, until: 5)) == [4, 5])
            }
        }
    }

    @Test func withNobodyListeningTheTailMovesToTheHeadAndALaterSubscriberStartsThere() async throws {
        try await withFreshDatabase { database in
            try await withTail(database) { tail in
                try await defineLocations("QUIET", count: 5, on: database)
                // Bounded wait: the tail follows the head within a notification or a poll.
                for _ in 0..<100 where tail.statistics.position < 5 { try await Task.sleep(for: .milliseconds(100)) }
                #expect(tail.statistics.position == 5 && tail.statistics.events == 0)
                let subscription = try tail.subscribe()
                try await defineLocations("HEARD", count: 2, on: database)
                let items = try await collect(subscription, until: 7)
                #expect(items.first == .started(after: 5))
                #expect(positions(items) == [6, 7])
            }
        }
    }

    @Test func aSubscriberWithAFilterGetsOnlyTheEventsItWantsAndIsNotWokenForOthers() async throws {
        try await withFreshDatabase { database in
            try await withTail(database) { tail in
                let all = try tail.subscribe()
                let some = try tail.subscribe(wanting: { $0.stream.contains("WANTED") })
                // Both have started (at the empty ledger's head) before anything is written.
                for subscription in [all, some] {
                    for await item in subscription {
                        #expect(item == .started(after: 0))
                        break
                    }
                }
                try await defineLocations("OTHER", count: 3, on: database)
                _ = try await collect(all, until: 3)
                try await defineLocations("WANTED", count: 2, on: database)
                try await defineLocations("OTHER-AGAIN", count: 1, on: database)
                #expect(positions(try await collect(all, until: 6)) == [4, 5, 6])
                // Its queue holds only what it wants: positions 4 and 5 alone, in pages never empty.
                let items = try await collect(some, until: 5)
                #expect(positions(items) == [4, 5])
                #expect(items.allSatisfy { if case .events(let page) = $0 { !page.isEmpty } else { false } }, "\(items)")
            }
        }
    }
}
