import Foundation
import Logging
import OmnistockCore
import PostgresNIO

extension OrderStore {
    /// Expires ready orders whose pickup window has passed, up to `limit`, in one transaction.
    /// `asOfMs` replaces the database clock (tests; nil in service). Returns how many expired.
    @discardableResult
    public func expireNoShows(asOfMs: Int64? = nil, limit: Int = Limits.noShowBatchMax) async throws -> Int {
        precondition(limit > 0 && limit <= Limits.noShowBatchMax, "a sweep is bounded")
        return try await database.transaction { connection in
            let dueAtMs = if let asOfMs { asOfMs } else { try await Clock.now(on: connection, logger: logger) }
            // Rows another sweeper (another instance) holds are skipped, not waited for.
            let due = try await documents(
                """
                SELECT document, version FROM orders WHERE status = 'ready' AND pickup_expires_at_ms <= \(dueAtMs)
                 ORDER BY id LIMIT \(limit) FOR UPDATE SKIP LOCKED
                """,
                on: connection
            ).map(Self.order)
            guard !due.isEmpty else { return 0 }
            let (locked, lockedAtMs) = try await stock.lock(due.flatMap { $0.order.lines.map(\.key) }, on: connection)
            var transaction = try await LedgerTransaction.open(
                on: connection, nowMs: asOfMs ?? lockedAtMs, logger: logger, positions: locked, orders: due)
            let metadata = EventMetadata(actor: "system:no-show-sweeper")
            for record in due {
                let decision = try Orders.decide(
                    .expire, order: record.order, nowMs: transaction.nowMs, positions: transaction.positions, locations: [:]
                ).get()
                transaction.apply(decision.events, metadata: metadata)
            }
            try await transaction.finish(using: events)
            return due.count
        }
    }
}
