import OmnistockStore
import ServiceLifecycle

/// The instance's availability model as a service of the `ServiceGroup`: it loads once the
/// database is reachable, follows the ledger tail until graceful shutdown, and then ends every
/// availability stream with a reason.
public struct LiveStockService: Service {
    public let live: LiveStock

    public init(live: LiveStock) {
        self.live = live
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown { await live.run() }
    }
}
