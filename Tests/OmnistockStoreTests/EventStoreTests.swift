import Foundation
import Logging
import OmnistockCore
import OmnistockStore
import OmnistockTestSupport
import PostgresNIO
import Testing

func location(_ id: String, name: String = "Store") -> Location {
    Location(
        id: id, name: name, kind: .store, latitude: 48.86, longitude: 2.34, capabilities: .init(pickup: true, ships: false),
        dailyCapacity: 100, priority: 1, pickupWindowDays: 7, active: true)
}

func defined(_ id: String, name: String = "Store", created: Bool = true) -> LedgerEvent {
    .locationDefined(LocationDefined(location: location(id, name: name), created: created))
}

/// A one-shot signal between tasks.
struct Signal: Sendable {
    let stream: AsyncStream<Void>
    let continuation: AsyncStream<Void>.Continuation
    init() { (stream, continuation) = AsyncStream.makeStream() }
    func fire() { continuation.yield(); continuation.finish() }
    func wait() async { for await _ in stream { return } }
}

@Suite struct EventStoreTests {
    let store = EventStore(logger: testLogger)
    let meta = EventMetadata(actor: "test", idempotencyKey: "k-1", correlationId: "req-1")

    @Test func appendsGetConsecutivePositionsAndStreamVersions() async throws {
        try await withFreshDatabase { database in
            let first = try await database.transaction { connection in
                try await store.append(
                    [defined("A"), defined("B")], expected: ["location-A": .noStream, "location-B": .noStream],
                    metadata: meta, on: connection)
            }
            let second = try await database.transaction { connection in
                try await store.append(
                    [defined("A", name: "Renamed", created: false)], expected: ["location-A": .exact(1)], metadata: meta,
                    on: connection)
            }
            #expect(first.map(\.position) == [1, 2] && first.map(\.streamVersion) == [1, 1])
            #expect(second.map(\.position) == [3] && second[0].recordedAt >= first[1].recordedAt)
            let page = try await store.read(after: 0, limit: 10, on: database)
            #expect(page.events.map(\.position) == [1, 2, 3])
            #expect(page.events.map(\.streamVersion) == [1, 1, 2])
            #expect(page.events.map(\.stream) == ["location-A", "location-B", "location-A"])
            #expect(page.headPosition == 3)
            #expect(page.nextAfter == 3)
            // Stored as written (migration 0017): compact, keys in the encoder's order.
            #expect(page.events[0].metadata == #"{"actor":"test","correlationId":"req-1","idempotencyKey":"k-1"}"#)
            #expect(try EventCodec.decode(type: page.events[2].type, payload: page.events[2].payload) == defined("A", name: "Renamed", created: false))
        }
    }

