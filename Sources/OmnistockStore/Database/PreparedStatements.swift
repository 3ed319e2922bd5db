import Logging
import OmnistockCore
import PostgresNIO
import Synchronization

/// A statement of a hot path whose text never changes (only the values bound to it do), so it
/// can run as a prepared statement: PostgreSQL parses and plans it once per connection instead
/// of on every run.
///
/// Why: a hold batch runs five such statements, and the server's log of a hold load showed
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
            // Integrity violations (class 23) come from executing, never from preparing.
            if let state = error.serverInfo?[.sqlState], state.hasPrefix("23") { throw error }
            preparedGeneration.withLock { $0 += 1 }
            throw error
        }
    }
}

/// A statement composed at run time from a bounded set of parts (the projection statement: one
/// part per table a transaction touches, so a writer meets a few compositions again and again),
/// run as a prepared statement named after its text's place in `ComposedStatements`.
///
/// PostgresNIO names a prepared statement by its type, so the text and name of this one are the
/// caller's, bound to its task for the call (`ComposedStatements.run`); read outside such a call
/// they trap rather than name another statement.
struct ComposedPrepared: PostgresPreparedStatement {
    typealias Row = PostgresRow

    @TaskLocal static var current: (name: String, sql: String)?

    static var name: String {
        guard let current else { preconditionFailure("a composed statement is named only inside ComposedStatements.run") }
        return "\(current.name)_\(preparedGeneration.withLock { $0 })"
    }

    static var sql: String {
        guard let current else { preconditionFailure("a composed statement's text is read only inside ComposedStatements.run") }
        return current.sql
    }

    let bindings: PostgresBindings

    func makeBindings() -> PostgresBindings { bindings }

    func decodeRow(_ row: PostgresRow) -> PostgresRow { row }
}

/// The texts of composed statements met so far, each with its number: at most
/// `Limits.composedStatementsMax`, so that a connection prepares a bounded set; a text met
/// after that runs unprepared.
enum ComposedStatements {
    private static let numbers = Mutex(StatementNumbers(countMax: Limits.composedStatementsMax))

    /// Runs `query` (composed at run time) as a prepared statement when its text has a number.
    static func run(_ query: PostgresQuery, on connection: PostgresConnection, logger: Logger) async throws {
        let number = numbers.withLock { $0.number(for: query.sql) }
        guard let number else {
            for try await _ in try await connection.query(query, logger: logger) {}
            return
        }
        try await ComposedPrepared.$current.withValue(("composed_\(number)", query.sql)) {
            do {
                for try await _ in try await connection.execute(ComposedPrepared(bindings: query.binds), logger: logger) {}
            } catch let error as PSQLError {
                if let state = error.serverInfo?[.sqlState], state.hasPrefix("23") { throw error }
                preparedGeneration.withLock { $0 += 1 }
                throw error
            }
        }
    }
}

/// Numbers for texts, in the order they are first met, up to `countMax` texts.
struct StatementNumbers {
    let countMax: Int
    private var numbers: [String: Int] = [:]

    init(countMax: Int) {
        precondition(countMax >= 0, "a count")
        self.countMax = countMax
    }

    /// The text's number; nil once `countMax` other texts have theirs.
    mutating func number(for sql: String) -> Int? {
        if let number = numbers[sql] { return number }
        guard numbers.count < countMax else { return nil }
        let number = numbers.count
        numbers[sql] = number
        assert(numbers.count <= countMax, "the numbers stay bounded")
        return number
    }
}
