import OmnistockCore
import OmnistockStore
import OmnistockTestSupport
import PostgresNIO
import Testing

/// A writer writes BEGIN and its projection statement without waiting for their answers: the
/// next statement goes out behind them on the same connection. A statement written ahead that
/// fails must still be the error the writer meets, and nothing of its transaction may stay.
@Suite struct PipelinedStatementTests {
    @Test func aProjectionStatementThatFailsIsTheErrorTheWriterMeetsAndNothingIsWritten() async throws {
        try await withFreshDatabase { database in
            let fixture = StockFixture(database: database)
            try await fixture.define(["L1"])
            try await fixture.move([line("SKU-A", "L1", .receipt, 5)])
            // The projection statement (not the locking upsert, which creates the row empty)
            // is refused for this SKU.
            try await database.withConnection { connection in
                try await connection.query(
                    """
                    CREATE FUNCTION test_refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
                    BEGIN RAISE EXCEPTION 'poison' USING ERRCODE = 'P0001'; END $$
                    """,
                    logger: testLogger)
                try await connection.query(
                    """
                    CREATE TRIGGER test_poison BEFORE INSERT OR UPDATE ON stock_positions FOR EACH ROW
                      WHEN (NEW.sku = 'POISON' AND NEW.on_hand > 0) EXECUTE FUNCTION test_refuse_poison()
                    """,
                    logger: testLogger)
            }
            let events = EventStore(logger: testLogger)
            let head = try await events.head(on: database)
            do {
                try await fixture.move([line("SKU-A", "L1", .receipt, 1), line("POISON", "L1", .receipt, 1)])
                Issue.record("the refused movement was written")
            } catch {
                // Not 25P02 (the append behind it, in the aborted transaction).
                #expect(error.sqlState == "P0001", "\(String(reflecting: error))")
            }
            #expect(try await events.head(on: database) == head)
            #expect(try await fixture.onHand("SKU-A", "L1") == 5)
            #expect(try await fixture.onHand("POISON", "L1") == 0)
            // Every connection of the pool serves the next transactions.
            for _ in 0..<12 { try await fixture.move([line("SKU-A", "L1", .receipt, 1)]) }
            #expect(try await fixture.onHand("SKU-A", "L1") == 17)
            try await fixture.verifyClean()
        }
    }
}
