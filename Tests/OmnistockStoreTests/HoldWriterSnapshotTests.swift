import Foundation
import OmnistockCore
import OmnistockStore
import OmnistockTestSupport
import PostgresNIO
import Testing

/// The cause of a flash-sale oversell seen once in eight runs, pinned down: a hold batch that
/// waits for a position lock must count the expired hold lines as they stand once it holds the
/// lock, not as they stood when its statement started waiting.
@Suite struct HoldWriterSnapshotTests {
    let meta = EventMetadata(actor: "test")

    @Test func aHoldExpiredWhileABatchWaitsForItsLockIsNotSubtractedTwice() async throws {
        try await withFreshDatabase { database in
            let events = EventStore(logger: testLogger)
            let writer = HoldWriter(database: database, events: events, idempotencyRetentionSeconds: 3_600, logger: testLogger)
            _ = try await LocationStore(events: events, logger: testLogger).define(location("L"), metadata: meta, on: database)
            try await database.transaction { connection in
                _ = try await StockStore(events: events, logger: testLogger).move(
                    [MovementLine(sku: "S", locationId: "L", kind: .receipt, quantity: 4)], metadata: meta, in: Transaction(connection))
            }
            // Given 4 on hand, a live hold of 2 and a hold of 2 that has expired but is not recorded.
            @Sendable func place(_ id: String, quantity: Int64, ttlSeconds: Int64) async throws -> HoldOutcome {
                try await writer.submit(
                    .place(HoldRequest(lines: [RequestedLine(sku: "S", quantity: quantity, locationId: "L")], ttlSeconds: ttlSeconds),
                           holdId: id, scope: .all),
                    metadata: meta)
            }
            _ = try await place("hld_live", quantity: 2, ttlSeconds: 600)
            _ = try await place("hld_short", quantity: 2, ttlSeconds: 1)
            try await Task.sleep(for: .milliseconds(1_300))

            // When another writer holds the position while a batch asks for all 4, and records the
            // short hold's expiry (as any instance's writer writes it) before letting go.
            let refused = try await database.withConnection { other in
                _ = try await other.query("BEGIN", logger: testLogger)
                _ = try await other.query(
                    "SELECT 1 FROM stock_positions WHERE sku = 'S' AND location_id = 'L' FOR UPDATE", logger: testLogger
                ).collect()
                let waiting = Task { try await place("hld_greedy", quantity: 4, ttlSeconds: 600) }
                // Long enough for the batch's locking statement to start and wait.
                try await Task.sleep(for: .milliseconds(500))
                _ = try await other.query(
                    "UPDATE stock_positions SET held = held - 2 WHERE sku = 'S' AND location_id = 'L'", logger: testLogger)
                _ = try await other.query("DELETE FROM active_hold_lines WHERE hold_id = 'hld_short'", logger: testLogger)
                _ = try await other.query("UPDATE holds SET status = 'expired', ended_at_ms = expires_at_ms WHERE id = 'hld_short'", logger: testLogger)
                _ = try await other.query("COMMIT", logger: testLogger)
                do {
                    _ = try await waiting.value
                    return false
                } catch let rejections as Rejections {
                    return rejections.all.contains { rejection in
                        switch rejection {
                        case .insufficientStock, .inLine(_, .insufficientStock): true
                        default: false
                        }
                    }
                }
            }

            // Then only 2 were available: the batch is refused, and nothing is held twice.
            #expect(refused)
            let position = try #require(try await StockStore(events: events, logger: testLogger).position(StockKey(sku: "S", locationId: "L"), on: database))
            #expect(position.position.held == 2)
        }
    }
}
