import Synchronization

/// The ledger position a request's writes reached, so its answer can say it (the HTTP edge's
/// `Omnistock-Position`): a caller that reads with `minPosition` set to it sees its own write.
///
/// The edge puts one in the request's task (`LedgerReach.$current`); `LedgerTransaction.finish`
/// raises it to the last position it appended. The batching writers run transactions in their
/// own tasks, so they carry each request's reach with it and raise it after their commit.
public final class LedgerReach: Sendable {
    @TaskLocal public static var current: LedgerReach?

    private let value = Mutex<Int64>(0)

    public init() {}

    /// The highest position reached, or nil when nothing was appended.
    public var position: Int64? {
        let position = value.withLock { $0 }
        return position > 0 ? position : nil
    }

    func reached(_ position: Int64) {
        precondition(position > 0, "a ledger position is positive")
        value.withLock { $0 = max($0, position) }
    }
}
