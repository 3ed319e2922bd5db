import Foundation
import OmnistockCore
import OmnistockStore
import OmnistockTestSupport
import PostgresNIO
import Testing

/// A small deterministic generator (SplitMix64), so a failing random run can be replayed.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

struct StockFixture: Sendable {
    let database: Database
    let stock = StockStore(events: EventStore(logger: testLogger), logger: testLogger)
    let locations = LocationStore(events: EventStore(logger: testLogger), logger: testLogger)
    let meta = EventMetadata(actor: "test")

    static func nowMs() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    func define(_ ids: [String], safetyStockDefault: Int64 = 0) async throws {
        for id in ids {
            var location = location(id)
            location.safetyStockDefault = safetyStockDefault
            _ = try await locations.define(location, metadata: meta, on: database)
        }
    }

    @discardableResult
    func move(_ lines: [MovementLine]) async throws -> StockWriteResult {
        try await database.transaction { connection in
            try await stock.move(lines, metadata: meta, in: Transaction(connection))
        }
    }

    @discardableResult
    func count(_ count: Count) async throws -> StockWriteResult {
        try await database.transaction { connection in
            try await stock.count(count, metadata: meta, in: Transaction(connection))
        }
    }

    func onHand(_ sku: String, _ locationId: String) async throws -> Int64 {
        try await stock.position(StockKey(sku: sku, locationId: locationId), on: database)?.position.onHand ?? 0
    }

    func verifyClean() async throws {
        let differences = try await Rebuilder(logger: testLogger).verify(on: database)
        #expect(differences.isEmpty, "\(differences)")
    }
}

func line(_ sku: String, _ location: String, _ kind: MovementKind, _ quantity: Int64, at occurredAtMs: Int64? = nil) -> MovementLine {
    MovementLine(sku: sku, locationId: location, kind: kind, quantity: quantity, occurredAtMs: occurredAtMs)
}

