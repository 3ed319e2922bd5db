import OmnistockCore

/// Told of every event of the ledger tail, in position order (the edge's business metrics).
public protocol BusinessEventObserver: Sendable {
    func observed(_ event: LedgerEvent)
}
