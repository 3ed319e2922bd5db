import Crypto
import Foundation
import Logging
import PostgresNIO

/// One numbered, forward-only SQL file from `schema/`.
public struct Migration: Sendable, Equatable {
    public let version: Int
    public let name: String
    public let sql: String

    /// Hex SHA-256 of the file, recorded when applied so an edited file is noticed.
    public var checksum: String {
        SHA256.hash(data: Data(sql.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }

    /// The migrations shipped inside this binary (the `schema/` folder, copied as a resource).
    public static func bundled() throws(StoreError) -> [Migration] {
        guard let folder = Bundle.module.url(forResource: "Migrations", withExtension: nil) else {
            throw .configuration("the schema migrations are missing from this build (resource 'Migrations')")
        }
        return try load(folder: folder)
    }

    /// Reads `NNNN_name.sql` files from a folder, sorted by number; refuses gaps and duplicates.
    public static func load(folder: URL) throws(StoreError) -> [Migration] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: folder.path)
        } catch {
            throw .configuration("cannot read the migrations folder \(folder.path): \(error)")
        }
        var migrations: [Migration] = []
        for file in names where file.hasSuffix(".sql") {
            let stem = file.dropLast(4)
            guard let underscore = stem.firstIndex(of: "_"), let version = Int(stem[..<underscore]) else {
                throw .configuration("migration file '\(file)' must be named NNNN_description.sql")
            }
            let sql: String
            do {
                sql = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
            } catch {
                throw .configuration("cannot read migration '\(file)': \(error)")
            }
            migrations.append(Migration(version: version, name: String(stem[stem.index(after: underscore)...]), sql: sql))
        }
        migrations.sort { $0.version < $1.version }
        for (index, migration) in migrations.enumerated() where migration.version != index + 1 {
            throw .configuration("migrations must be numbered 1, 2, 3… without gaps; found \(migration.version) at place \(index + 1)")
        }
        return migrations
    }
}

/// What the database holds compared with what this binary knows.
public struct SchemaStatus: Sendable, Equatable {
    public var applied: Int
    public var known: Int
    public var isCurrent: Bool { applied == known }

    public init(applied: Int, known: Int) {
        self.applied = applied
        self.known = known
    }
}

/// Applies pending migrations, each once, in its own transaction, recorded with its checksum.
///
/// Several instances may start at once against one database: a session advisory lock makes them
/// take turns, and the second finds nothing left to do.
public struct Migrator: Sendable {
    /// Advisory lock key shared by every Omnistock migrator ("OMNISTOK" in ASCII).
    static let advisoryLockKey: Int64 = 0x4F4D_4E49_5354_4F4B
    public let migrations: [Migration]
    public let logger: Logger

    public init(migrations: [Migration], logger: Logger) {
        self.migrations = migrations
        self.logger = logger
    }

    /// Applies every pending migration; returns how many were applied.
    @discardableResult
    public func migrate(_ database: Database) async throws -> Int {
        try await database.withConnection { connection in
            try await connection.query("SELECT pg_advisory_lock(\(Self.advisoryLockKey))", logger: logger)
            do {
                let count = try await applyPending(connection)
                try await connection.query("SELECT pg_advisory_unlock(\(Self.advisoryLockKey))", logger: logger)
                return count
            } catch {
                _ = try? await connection.query("SELECT pg_advisory_unlock(\(Self.advisoryLockKey))", logger: logger)
                throw error
            }
        }
    }

    /// Compares the database with this binary's migrations without changing anything.
    public func status(_ database: Database) async throws -> SchemaStatus {
        try await database.withConnection { connection in
            let applied = try await verifyApplied(connection)
            return SchemaStatus(applied: applied.count, known: migrations.count)
        }
    }

    private func applyPending(_ connection: PostgresConnection) async throws -> Int {
        // The migrator's own bookkeeping table is made once, by the first migrator to run, while
        // it holds the advisory lock; application tables are made only by numbered migrations.
        let exists = try await connection.query(
            "SELECT to_regclass('schema_migrations') IS NOT NULL", logger: logger
        ).collect().first?.decode(Bool.self) ?? false
        if !exists {
            try await connection.query(
                """
                CREATE TABLE schema_migrations (
                    version    integer     PRIMARY KEY,
                    name       text        NOT NULL,
                    checksum   text        NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """, logger: logger)
        }
        let applied = try await verifyApplied(connection)
        var count = 0
        for migration in migrations.dropFirst(applied.count) {
            try await connection.query("BEGIN", logger: logger)
            do {
                for statement in SQLScript.statements(migration.sql) {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES (\(migration.version), \(migration.name), \(migration.checksum))",
                    logger: logger)
                try await connection.query("COMMIT", logger: logger)
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw StoreError.schemaMismatch(
                    "migration \(migration.version) (\(migration.name)) failed: \(String(reflecting: error))")
            }
            logger.info("applied migration", metadata: ["version": "\(migration.version)", "name": "\(migration.name)"])
            count += 1
        }
        return count
    }

