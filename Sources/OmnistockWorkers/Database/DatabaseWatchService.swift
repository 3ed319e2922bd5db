import OmnistockCore
import OmnistockStore
import ServiceLifecycle

/// Looks at the database server once a second (`Database.probe`), so that a failover or a
/// restart of the primary is logged and counted in `/metrics` when it happens, not only when
/// `/ready` is next asked. A probe is one short query, bounded by the acquire bound.
public struct DatabaseWatchService: Service {
    let database: Database

    public init(database: Database) {
        self.database = database
    }

    public func run() async throws {
        await database.probe()
        await runRounds(every: .milliseconds(Limits.databaseWatchIntervalMilliseconds)) { await database.probe() }
    }
}
