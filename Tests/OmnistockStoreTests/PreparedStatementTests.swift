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

    @Test func aComposedStatementIsPreparedOnItsConnectionAndRunsAgain() async throws {
        try await withFreshDatabase { database in
            try await database.withConnection { connection in
                let text = "SELECT count(*) FROM ledger WHERE position > $1 -- composed for PreparedStatementTests"
                var query = PostgresQuery(unsafeSQL: text)
                query.binds.append(Int64(0))
                try await ComposedStatements.run(query, on: connection, logger: testLogger)
                try await ComposedStatements.run(query, on: connection, logger: testLogger)
                let prepared = try await connection.query(
                    "SELECT count(*) FROM pg_prepared_statements WHERE statement = \(text)", logger: testLogger
                ).collect().map { try $0.decode(Int64.self) }
                #expect(prepared == [1])
            }
        }
    }

    @Test func textsAreNumberedInTheOrderMetUpToTheBound() {
        var numbers = StatementNumbers(countMax: 2)
        #expect(numbers.number(for: "a") == 0)
        #expect(numbers.number(for: "b") == 1)
        #expect(numbers.number(for: "a") == 0)
        #expect(numbers.number(for: "c") == nil)
        #expect(numbers.number(for: "b") == 1)
    }
}