    /// Reads the applied migrations and refuses a database this binary cannot safely run on.
    private func verifyApplied(_ connection: PostgresConnection) async throws -> [(Int, String)] {
        let exists = try await connection.query(
            "SELECT to_regclass('schema_migrations') IS NOT NULL", logger: logger
        ).collect().first?.decode(Bool.self) ?? false
        guard exists else { return [] }
        var applied: [(Int, String)] = []
        for try await (version, name, checksum) in try await connection.query(
            "SELECT version, name, checksum FROM schema_migrations ORDER BY version", logger: logger
        ).decode((Int, String, String).self) {
            guard version >= 1, version <= migrations.count else {
                throw StoreError.schemaMismatch(
                    "the database has migration \(version) (\(name)), which this binary does not know: it was migrated by a newer Omnistock; run that version or a newer one"
                )
            }
            let known = migrations[version - 1]
            guard known.checksum == checksum else {
                throw StoreError.schemaMismatch(
                    "migration \(version) (\(name)) was changed after it was applied (checksum \(checksum.prefix(12))… in the database, \(known.checksum.prefix(12))… in this binary); migrations are forward-only: add a new one instead"
                )
            }
            applied.append((version, name))
        }
        for (index, (version, _)) in applied.enumerated() where version != index + 1 {
            throw StoreError.schemaMismatch("the database's migrations have a gap before \(version)")
        }
        return applied
    }
}

/// Splits a SQL script into statements, respecting quotes, dollar quotes and comments.
///
/// PostgresNIO speaks the extended query protocol, which runs one statement per query, so a
/// migration file is cut at the semicolons that end statements. Known limits, none of which our
/// migrations use: `E'…\'…'` escape strings, nested block comments, `$` inside identifiers.
public enum SQLScript {
    public static func statements(_ script: String) -> [String] {
        let chars = Array(script.unicodeScalars)
        var statements: [String] = []
        var current = String.UnicodeScalarView()
        var index = 0
        func flush() {
            let text = String(current).trimmingCharacters(in: .whitespacesAndNewlines)
            if !text.isEmpty, !isOnlyComments(text) { statements.append(text) }
            current = String.UnicodeScalarView()
        }
        while index < chars.count {
            let char = chars[index]
            let next: Unicode.Scalar? = index + 1 < chars.count ? chars[index + 1] : nil
            if char == "-" && next == "-" {
                while index < chars.count && chars[index] != "\n" {
                    current.append(chars[index])
                    index += 1
                }
                continue
            }
            if char == "/" && next == "*" {
                current.append(contentsOf: ["/", "*"])
                index += 2
                while index < chars.count && !(chars[index] == "*" && index + 1 < chars.count && chars[index + 1] == "/") {
                    current.append(chars[index])
                    index += 1
                }
                if index < chars.count {
                    current.append(contentsOf: ["*", "/"])
                    index += 2
                }
                continue
            }
            if char == "'" || char == "\"" {
                current.append(char)
                index += 1
                while index < chars.count {
                    current.append(chars[index])
                    index += 1
                    if chars[index - 1] == char { break }
                }
                continue
            }
            if char == "$", let tagEnd = dollarTagEnd(chars, from: index) {
                let tag = Array(chars[index...tagEnd])
                current.append(contentsOf: tag)
                index = tagEnd + 1
                while index < chars.count {
                    if chars[index] == "$", index + tag.count <= chars.count, Array(chars[index..<(index + tag.count)]) == tag {
                        current.append(contentsOf: tag)
                        index += tag.count
                        break
                    }
                    current.append(chars[index])
                    index += 1
                }
                continue
            }
            if char == ";" {
                flush()
                index += 1
                continue
            }
            current.append(char)
            index += 1
        }
        flush()
        return statements
    }

    /// The index of the closing `$` of a dollar-quote tag starting at `start`, if one starts there.
    private static func dollarTagEnd(_ chars: [Unicode.Scalar], from start: Int) -> Int? {
        var index = start + 1
        while index < chars.count {
            let char = chars[index]
            if char == "$" { return index }
            guard char == "_" || char.properties.isAlphabetic || (index > start + 1 && ("0"..."9").contains(char)) else {
                return nil
            }
            index += 1
        }
        return nil
    }

    private static func isOnlyComments(_ text: String) -> Bool {
        text.split(separator: "\n").allSatisfy { $0.trimmingCharacters(in: .whitespaces).hasPrefix("--") }
    }
}
