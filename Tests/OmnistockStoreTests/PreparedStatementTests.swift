import OmnistockTestSupport
import PostgresNIO
import Testing

@testable import OmnistockStore

/// A statement of the tests' own, run prepared.
private enum HeadForTest: StatementText {
    static let name = "test_head_read"
    static let query: PostgresQuery = "SELECT position FROM ledger_head"
    static let sql = query.sql
}

@Suite struct PreparedStatementTests {
    /// PostgresNIO keeps a failed preparation for the life of its connection; without a new
    /// generation of names, the statement would fail there for good.
    @Test func aStatementWhosePreparationFailedIsPreparedAgainOnTheSameConnection() async throws {
        try await withFreshDatabase { database in
            try await database.withConnection { connection in
                try await connection.query("BEGIN", logger: testLogger)
                await #expect(throws: PSQLError.self) { try await connection.query("SELECT 1 / 0", logger: testLogger) }
                // The transaction is aborted: the statement cannot be prepared in it.
                await #expect(throws: PSQLError.self) { _ = try await connection.run(HeadForTest.self, HeadForTest.query, logger: testLogger) }
                try await connection.query("ROLLBACK", logger: testLogger)
                var heads: [Int64] = []
                for try await row in try await connection.run(HeadForTest.self, HeadForTest.query, logger: testLogger) {
                    heads.append(try row.decode(Int64.self))
                }
                #expect(heads == [0])
            }
        }
    }
}