    @Test func aStaleExpectedVersionIsRefusedAndWritesNothing() async throws {
        try await withFreshDatabase { database in
            _ = try await database.transaction { connection in
                try await store.append([defined("A")], expected: ["location-A": .noStream], metadata: meta, on: connection)
            }
            for stale in [ExpectedVersion.noStream, .exact(0), .exact(2)] {
                await #expect(throws: Rejection.concurrentModification(stream: "location-A")) {
                    try await database.transaction { connection in
                        try await store.append([defined("A", created: false)], expected: ["location-A": stale], metadata: meta, on: connection)
                    }
                }
            }
            let checked1 = try await store.read(after: 0, limit: 10, on: database).events.count
            #expect(checked1 == 1)
        }
    }

    @Test func pagesFiltersAndScopes() async throws {
        try await withFreshDatabase { database in
            for id in ["A", "B", "C", "D", "E"] {
                _ = try await database.transaction { connection in
                    try await store.append([defined(id)], expected: [:], metadata: meta, on: connection)
                }
            }
            let first = try await store.read(after: 0, limit: 2, on: database)
            #expect(first.events.map(\.position) == [1, 2])
            #expect(first.nextAfter == 2)
            let rest = try await store.read(after: first.nextAfter, limit: 10, on: database)
            #expect(rest.events.map(\.position) == [3, 4, 5])
            let caughtUp = try await store.read(after: 5, limit: 10, on: database)
            #expect(caughtUp.events.isEmpty && caughtUp.nextAfter == 5)
            let scoped = try await store.read(after: 0, limit: 10, locations: ["B", "D"], on: database)
            #expect(scoped.events.map(\.position) == [2, 4])
            #expect(scoped.nextAfter == 5, "a filtered reader's cursor moves past what it scanned")
            let none = try await store.read(after: 0, limit: 10, types: ["stock.moved"], on: database)
            #expect(none.events.isEmpty && none.nextAfter == 5)
            let typed = try await store.read(after: 0, limit: 10, types: ["location.defined"], on: database)
            #expect(typed.events.count == 5)
        }
    }

    /// The trap of sequence-numbered ledgers: transaction A takes position 1, B takes position 2
    /// and commits first; a reader sees 2, moves its cursor past 1, and never sees A's event.
    /// Here B cannot take a position until A has committed, so the reader's order is commit order.
    ///
    /// Every wait is bounded and A is told to commit on every path: once a wait here never
    /// ended (A idle in its transaction, B waiting for its lock) and held a CI run for 90 minutes.
    @Test func aReaderNeverMissesAnEventThatCommitsLate() async throws {
        try await withFreshDatabase { database in
            let aAppended = Signal()
            let commitA = Signal()
            let bAppended = Signal()
            let bHasAppended = Flag()
            defer { commitA.fire() }

            let a = Task {
                try await database.transaction { connection in
                    try await store.append([defined("A")], expected: [:], metadata: meta, on: connection)
                    aAppended.fire()
                    await commitA.wait()
                }
            }
            try await within(30, "A's append") { await aAppended.wait() }
            let b = Task {
                try await database.transaction { connection in
                    // B began after A appended; it would commit first if it could take a position.
                    try await store.append([defined("B")], expected: [:], metadata: meta, on: connection)
                    bHasAppended.set()
                    bAppended.fire()
                }
            }
            try await Task.sleep(for: .milliseconds(300))
            #expect(!bHasAppended.isSet, "B must wait for A's position to commit")
            let before = try await within(30, "the read before A commits") { try await store.read(after: 0, limit: 10, on: database) }
            #expect(before.events.isEmpty && before.nextAfter == 0, "nothing is visible before a commit")

            commitA.fire()
            try await within(30, "A's commit") { try await a.value }
            try await within(30, "B's append after A's commit") { await bAppended.wait() }
            try await within(30, "B's commit") { try await b.value }
            let after = try await store.read(after: 0, limit: 10, on: database)
            #expect(after.events.map(\.stream) == ["location-A", "location-B"])
            #expect(after.events.map(\.position) == [1, 2])
        }
    }

    /// Two writers expecting a stream at the same version: the second waits for the first's
    /// commit (the head), then collides with the version the first took, and writes nothing.
    /// No table of stream versions is locked; the ledger's unique (stream, stream_version) is.
    @Test func twoWritersExpectingTheSameVersionCannotBothWin() async throws {
        try await withFreshDatabase { database in
            _ = try await database.transaction { connection in
                try await store.append([defined("A")], expected: ["location-A": .noStream], metadata: meta, on: connection)
            }
            let firstAppended = Signal()
            let commitFirst = Signal()
            defer { commitFirst.fire() }
            let first = Task {
                try await database.transaction { connection in
                    try await store.append([defined("A", name: "First", created: false)], expected: ["location-A": .exact(1)], metadata: meta, on: connection)
                    firstAppended.fire()
                    await commitFirst.wait()
                }
            }
            try await within(30, "the first append") { await firstAppended.wait() }
            let second = Task {
                try await database.transaction { connection in
                    try await store.append([defined("A", name: "Second", created: false)], expected: ["location-A": .exact(1)], metadata: meta, on: connection)
                }
            }
            try await Task.sleep(for: .milliseconds(200))
            commitFirst.fire()
            try await within(30, "the first commit") { _ = try await first.value }
            let outcome = try await within(30, "the second append") { () async -> String in
                do {
                    _ = try await second.value
                    return "committed"
                } catch {
                    return "\(error)"
                }
            }
            #expect(outcome == "\(Rejection.concurrentModification(stream: "location-A"))")
            let events = try await store.read(after: 0, limit: 10, on: database).events
            #expect(events.map(\.streamVersion) == [1, 2])
            #expect(events.last?.payload.contains("First") == true)
        }
    }

    /// Many writers at once: the positions are exactly 1...n with no gaps, even when some
    /// transactions roll back after appending.
    @Test func concurrentAppendsLeaveNoGapsEvenWithRollbacks() async throws {
        struct Abort: Error {}
        try await withFreshDatabase(poolSize: 8) { database in
            try await withThrowingTaskGroup(of: Bool.self) { group in
                for index in 0..<40 {
                    group.addTask {
                        do {
                            try await database.transaction { connection in
                                try await store.append([defined("S\(index)")], expected: [:], metadata: meta, on: connection)
                                if index % 5 == 0 { throw Abort() }
                            }
                            return true
                        } catch is Abort {
                            return false
                        }
                    }
                }
                var committed = 0
                for try await ok in group where ok { committed += 1 }
                let page = try await store.read(after: 0, limit: 100, on: database)
                #expect(page.events.map(\.position) == Array(1...Int64(committed)))
                #expect(committed == 32)
            }
        }
    }

    @Test func theLedgerRefusesUpdatesDeletesAndTruncation() async throws {
        try await withFreshDatabase { database in
            _ = try await database.transaction { connection in
                try await store.append([defined("A")], expected: [:], metadata: meta, on: connection)
            }
            for statement in [
                "UPDATE ledger SET type = 'x'", "DELETE FROM ledger", "TRUNCATE ledger",
                "UPDATE ledger_head SET position = 0", "DELETE FROM ledger_head",
            ] {
                await #expect(throws: (any Error).self, "\(statement)") {
                    try await database.withConnection { connection in
                        _ = try await connection.query(PostgresQuery(unsafeSQL: statement), logger: testLogger)
                    }
                }
            }
            let checked2 = try await store.read(after: 0, limit: 10, on: database).events.count
            #expect(checked2 == 1)
        }
    }
}

