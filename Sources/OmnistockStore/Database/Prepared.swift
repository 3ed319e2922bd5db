import Logging
import PostgresNIO

/// The text of a hot statement, sent as a named prepared statement: PostgreSQL parses and
/// plans it once per connection instead of at every execution.
///
/// Under a hold load, planning alone was 1.5 s of every 10 s of PostgreSQL's statement time
/// (pg_stat_statements with track_planning: 1,031 batches; the append's plan 0.18 ms, the lock
/// read's 0.29 ms, the clock read's 0.34 ms, each batch), parsing more on top.
///
/// The text is made by the same function that makes the statement with its values, called
/// once with placeholder values (`PostgresQuery` binds every value, so its text does not depend
/// on them); each execution checks that its statement has exactly this text.
protocol PreparedText {
    /// The statement's name on every connection: unique among prepared statements.
    static var name: String { get }
    static var sql: String { get }
}

/// One execution of a prepared statement: its values, bound as the query bound them.
struct Prepared<Text: PreparedText>: PostgresPreparedStatement {
    typealias Row = PostgresRow
    static var name: String { Text.name }
    static var sql: String { Text.sql }
    let bindings: PostgresBindings

    init(_ query: PostgresQuery) {
        precondition(query.sql == Text.sql, "the statement \(Text.name) was sent with another text than its own")
        bindings = query.binds
    }

    func makeBindings() -> PostgresBindings { bindings }
    func decodeRow(_ row: PostgresRow) -> PostgresRow { row }
}

extension PostgresConnection {
    /// Runs `query`, whose text is `Text`'s, as that prepared statement; the rows come undecoded.
    func execute<Text: PreparedText>(
        _ text: Text.Type, _ query: PostgresQuery, logger: Logger
    ) async throws -> AsyncThrowingMapSequence<PostgresRowSequence, PostgresRow> {
        try await execute(Prepared<Text>(query), logger: logger)
    }
}
