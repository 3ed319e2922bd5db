public struct TransferRequest: Equatable, Sendable {
    public var fromLocationId: String
    public var toLocationId: String
    public var lines: [TransferLine]
    public var reference: String?

    public init(fromLocationId: String, toLocationId: String, lines: [TransferLine], reference: String? = nil) {
        self.fromLocationId = fromLocationId
        self.toLocationId = toLocationId
        self.lines = lines
        self.reference = reference
    }
}

public enum Transfers {
    /// The faults of a transfer request that depend on nothing stored.
    public static func validate(_ request: TransferRequest) -> [Rejection] {
        var faults: [Rejection] = []
        if let fault = Identifier.check(request.fromLocationId, field: "fromLocationId") { faults.append(fault) }
        if let fault = Identifier.check(request.toLocationId, field: "toLocationId") { faults.append(fault) }
        if request.fromLocationId == request.toLocationId {
            faults.append(.notAllowed(field: "toLocationId", reason: "a transfer goes to another location"))
        }
        if let reference = request.reference, let fault = Text.check(reference, field: "reference", lengthMax: Limits.referenceLengthMax) {
            faults.append(fault)
        }
        faults += linesFaults(request.lines.map { ($0.sku, $0.quantity) }, lower: 1, upper: { _ in Limits.stockQuantityMax })
        return faults
    }

    static func linesFaults(_ lines: [(sku: String, quantity: Int64)], lower: Int64, upper: (String) -> Int64) -> [Rejection] {
        var faults: [Rejection] = []
        if lines.isEmpty && lower > 0 { faults.append(.missingField(field: "lines")) }
        if lines.count > Limits.transferLinesMax { faults.append(.tooMany(field: "lines", countMax: Limits.transferLinesMax)) }
        var seen = Set<String>()
        for (index, line) in lines.enumerated() {
            var lineFaults: [Rejection] = []
            if let fault = Identifier.check(line.sku, field: "sku") { lineFaults.append(fault) }
            if !seen.insert(line.sku).inserted { lineFaults.append(.duplicate(field: "sku", value: line.sku)) }
            let bound = upper(line.sku)
            if !(lower...max(lower, bound)).contains(line.quantity) || bound < lower {
                lineFaults.append(.outOfRange(field: "quantity", lower: "\(lower)", upper: "\(bound)"))
            }
            faults += lineFaults.map { .inLine(path: "lines/\(index)", $0) }
        }
        return faults
    }

    /// Sends stock from one location to another: it leaves the source now (never more than the
    /// source has free) and shows as `incoming` at the destination until received.
    public static func decide(
        dispatch request: TransferRequest, transferId: String, nowMs: Int64, locations: [String: Location], positions: [StockKey: StockPosition]
    ) -> Result<[LedgerEvent], Rejections> {
        var faults = validate(request)
        if faults.isEmpty {
            for (field, id) in [("fromLocationId", request.fromLocationId), ("toLocationId", request.toLocationId)] {
                guard let location = locations[id] else {
                    faults.append(.inLine(path: "", .unknownLocation(locationId: id)))
                    continue
                }
                if !location.active { faults.append(.inLine(path: field, .locationInactive(locationId: id))) }
            }
        }
        if !faults.isEmpty { return .failure(Rejections(faults)) }
        let input = SourcingInput(locations: locations, positions: positions, ordersToday: [:])
        var short: [Rejection] = []
        for (index, line) in request.lines.enumerated() {
            let available = input.available(StockKey(sku: line.sku, locationId: request.fromLocationId))
            if available < line.quantity {
                short.append(.inLine(path: "lines/\(index)", .insufficientStock(
                    sku: line.sku, locationId: request.fromLocationId, requested: line.quantity, available: available)))
            }
        }
        if !short.isEmpty { return .failure(Rejections(short)) }
        var working = Working(positions: positions)
        Orders.dispatch(
            Transfer(
                id: transferId, status: .inTransit, fromLocationId: request.fromLocationId, toLocationId: request.toLocationId, orderId: nil,
                reference: request.reference, lines: request.lines.map { TransferLine(sku: $0.sku, quantity: $0.quantity) },
                dispatchedAtMs: nowMs),
            working: &working, nowMs: nowMs)
        return .success(working.events)
    }