/// A flag set once from another task.
final class Flag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}
import Synchronization

@Suite struct EventCodecTests {
    /// The hand-written stock.moved payload is the document JSONEncoder writes, and decodes back.
    @Test(arguments: [
        StockMoved(sku: "A", locationId: "L", kind: .sale, quantity: 3, onHandDelta: -3, onHandAfter: 7, reason: nil, reference: nil, occurredAtMs: 1),
        StockMoved(
            sku: "JACKET-M", locationId: "PAR-01", kind: .returnToVendor, quantity: 1_000_000_000, onHandDelta: -1_000_000_000,
            onHandAfter: 0, reason: "rtv", reference: "Ref \"quoted\" \\ é ☃ \n\t\u{1}", occurredAtMs: 1_800_000_000_000),
    ])
    func stockMovedIsWrittenAsTheEncoderWouldAndReadsBack(_ moved: StockMoved) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let fast = EventCodec.fastJSON(moved)
        let standard = try encoder.encode(moved)
        let fastObject = try JSONSerialization.jsonObject(with: Data(fast.utf8)) as? NSDictionary
        let standardObject = try JSONSerialization.jsonObject(with: standard) as? NSDictionary
        #expect(fastObject != nil && fastObject == standardObject)
        #expect(try EventCodec.decode(type: StockMoved.type, payload: fast) == .stockMoved(moved))
    }
}

@Suite struct LocationPayloadTests {
    /// A `location.defined` payload as every event before `dailyCapacity` became optional has
    /// it: the field always present, no safety stock default.
    static let recorded = #"{"created":false,"location":{"active":true,"capabilities":{"pickup":true,"ships":false},"dailyCapacity":100,"id":"A","kind":"store","latitude":48.86,"longitude":2.34,"name":"Store","pickupWindowDays":7,"priority":1}}"#

    @Test func anOldPayloadWithTheCapacityStillDecodesToItsFigure() throws {
        let event = try EventCodec.decode(type: LocationDefined.type, payload: Self.recorded)
        #expect(event == defined("A", created: false))
    }

    @Test func aLocationWithoutCapacityIsWrittenWithoutTheFieldAndReadsBack() throws {
        // Given a location without a daily capacity; when its event is written as the ledger
        // writes it and read back; then the field is absent and the location the same.
        var unlimited = location("B")
        unlimited.dailyCapacity = nil
        let event = LedgerEvent.locationDefined(LocationDefined(location: unlimited, created: true))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let payload = try EventCodec.encode(event, with: encoder)
        #expect(!payload.contains("dailyCapacity"), "\(payload)")
        #expect(try EventCodec.decode(type: LocationDefined.type, payload: payload) == event)
        // An explicit null in a stored payload means the same as absent.
        let null = Self.recorded.replacingOccurrences(of: #""dailyCapacity":100"#, with: #""dailyCapacity":null"#)
        guard case .locationDefined(let read) = try EventCodec.decode(type: LocationDefined.type, payload: null) else {
            Issue.record("a location payload decoded as another event")
            return
        }
        #expect(read.location.dailyCapacity == nil && read.location.id == "A")
    }
}