@Suite struct StockStoreTests {
    @Test func aRequestWithOneBadLineWritesNothing() async throws {
        try await withFreshDatabase { database in
            let f = StockFixture(database: database)
            try await f.define(["PAR-01"])
            try await f.move([line("A", "PAR-01", .receipt, 5)])
            await #expect(throws: Rejections.self) {
                try await f.move([line("A", "PAR-01", .receipt, 5), line("B", "PAR-01", .receipt, 1), line("A", "PAR-01", .sale, 11)])
            }
            let a = try await f.onHand("A", "PAR-01")
            let b = try await f.stock.position(StockKey(sku: "B", locationId: "PAR-01"), on: database)
            #expect(a == 5 && b == nil, "nothing of the refused request remains, not even B's row")
            try await f.verifyClean()
        }
    }

    /// A count taken at T arrives after a sale and a receipt recorded later: both survive.
    @Test func aLateCountDoesNotEraseLaterMovements() async throws {
        try await withFreshDatabase { database in
            let f = StockFixture(database: database)
            try await f.define(["PAR-01"])
            let now = StockFixture.nowMs()
            let countedAt = now - 60_000
            try await f.move([line("A", "PAR-01", .receipt, 10, at: countedAt - 60_000)])
            // After the count was taken: 3 sold, 4 received.
            try await f.move([line("A", "PAR-01", .sale, 3, at: countedAt + 10_000), line("A", "PAR-01", .receipt, 4, at: countedAt + 20_000)])
            // The count (taken at countedAt) found 8 where the ledger then held 10: 2 missing.
            let result = try await f.count(Count(locationId: "PAR-01", countedAtMs: countedAt, full: false, lines: [CountLine(sku: "A", quantity: 8)]))
            guard case .stockCounted(let counted) = result.events.first else { Issue.record("no count"); return }
            #expect(counted.expected == 10 && counted.onHandDelta == -2)
            let onHand = try await f.onHand("A", "PAR-01")
            #expect(onHand == 10 - 3 + 4 - 2)
            try await f.verifyClean()
        }
    }

    /// The reverse trap: a sale that occurred before a count but is uploaded after it must not
    /// be taken twice.
    @Test func aLateSaleTheCountAlreadySawIsNotTakenTwice() async throws {
        try await withFreshDatabase { database in
            let f = StockFixture(database: database)
            try await f.define(["PAR-01"])
            let now = StockFixture.nowMs()
            try await f.move([line("A", "PAR-01", .receipt, 10, at: now - 300_000)])
            // The till sold 3 at now-200s; the count at now-100s found 7; the sale arrives last.
            try await f.count(Count(locationId: "PAR-01", countedAtMs: now - 100_000, full: false, lines: [CountLine(sku: "A", quantity: 7)]))
            let afterCount = try await f.onHand("A", "PAR-01")
            try await f.move([line("A", "PAR-01", .sale, 3, at: now - 200_000)])
            let afterSale = try await f.onHand("A", "PAR-01")
            #expect(afterCount == 7 && afterSale == 7)
            let key = StockKey(sku: "A", locationId: "PAR-01")
            let beforeCount = try await f.stock.position(key, asOfMs: now - 150_000, on: database)
            let sinceCount = try await f.stock.position(key, asOfMs: now - 50_000, on: database)
            #expect(beforeCount.onHand == 7 && sinceCount.onHand == 7, "10 received, 3 sold before the count; the count found 7")
            try await f.verifyClean()
        }
    }

    @Test func aFullCountZeroesUnlistedPositions() async throws {
        try await withFreshDatabase { database in
            let f = StockFixture(database: database)
            try await f.define(["PAR-01", "WH-01"])
            let past = StockFixture.nowMs() - 120_000
            try await f.move([line("A", "PAR-01", .receipt, 3, at: past), line("B", "PAR-01", .receipt, 2, at: past), line("B", "WH-01", .receipt, 9, at: past)])
            try await f.count(Count(locationId: "PAR-01", countedAtMs: StockFixture.nowMs() - 1_000, full: true, lines: [CountLine(sku: "A", quantity: 3)]))
            let a = try await f.onHand("A", "PAR-01"), b = try await f.onHand("B", "PAR-01"), elsewhere = try await f.onHand("B", "WH-01")
            #expect(a == 3 && b == 0 && elsewhere == 9)
            try await f.verifyClean()
        }
    }

    @Test func historyCarriesBalancesAndAsOfReadsThePast() async throws {
        try await withFreshDatabase { database in
            let f = StockFixture(database: database)
            try await f.define(["PAR-01"])
            let t0 = StockFixture.nowMs() - 100_000
            try await f.move([line("A", "PAR-01", .receipt, 10, at: t0)])
            try await f.move([line("A", "PAR-01", .sale, 4, at: t0 + 50_000)])
            let key = StockKey(sku: "A", locationId: "PAR-01")
            let history = try await f.stock.history(key, afterVersion: 0, limit: 10, on: database)
            #expect(history.map(\.balance.onHand) == [10, 6])
            let page = try await f.stock.history(key, afterVersion: 1, limit: 10, on: database)
            #expect(page.map(\.event.streamVersion) == [2] && page[0].balance.onHand == 6)
            let before = try await f.stock.position(key, asOfMs: t0 - 1, on: database)
            let between = try await f.stock.position(key, asOfMs: t0 + 10_000, on: database)
            let after = try await f.stock.position(key, asOfMs: t0 + 60_000, on: database)
            #expect(before.onHand == 0 && between.onHand == 10 && after.onHand == 6)
        }
    }

    /// Many writers on the same positions at once: rows are locked in one order, so nobody
    /// deadlocks and every unit is accounted for.
    @Test func concurrentBatchesOnSharedPositionsNeitherDeadlockNorLoseUnits() async throws {
        try await withFreshDatabase(poolSize: 8) { database in
            let f = StockFixture(database: database)
            try await f.define(["L1", "L2"])
            let skus = (0..<10).map { "S\($0)" }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<8 {
                    group.addTask {
                        var random = SeededGenerator(state: UInt64(writer + 1))
                        for _ in 0..<15 {
                            let lines = (0..<40).map { _ in
                                line(skus.randomElement(using: &random)!, ["L1", "L2"].randomElement(using: &random)!, .receipt, 1)
                            }
                            try await f.move(lines)
                        }
                    }
                }
                try await group.waitForAll()
            }
            var total: Int64 = 0
            for sku in skus {
                for location in ["L1", "L2"] { total += try await f.onHand(sku, location) }
            }
            #expect(total == 8 * 15 * 40)
            try await f.verifyClean()
        }
    }

    /// Requests large enough to be locked first as existing positions (in a savepoint), run
    /// concurrently on shared keys: the first ones create positions (the savepoint rolled back,
    /// its locks given back), the later ones find them all. None deadlocks, none loses a unit.
    @Test func largeConcurrentBatchesCreatingAndFindingPositionsLoseNothing() async throws {
        try await withFreshDatabase(poolSize: 8) { database in
            let f = StockFixture(database: database)
            try await f.define(["L1", "L2"])
            let size = Limits.positionsLockedFirstAsExistingMin
            let keys = (0..<(size * 3 / 4)).flatMap { sku in ["L1", "L2"].map { ("S\(sku)", $0) } }
            let writers = 4, requests = 4
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<writers {
                    group.addTask {
                        var random = SeededGenerator(state: UInt64(writer + 11))
                        for _ in 0..<requests {
                            let chosen = keys.shuffled(using: &random).prefix(size)
                            try await f.move(chosen.map { line($0.0, $0.1, .receipt, 2) })
                        }
                    }
                }
                try await group.waitForAll()
            }
            let total = try await database.withConnection { connection in
                try await connection.query("SELECT sum(on_hand)::bigint, count(*) FROM stock_positions", logger: testLogger)
                    .collect().first!.decode((Int64, Int64).self)
            }
            #expect(total.0 == Int64(writers * requests * size * 2))
            #expect(total.1 <= Int64(keys.count))
            try await f.verifyClean()
        }
    }

    /// A long random sequence of movements (some refused), counts and safety stock changes:
    /// the projections always equal a replay of the ledger, and replay rebuilds them exactly.
    @Test func aRandomSequenceLeavesProjectionsEqualToAReplay() async throws {
        try await withFreshDatabase { database in
            let f = StockFixture(database: database)
            let locations = ["PAR-01", "PAR-02", "WH-01"]
            try await f.define(locations)
            let skus = ["A", "B", "C", "D"]
            var random = SeededGenerator(state: 20_261_123)
            var refused = 0
            for step in 0..<250 {
                let roll = Int.random(in: 0..<10, using: &random)
                do {
                    switch roll {
                    case 0..<6:
                        let lines = (0..<Int.random(in: 1...6, using: &random)).map { _ in
                            let kind = MovementKind.allCases.randomElement(using: &random)!
                            let quantity = Int64.random(in: 1...8, using: &random) * (kind == .adjustment && Bool.random(using: &random) ? -1 : 1)
                            return MovementLine(
                                sku: skus.randomElement(using: &random)!, locationId: locations.randomElement(using: &random)!,
                                kind: kind, quantity: quantity, occurredAtMs: StockFixture.nowMs() - Int64.random(in: 0...600_000, using: &random))
                        }
                        try await f.move(lines)
                    case 6..<8:
                        let lines = Array(Set((0..<Int.random(in: 1...3, using: &random)).map { _ in skus.randomElement(using: &random)! }))
                            .map { CountLine(sku: $0, quantity: Int64.random(in: 0...12, using: &random)) }
                        try await f.count(Count(
                            locationId: locations.randomElement(using: &random)!,
                            countedAtMs: StockFixture.nowMs() - Int64.random(in: 0...600_000, using: &random),
                            full: Int.random(in: 0..<5, using: &random) == 0, lines: lines))
                    case 8:
                        let key = StockKey(sku: skus.randomElement(using: &random)!, locationId: locations.randomElement(using: &random)!)
                        let quantity: Int64? = Bool.random(using: &random) ? Int64.random(in: 0...3, using: &random) : nil
                        _ = try await database.transaction { connection in
                            try await f.stock.setSafetyStock(quantity, key: key, metadata: f.meta, in: Transaction(connection))
                        }
                    default:
                        try await f.define([locations.randomElement(using: &random)!], safetyStockDefault: Int64.random(in: 0...2, using: &random))
                    }
                } catch is Rejections {
                    refused += 1
                }
                if step % 50 == 49 { try await f.verifyClean() }
            }
            #expect(refused > 0 && refused < 250, "the sequence exercised both paths (\(refused) refused)")
            try await f.verifyClean()

            // Replay rebuilds exactly the same rows; it takes foreign keys, the copied tables'
            // keys and plain indexes off for its bulk write, and the same ones, validated, stand
            // afterwards.
            let snapshot = { try await tableRows(["locations", "stock_positions"], on: database) }
            let live = try await snapshot()
            let schemaBefore = try await projectionSchema(on: database)
            let replayed = try await Rebuilder(logger: testLogger).replay(on: database)
            #expect(replayed > 0)
            let rebuilt = try await snapshot()
            #expect(live == rebuilt)
            let schemaAfter = try await projectionSchema(on: database)
            #expect(schemaAfter == schemaBefore)
            #expect(schemaBefore.contains { $0.hasPrefix("stock_positions_location_id_fkey FOREIGN KEY") && $0.hasSuffix(" true") })
            #expect(schemaBefore.contains { $0.contains("INDEX stock_positions_location ON") })
            #expect(schemaBefore.contains { $0.hasPrefix("holds_pkey PRIMARY KEY (id)") && $0.hasSuffix(" true") })
        }
    }

    /// The replay reads the ledger in pages of `Limits.rebuildRowsPerStatementMax`, the next
    /// ones read and decoded while one is folded: a ledger of exactly two pages (its third page
    /// empty) and one that ends in a part page are both folded whole, in order, once.
    @Test func replayFoldsEveryPageOfALongLedgerOnce() async throws {
        try await withFreshDatabase { database in
            let f = StockFixture(database: database)
            let page = Limits.rebuildRowsPerStatementMax
            try await f.define(["PAR-01"])
            try await f.move((0..<(page - 1)).map { line("S\($0)", "PAR-01", .receipt, 2) })
            try await f.move((0..<(page - 1)).map { line("S\($0)", "PAR-01", .sale, 1) } + [line("T", "PAR-01", .receipt, 1)])
            let snapshot = { try await tableRows(["stock_positions"], on: database) }
            let live = try await snapshot()
            #expect(try await Rebuilder(logger: testLogger).replay(on: database) == Int64(2 * page))
            #expect(try await snapshot() == live)

            try await f.move((0..<5).map { line("S\($0)", "PAR-01", .receipt, 3) })
            let grown = try await snapshot()
            #expect(try await Rebuilder(logger: testLogger).replay(on: database) == Int64(2 * page + 5))
            #expect(try await snapshot() == grown)
            #expect(try await f.onHand("S0", "PAR-01") == 4)
            #expect(try await f.onHand("S\(page - 2)", "PAR-01") == 1)
            #expect(try await f.onHand("T", "PAR-01") == 1)
            try await f.verifyClean()
        }
    }

    /// The projections' constraints (with whether each is validated) and indexes, as the catalog says.
    func projectionSchema(on database: Database) async throws -> [String] {
        try await database.withConnection { connection in
            var rows: [String] = []
            for try await row in try await connection.query(
                """
                SELECT conname || ' ' || pg_get_constraintdef(oid) || ' ' || convalidated FROM pg_constraint
                 WHERE conrelid::regclass::text IN ('stock_positions', 'locations', 'holds', 'active_hold_lines', 'orders', 'transfers')
                UNION ALL
                SELECT indexdef FROM pg_indexes WHERE tablename IN ('stock_positions', 'locations', 'holds', 'active_hold_lines', 'orders', 'transfers')
                ORDER BY 1
                """, logger: testLogger
            ).decode(String.self) { rows.append(row) }
            return rows
        }
    }

    @Test func verifyFindsATamperedProjection() async throws {
        try await withFreshDatabase { database in
            let f = StockFixture(database: database)
            try await f.define(["PAR-01"])
            try await f.move([line("A", "PAR-01", .receipt, 5)])
            try await database.withConnection { connection in
                _ = try await connection.query("UPDATE stock_positions SET on_hand = on_hand + 1", logger: testLogger)
            }
            let differences = try await Rebuilder(logger: testLogger).verify(on: database)
            #expect(differences.map(\.side).sorted() == ["folded vs loaded", "live only", "rebuilt only"])
            #expect(differences.contains { $0.row.contains("\"on_hand\":6") })
            // The availability model loaded from the tampered row differs from the ledger's too.
            #expect(differences.contains { $0.table == "availability model" && $0.row.contains("A@PAR-01") }, "\(differences)")
        }
    }

    /// A row the live projection lacks is "rebuilt only", one it has in excess "live only", each
    /// named once with its columns, and no other table differs.
    @Test func verifyNamesAMissingRowAndAnExtraOne() async throws {
        try await withFreshDatabase { database in
            let f = StockFixture(database: database)
            try await f.define(["PAR-01"])
            try await f.move([line("A", "PAR-01", .receipt, 5), line("C", "PAR-01", .receipt, 2)])
            try await database.withConnection { connection in
                _ = try await connection.query(
                    """
                    INSERT INTO stock_positions
                    SELECT 'B', location_id, on_hand, held, allocated, safety_stock, incoming, version, last_counted_at_ms
                      FROM stock_positions WHERE sku = 'A'
                    """,
                    logger: testLogger)
                _ = try await connection.query("DELETE FROM stock_positions WHERE sku = 'A'", logger: testLogger)
            }
            let differences = try await Rebuilder(logger: testLogger).verify(on: database).filter { $0.table == "stock_positions" }
            #expect(differences.count == 2, "\(differences)")
            #expect(differences.contains { $0.side == "live only" && $0.row.hasPrefix("{\"sku\":\"B\",\"location_id\":\"PAR-01\",\"on_hand\":5") })
            #expect(differences.contains { $0.side == "rebuilt only" && $0.row.hasPrefix("{\"sku\":\"A\",") })
        }
    }
}