    /// Receives a transfer: what arrived joins the destination's stock, what was sent stops being
    /// incoming, and the difference is recorded as lost. Lines of the pickup order it was made
    /// for are allocated at the store when they arrived whole; a line that arrived short is
    /// cancelled (its units, if any, are the store's stock).
    ///
    /// - Parameter received: units received per SKU; SKUs not named arrived as 0.
    public static func decide(
        receive transfer: Transfer, received: [(sku: String, quantity: Int64)], order: Order?, nowMs: Int64,
        positions: [StockKey: StockPosition]
    ) -> Result<[LedgerEvent], Rejections> {
        guard transfer.status == .inTransit else {
            return .failure(Rejections(.invalidTransition(status: transfer.status.rawValue, step: "received")))
        }
        let sent = Dictionary(uniqueKeysWithValues: transfer.lines.map { ($0.sku, $0.quantity) })
        var faults = linesFaults(received, lower: 0, upper: { sent[$0] ?? 0 })
        for (index, line) in received.enumerated() where sent[line.sku] == nil {
            faults.append(.inLine(path: "lines/\(index)", .notAllowed(field: "sku", reason: "the transfer did not send '\(line.sku)'")))
        }
        if !faults.isEmpty { return .failure(Rejections(faults)) }
        let arrived = Dictionary(received.map { ($0.sku, $0.quantity) }, uniquingKeysWith: +)
        var next = transfer
        next.status = .received
        next.receivedAtMs = nowMs
        for index in next.lines.indices {
            let got = arrived[next.lines[index].sku] ?? 0
            next.lines[index].received = got
            next.lines[index].lost = next.lines[index].quantity - got
        }
        var working = Working(positions: positions)
        working.record(.transfer(TransferRecorded(
            step: .received, transfer: next,
            changes: transfer.lines.map { PositionChange(sku: $0.sku, locationId: transfer.toLocationId, incoming: -$0.quantity) },
            occurredAtMs: nowMs)))
        for line in next.lines where (line.received ?? 0) > 0 {
            working.move(StockKey(sku: line.sku, locationId: transfer.toLocationId), .transferIn, line.received!, reference: transfer.id, nowMs: nowMs)
        }
        if let order, order.lines.contains(where: { $0.transferId == transfer.id && $0.status == .inTransit }) {
            var nextOrder = order
            nextOrder.updatedAtMs = nowMs
            var left = arrived
            var changes: [PositionChange] = []
            for index in nextOrder.lines.indices where nextOrder.lines[index].transferId == transfer.id && nextOrder.lines[index].status == .inTransit {
                let line = nextOrder.lines[index]
                let have = left[line.sku] ?? 0
                if have >= line.quantity {
                    left[line.sku] = have - line.quantity
                    nextOrder.lines[index].locationId = transfer.toLocationId
                    nextOrder.lines[index].status = .allocated
                    changes.append(PositionChange(sku: line.sku, locationId: transfer.toLocationId, allocated: line.quantity))
                } else {
                    nextOrder.lines[index].status = .cancelled
                    nextOrder.lines[index].reason = "lost-in-transfer"
                }
            }
            Orders.settle(&nextOrder, nowMs: nowMs)
            working.record(.order(OrderRecorded(
                step: .transferReceived, order: nextOrder, changes: changes, lineId: nil, reason: nil, occurredAtMs: nowMs)))
        }
        return .success(working.events)
    }

    /// Applies a transfer event to the transfer it concerns.
    public static func evolve(_ transfer: Transfer?, _ event: LedgerEvent) -> Transfer {
        guard case .transfer(let recorded) = event else { preconditionFailure("a non-transfer event was applied to a transfer") }
        precondition((transfer == nil) == (recorded.step == .dispatched), "a transfer was dispatched twice, or received before dispatch")
        return recorded.transfer
    }
}
