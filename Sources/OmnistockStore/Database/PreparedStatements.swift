import Logging
import PostgresNIO
import Synchronization

/// A statement of a hot path whose text never changes (only the values bound to it do), so it
/// can run as a prepared statement: PostgreSQL parses and plans it once per connection instead
/// of on every run.
///
/// Why: a hold batch runs four such statements, and the server's log of a hold load showed
/// parsing and planning them (the parse and bind steps of an unnamed statement) taking about as
/// long as executing them.
///
/// The text comes from the same builder the call site uses, run once with sample values: the
/// builder numbers every value (`$1`, `$2`, …) whatever it is, so its text is the same for any
/// values, and a call can never run a text other than the one prepared (`Prepared` checks).
protocol StatementText {
    /// The statement's name on the server: unique among the statements, at most 63 bytes.
    static var name: String { get }
    /// The statement's text, as its builder writes it.
    static var sql: String { get }
}

/// One run of the statement `Text`, with the values of a query built as `Text.sql` was.
struct Prepared<Text: StatementText>: PostgresPreparedStatement {
    typealias Row = PostgresRow

    static var name: String { "\(Text.name)_\(preparedGeneration.withLock { $0 })" }
    static var sql: String { Text.sql }

    let bindings: PostgresBindings

    init(_ query: PostgresQuery) {
        precondition(query.sql == Text.sql, "a prepared statement is run with the text it was prepared with")
        self.bindings = query.binds
    }

    func makeBindings() -> PostgresBindings { bindings }

    func decodeRow(_ row: PostgresRow) -> PostgresRow { row }
}

/// Part of every prepared statement's name. PostgresNIO keeps a statement's failed preparation
/// for the life of its connection and fails every later run of it there with the same error: a
/// preparation that met a lock timeout, a cancellation or an aborted transaction would leave
/// the statement broken on that connection. A failure that may have come from a preparation
/// moves the generation on, so the next runs prepare the statements anew, under new names.
private let preparedGeneration = Mutex<Int>(0)

extension PostgresConnection {
    /// Runs `query`, built as `text`'s statement was, as that prepared statement (prepared on
    /// this connection on its first run). The rows are the statement's, undecoded.
    func run<Text: StatementText>(
        _ text: Text.Type, _ query: PostgresQuery, logger: Logger
    ) async throws -> AsyncThrowingMapSequence<PostgresRowSequence, PostgresRow> {
        do {
            return try await execute(Prepared<Text>(query), logger: logger)
        } catch let error as PSQLError {
            preparationMayHaveFailed(error)
            throw error
        }
    }
}

/// Moves the names on when `error` is one a preparation can meet on a connection that lives
/// on: an aborted transaction (25), a deadlock (40), a name or type the schema lacked (42, 0A),
/// exhausted resources or limits (53, 54), a lock not granted (55), a cancellation (57014), an
/// internal error (XX). Errors that only executing meets (a refused row, bad data) or that end
/// the connection leave them: each generation prepares the statements again on every
/// connection, and the old ones stay there until it closes.
private func preparationMayHaveFailed(_ error: PSQLError) {
    guard let state = error.serverInfo?[.sqlState] else { return }
    let classes = ["25", "40", "42", "0A", "53", "54", "55", "XX"]
    guard state == "57014" || classes.contains(where: state.hasPrefix) else { return }
    preparedGeneration.withLock { $0 += 1 }
}
