import Foundation
import OmnistockCore
import OmnistockStore
import OmnistockTestSupport
import PostgresNIO
import Testing

@Suite struct MigrationTests {
    @Test func scriptsSplitAtStatementEndsOnly() {
        let script = """
            -- a comment; with a semicolon
            CREATE TABLE t (a text DEFAULT 'x;y');
            /* block; comment */
            CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'no; never'; END;
            $$;
            SELECT "odd;name" FROM t;
            """
        let statements = SQLScript.statements(script)
        #expect(statements.count == 3)
        #expect(statements[0].hasSuffix("DEFAULT 'x;y')"))
        #expect(statements[1].contains("END;\n$$"))
        #expect(statements[2] == "SELECT \"odd;name\" FROM t")
    }

    @Test func theBundledSchemaIsNumberedWithoutGaps() throws {
        let migrations = try Migration.bundled()
        #expect(migrations.map(\.version) == Array(1...migrations.count))
        #expect(migrations.allSatisfy { !$0.sql.contains("IF NOT EXISTS") })
    }

    @Test func migratingTwiceAppliesNothingTheSecondTime() async throws {
        let server = try await TestCluster.shared.serverSettings()
        let name = "oms_migrate_\(getpid())_\(UInt32.random(in: 0 ... .max))"
        try await withDatabase(server.with(database: "postgres")) { admin in
            try await admin.withConnection { _ = try await $0.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: testLogger) }
        }
        let migrator = Migrator(migrations: try Migration.bundled(), logger: testLogger)
        try await withDatabase(server.with(database: name)) { database in
            let checked1 = try await migrator.status(database)
            #expect(checked1 == SchemaStatus(applied: 0, known: migrator.migrations.count))
            let checked2 = try await migrator.migrate(database)
            #expect(checked2 == migrator.migrations.count)
            let checked3 = try await migrator.migrate(database)
            #expect(checked3 == 0)
            let checked4 = try await migrator.status(database).isCurrent
            #expect(checked4)
        }
    }

    @Test func concurrentMigratorsTakeTurns() async throws {
        let server = try await TestCluster.shared.serverSettings()
        let name = "oms_migrate_\(getpid())_\(UInt32.random(in: 0 ... .max))"
        try await withDatabase(server.with(database: "postgres")) { admin in
            try await admin.withConnection { _ = try await $0.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: testLogger) }
        }
        let migrator = Migrator(migrations: try Migration.bundled(), logger: testLogger)
        try await withDatabase(server.with(database: name)) { database in
            async let one = migrator.migrate(database)
            async let two = migrator.migrate(database)
            let total = try await one + two
            #expect(total == migrator.migrations.count)
        }
    }

    @Test func aDatabaseFromANewerBinaryIsRefused() async throws {
        try await withFreshDatabase { database in
            try await database.withConnection { connection in
                _ = try await connection.query(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES (999, 'future', 'abc')", logger: testLogger)
            }
            let migrator = Migrator(migrations: try Migration.bundled(), logger: testLogger)
            let error = await #expect(throws: StoreError.self) { try await migrator.migrate(database) }
            #expect("\(error!)".contains("does not know"))
            await #expect(throws: StoreError.self) { try await migrator.status(database) }
        }
    }

    @Test func anEditedMigrationIsRefused() async throws {
        try await withFreshDatabase { database in
            var migrations = try Migration.bundled()
            migrations[0] = Migration(version: 1, name: migrations[0].name, sql: migrations[0].sql + "\n-- edited")
            let error = await #expect(throws: StoreError.self) {
                try await Migrator(migrations: migrations, logger: testLogger).migrate(database)
            }
            #expect("\(error!)".contains("was changed after it was applied"))
        }
    }
}

@Suite struct LocationStoreTests {
    let locations = LocationStore(events: EventStore(logger: testLogger), logger: testLogger)
    let meta = EventMetadata(actor: "test")

    @Test func defineCreatesChangesAndIgnoresRepeats() async throws {
        try await withFreshDatabase { database in
            let (created, first) = try await locations.define(location("PAR-01"), metadata: meta, on: database)
            #expect(first == .created && created.version == 1)
            let (same, second) = try await locations.define(location("PAR-01"), metadata: meta, on: database)
            #expect(second == .unchanged && same.version == 1)
            let (changed, third) = try await locations.define(location("PAR-01", name: "Rivoli"), metadata: meta, on: database)
            #expect(third == .changed && changed.version == 2 && changed.location.name == "Rivoli")
            let events = try await EventStore(logger: testLogger).read(after: 0, limit: 10, on: database).events
            #expect(events.count == 2, "the repeat wrote no event")
        }
    }

    @Test func invalidDefinitionsWriteNothing() async throws {
        try await withFreshDatabase { database in
            var bad = location("PAR-01")
            bad.latitude = 100
            await #expect(throws: Rejections.self) { try await locations.define(bad, metadata: meta, on: database) }
            let stored = try await locations.get(id: "PAR-01", on: database)
            #expect(stored == nil)
        }
    }

    @Test func racingFirstDefinitionsBothSucceedOnce() async throws {
        try await withFreshDatabase { database in
            async let one = locations.define(location("PAR-01", name: "One"), metadata: meta, on: database)
            async let two = locations.define(location("PAR-01", name: "Two"), metadata: meta, on: database)
            let outcomes = try await [one.1, two.1]
            #expect(outcomes.filter { $0 == .created }.count == 1)
            let events = try await EventStore(logger: testLogger).read(after: 0, limit: 10, on: database).events
            let record = try await locations.get(id: "PAR-01", on: database)
            #expect(record?.version == Int64(events.count))
        }
    }

