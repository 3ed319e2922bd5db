import Logging
import OmnistockCore
import OmnistockStore
import ServiceLifecycle

/// Feeds every event of the instance's ledger tail to the business metrics, as it commits: the
/// metrics come from the ledger like every live figure, not from the routes that wrote it. A
/// subscription the tail drops (this reader fell behind its queue's bound) is joined again
/// after a pause; what was missed meanwhile is not counted, which the counters' `_total`
/// semantics (since this instance started) tolerate and the KPI projection does not need.
public struct BusinessMetricsService: Service {
    let tail: LedgerTail
    let observer: any BusinessEventObserver
    let logger: Logger

    public init(tail: LedgerTail, observer: any BusinessEventObserver, logger: Logger) {
        self.tail = tail
        self.observer = observer
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await follow()
                } catch {
                    logger.warning("business metrics left the ledger tail; joining again", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    private func follow() async throws {
        let subscription = try tail.subscribe()
        defer { subscription.cancel() }
        for await item in subscription {
            switch item {
            case .started: continue
            case .events(let page):
                for recorded in page {
                    guard let event = try? recorded.decoded ?? EventCodec.decode(type: recorded.type, payload: recorded.payload) else { continue }
                    observer.observed(event)
                }
            case .dropped(let reason): throw BusinessMetricsError.dropped(reason)
            }
            if Task.isCancelled { return }
        }
    }
}

enum BusinessMetricsError: Error {
    case dropped(String)
}
