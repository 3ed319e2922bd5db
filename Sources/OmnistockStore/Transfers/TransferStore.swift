import Foundation
import Logging
import OmnistockCore
import PostgresNIO

/// Transfers between locations: dispatched from one, received at another (for an order's pickup
/// or to restock), written like every order step.
extension OrderStore {
    public func dispatch(_ request: TransferRequest, principal: Principal, metadata: EventMetadata, in transaction: Transaction) async throws -> TransferRecord {
        let faults = Transfers.validate(request)
        if !faults.isEmpty { throw Rejections(faults) }
        if let refusal = Access.authorize(principal, .transferStock, locations: [request.fromLocationId]) { throw Rejections(refusal) }
        let connection = transaction.connection
        let locations = try await Self.locations([request.fromLocationId, request.toLocationId], on: connection, logger: logger)
        let known = request.lines.flatMap { line in
            [request.fromLocationId, request.toLocationId].filter { locations[$0] != nil }.map { StockKey(sku: line.sku, locationId: $0) }
        }
        let (locked, nowMs) = try await stock.lock(known, on: connection)
        let positions = try await effective(locked, nowMs: nowMs, on: connection)
        let transferId = RecordIds.make("trf_")
        let decided = try Transfers.decide(dispatch: request, transferId: transferId, nowMs: nowMs, locations: locations, positions: positions).get()
        let written = try await record(decided, nowMs: nowMs, locked: locked, metadata: metadata, on: connection)
        guard let transfer = written.transfer(transferId) else { preconditionFailure("a dispatch wrote no transfer") }
        return transfer
    }

    public func receive(
        transferId: String, lines: [(sku: String, quantity: Int64)], principal: Principal, metadata: EventMetadata, in transaction: Transaction
    ) async throws -> TransferRecord {
        let connection = transaction.connection
        guard let current = try await documents(
            "SELECT document, version FROM transfers WHERE id = \(transferId) FOR UPDATE", on: connection
        ).first.map(Self.transfer) else {
            throw Rejections(.unknownTransfer(transferId: transferId))
        }
        let transfer = current.transfer
        if let refusal = Access.authorize(principal, .transferStock, locations: [transfer.toLocationId]) { throw Rejections(refusal) }
        var order: OrderRecord?
        if let orderId = transfer.orderId { order = try await orderRow("id", orderId, lock: true, on: connection) }
        let keys = transfer.lines.map { StockKey(sku: $0.sku, locationId: transfer.toLocationId) } + (order?.order.lines.map(\OrderLine.key) ?? [])
        let (locked, nowMs) = try await stock.lock(keys, on: connection)
        let decided = try Transfers.decide(
            receive: transfer, received: lines, order: order?.order, nowMs: nowMs, positions: locked.mapValues(\.position)
        ).get()
        let written = try await record(
            decided, nowMs: nowMs, locked: locked, orders: order.map { [$0] } ?? [], transfers: [current], metadata: metadata, on: connection)
        guard let received = written.transfer(transferId) else { preconditionFailure("a receipt lost its transfer") }
        return received
    }
}