    @Test func listPagesById() async throws {
        try await withFreshDatabase { database in
            for id in ["C", "A", "B"] { _ = try await locations.define(location(id), metadata: meta, on: database) }
            let checked5 = try await locations.list(after: nil, limit: 2, on: database).map(\.location.id)
            #expect(checked5 == ["A", "B"])
            let checked6 = try await locations.list(after: "B", limit: 2, on: database).map(\.location.id)
            #expect(checked6 == ["C"])
        }
    }
}

@Suite struct ApiKeyAndIdempotencyTests {
    let apiKeys = ApiKeyStore(cacheSeconds: 5, logger: testLogger)
    let idempotency = IdempotencyStore(retentionSeconds: 3600, logger: testLogger)

    @Test func keysAuthenticateUntilRevoked() async throws {
        try await withFreshDatabase { database in
            let spec = try ApiKeySpec.validate(name: "tablet", role: .store, locations: ["PAR-01"]).get()
            let (record, token) = try await apiKeys.create(spec, createdBy: "test", on: database)
            let principal = try await apiKeys.authenticate(token: token, on: database)
            #expect(principal == Principal(apiKeyId: record.id, role: .store, scope: .only(["PAR-01"])))
            let checked7 = try await apiKeys.authenticate(token: token + "x", on: database)
            #expect(checked7 == nil)
            let revoked = try await apiKeys.revoke(id: record.id, on: database)
            #expect(revoked?.revokedAt != nil)
            let checked8 = try await apiKeys.authenticate(token: token, on: database)
            #expect(checked8 == nil, "revocation clears the cache at once")
            let checked9 = try await apiKeys.revoke(id: "key_missing", on: database)
            #expect(checked9 == nil)
            // Only the hash is stored.
            let stored = try await database.withConnection { connection in
                try await connection.query("SELECT count(*) FROM api_keys WHERE position(\(token) in secret_sha256::text) > 0", logger: testLogger)
                    .collect().first!.decode(Int.self)
            }
            #expect(stored == 0)
        }
    }

    func request(_ key: String, body: String) -> IdempotencyRequest {
        IdempotencyRequest(apiKeyId: "key_a", key: key, requestHash: Array(body.utf8))
    }

    @Test func aRetryGetsTheFirstAnswerAndChangesNothing() async throws {
        try await withFreshDatabase { database in
            let runs = Counter()
            func perform(_ body: String) async throws -> IdempotentOutcome {
                try await idempotency.perform(request("k1", body: body), on: database) { _ in
                    let run = runs.increment()
                    let answer = StoredResponse(status: 201, body: Array("run \(run)".utf8))
                    return (answer, answer)
                }
            }
            let first = try await perform("same")
            let retry = try await perform("same")
            #expect(first == .executed(StoredResponse(status: 201, body: Array("run 1".utf8))))
            #expect(retry == .replayed(StoredResponse(status: 201, body: Array("run 1".utf8))))
            await #expect(throws: Rejections(.idempotencyKeyReused)) { try await perform("other") }
            #expect(runs.value == 1)
        }
    }

    @Test func concurrentRequestsWithOneKeyExecuteOnce() async throws {
        try await withFreshDatabase(poolSize: 10) { database in
            let runs = Counter()
            let outcomes = try await withThrowingTaskGroup(of: IdempotentOutcome.self) { group in
                for _ in 0..<10 {
                    group.addTask {
                        try await idempotency.perform(request("k2", body: "b"), on: database) { _ in
                            _ = runs.increment()
                            try await Task.sleep(for: .milliseconds(50))
                            let answer = StoredResponse(status: 200, body: [1])
                            return (answer, answer)
                        }
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(runs.value == 1)
            #expect(outcomes.filter { if case .executed = $0 { true } else { false } }.count == 1)
        }
    }

    @Test func aFailedEffectFreesTheKey() async throws {
        struct Boom: Error {}
        try await withFreshDatabase { database in
            await #expect(throws: Boom.self) {
                try await idempotency.perform(request("k3", body: "b"), on: database) { _ in throw Boom() }
            }
            let outcome = try await idempotency.perform(request("k3", body: "b"), on: database) { _ in
                (StoredResponse(status: 200, body: [2]), StoredResponse(status: 200, body: [2]))
            }
            #expect(outcome == .executed(StoredResponse(status: 200, body: [2])))
        }
    }

    @Test func expiredKeysAreSweptAndFreed() async throws {
        try await withFreshDatabase { database in
            _ = try await idempotency.perform(request("k4", body: "b"), on: database) { _ in
                (StoredResponse(status: 200, body: [1]), StoredResponse(status: 200, body: [1]))
            }
            try await database.withConnection { connection in
                _ = try await connection.query("UPDATE idempotency_keys SET expires_at = now() - interval '1 second'", logger: testLogger)
            }
            let checked10 = try await idempotency.sweep(limit: 10, on: database)
            #expect(checked10 == 1)
            let checked11 = try await idempotency.sweep(limit: 10, on: database)
            #expect(checked11 == 0)
            let again = try await idempotency.perform(request("k4", body: "other"), on: database) { _ in
                (StoredResponse(status: 200, body: [3]), StoredResponse(status: 200, body: [3]))
            }
            #expect(again == .executed(StoredResponse(status: 200, body: [3])))
        }
    }
}

/// A counter shared by concurrent tasks.
final class Counter: Sendable {
    private let count = Mutex(0)
    func increment() -> Int { count.withLock { $0 += 1; return $0 } }
    var value: Int { count.withLock { $0 } }
}
import Synchronization
