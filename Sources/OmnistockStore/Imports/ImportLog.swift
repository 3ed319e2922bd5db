import Logging
import PostgresNIO

/// The record of applied import batches, so an import file is applied once, ever.
public struct ImportLog: Sendable {
    let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    /// Claims a batch inside the transaction that applies it; false when it was applied before.
    /// A concurrent claim of the same batch waits for the first to commit, then finds it taken.
    public func claim(fileSHA256: String, kind: String, batch: Int, in transaction: Transaction) async throws -> Bool {
        let rows = try await transaction.connection.query(
            """
            INSERT INTO import_batches (file_sha256, kind, batch, events) VALUES (\(fileSHA256), \(kind), \(batch), 0)
            ON CONFLICT DO NOTHING RETURNING true
            """,
            logger: logger
        ).collect()
        return !rows.isEmpty
    }

    /// The batches of a file applied before (a re-run after a failure goes on from there).
    public func claimed(fileSHA256: String, kind: String, on database: Database) async throws -> Set<Int> {
        try await database.withConnection { connection in
            var batches = Set<Int>()
            for try await batch in try await connection.query(
                "SELECT batch FROM import_batches WHERE file_sha256 = \(fileSHA256) AND kind = \(kind)", logger: logger
            ).decode(Int.self) {
                batches.insert(batch)
            }
            return batches
        }
    }

    /// Records how many events a claimed batch wrote.
    public func record(events: Int, fileSHA256: String, kind: String, batch: Int, in transaction: Transaction) async throws {
        try await transaction.connection.query(
            "UPDATE import_batches SET events = \(events) WHERE file_sha256 = \(fileSHA256) AND kind = \(kind) AND batch = \(batch)",
            logger: logger)
    }
}
