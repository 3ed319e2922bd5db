import Foundation
import Logging
import OmnistockCore
import PostgresNIO

/// The store steps that run alone in the caller's transaction (ship, cancel, not found,
/// returns): they lock more than they can name before they start. The everyday steps (picking,
/// ready, collect, unlock) go through the `OrderStepWriter`.
extension OrderStore {
    /// What a step needs besides its order, read before it decides.
    private struct StepInput {
        var action: OrderAction
        var locations: [String: Location] = [:]
        /// Set for a line not found: what re-sourcing it needs, with the positions it locked.
        var sourcing: (input: SourcingInput, locked: [StockKey: PositionRecord], nowMs: Int64)?
    }

    /// Performs the step; returns the order after it.
    public func act(
        _ command: OrderCommand, orderId: String, principal: Principal, metadata: EventMetadata, in transaction: Transaction
    ) async throws -> OrderRecord {
        precondition(!OrderStepWriter.takes(command), "store steps go through the step writer")
        let connection = transaction.connection
        guard let current = try await orderRow("id", orderId, lock: true, on: connection) else {
            throw Rejections(.unknownOrder(orderId: orderId))
        }
        let order = current.order
        let step = try await input(command, order: order, principal: principal, on: connection)
        try Self.authorize(principal, command, step.action, order)
        let (locked, nowMs, positions) = try await lockStep(step, order: order, on: connection)
        let transferIds = step.sourcing.map { Self.transferIds(for: $0.input) } ?? []
        let decision = try Orders.decide(
            step.action, order: order, nowMs: nowMs, positions: positions, locations: step.locations, input: step.sourcing?.input,
            transferIds: transferIds
        ).get()
        // These steps refuse before deciding events, never after (that is the collect's way).
        if decision.events.isEmpty, let refusal = decision.refusal { throw refusal }
        precondition(decision.refusal == nil, "a step refused after deciding events")
        let written = try await record(decision.events, nowMs: nowMs, locked: locked, orders: [current], metadata: metadata, on: connection)
        return written.order(orderId) ?? current
    }

    /// The action a command is on this order, and what deciding it reads first.
    private func input(_ command: OrderCommand, order: Order, principal: Principal, on connection: PostgresConnection) async throws -> StepInput {
        switch command {
        case .picking, .ready, .collect, .unlock:
            preconditionFailure("store steps go through the step writer")
        case .ship(let lineIds, let carrier, let tracking):
            return StepInput(
                action: .ship(lineIds: lineIds ?? Orders.shippableLines(order, scope: principal.scope), carrier: carrier, tracking: tracking))
        case .cancel(let reason):
            return StepInput(action: .cancel(reason: reason))
        case .notFound(let lineId):
            var step = StepInput(action: .notFound(lineId: lineId))
            if let line = order.lines.first(where: { $0.id == lineId }) {
                step.sourcing = try await sourcingInput(skus: [line.sku], extraKeys: order.lines.map(\.key), lock: true, on: connection)
            }
            return step
        case .returned(let locationId, let lines):
            var step = StepInput(action: .returned(locationId: locationId, lines: lines))
            if Identifier.isValid(locationId) { step.locations = try await Self.locations([locationId], on: connection, logger: logger) }
            return step
        }
    }

    /// Locks what the step moves and reads the clock after the locks: the positions sourcing
    /// locked, or the step's own. Steps that move no stock lock no position: the order row
    /// serialises them.
    private func lockStep(_ step: StepInput, order: Order, on connection: PostgresConnection) async throws -> (
        locked: [StockKey: PositionRecord], nowMs: Int64, positions: [StockKey: StockPosition]
    ) {
        if let sourcing = step.sourcing { return (sourcing.locked, sourcing.nowMs, sourcing.input.positions) }
        let keys = Orders.positions(touchedBy: step.action, order: order)
        let locked: [StockKey: PositionRecord]
        let nowMs: Int64
        if case .returned(let locationId, _) = step.action {
            // The return location may never have stocked the SKU: its rows are created to lock
            // them (an unknown location is refused by the decision, with nothing locked).
            if step.locations[locationId] == nil {
                (locked, nowMs) = ([:], try await Clock.now(on: connection, logger: logger))
            } else {
                (locked, nowMs) = try await stock.lock(keys, on: connection)
            }
        } else {
            (locked, nowMs) = try await StockStore.lockExisting(keys, on: connection, logger: logger)
        }
        return (locked, nowMs, locked.mapValues(\.position))
    }
}
