import Logging
import OmnistockStore
import ServiceLifecycle

/// The instance's ledger tail as a service of the `ServiceGroup`: it runs from start to
/// graceful shutdown, when it ends every subscription with a reason.
public struct LedgerTailService: Service {
    public let tail: LedgerTail

    public init(tail: LedgerTail) {
        self.tail = tail
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown { await tail.run() }
    }
}
