/// What a caller bound to some locations may see of a ledger event: the one rule every feed
/// (the event page, the event stream, webhooks) applies, so that a franchised store never
/// reads a competitor's stock through an event they share.
///
/// The rule:
/// - An event is shown when it concerns one of the caller's locations (`locationIds`); an
///   event that concerns none of them is not shown at all.
/// - Every per-location part of the other locations is removed: hold lines, order lines,
///   position changes, capacity assignments, returns taken elsewhere, and a partial hold's
///   unfilled lines of other locations or of the engine's sourcing (their `available` is
///   summed over every candidate, competitors included).
/// - Two things name another location on purpose, because the work cannot be done without
///   them: a transfer's other end (the source must know where to send, the destination what
///   is coming from where; its lines are the shipment itself, shared by both ends), and the
///   pickup store of an order or hold (where a line's goods are going). The pickup store of
///   an order sees all of its lines, wherever they come from: it hands the whole order over,
///   and each line it does not stock arrives by a transfer it sees anyway.
/// - An event shown in part has its request metadata (actor, idempotency key, request id)
///   removed by the feed: the request came from a caller with other locations.
public enum EventVisibility: Equatable, Sendable {
    /// Wholly the caller's: shown as recorded.
    case whole
    /// Shown with the other locations' parts removed.
    case part(LedgerEvent)
    /// Concerns none of the caller's locations.
    case hidden
}

extension Access {
    /// How much of `event` a caller whose keys reach `scope` may see.
    public static func visibility(of event: LedgerEvent, to scope: LocationScope) -> EventVisibility {
        guard case .only(let ids) = scope else { return .whole }
        guard event.locationIds.contains(where: ids.contains) else { return .hidden }
        let shown = visiblePart(of: event, to: ids)
        return shown == event ? .whole : .part(shown)
    }

    /// The event with every part of locations outside `ids` removed.
    static func visiblePart(of event: LedgerEvent, to ids: Set<String>) -> LedgerEvent {
        switch event {
        case .locationDefined, .stockMoved, .stockCounted, .countCorrected, .safetyStockSet, .positionShort:
            // One location's own event: shown only to its own keys, whole.
            return event
        case .holdPlaced(var placed):
            placed.lines = placed.lines.filter { ids.contains($0.locationId) }
            placed.unfilled = placed.unfilled.filter { $0.locationId.map(ids.contains) ?? false }
            return .holdPlaced(placed)
        case .holdExtended(var extended):
            extended.locationIds = extended.locationIds.filter(ids.contains)
            return .holdExtended(extended)
        case .holdReleased(var released):
            released.lines = released.lines.filter { ids.contains($0.locationId) }
            return .holdReleased(released)
        case .holdExpired(var expired):
            expired.lines = expired.lines.filter { ids.contains($0.locationId) }
            return .holdExpired(expired)
        case .holdConverted(var converted):
            converted.lines = converted.lines.filter { ids.contains($0.locationId) }
            return .holdConverted(converted)
        case .order(let recorded):
            return .order(visiblePart(of: recorded, to: ids))
        case .transfer(var recorded):
            recorded.changes = recorded.changes.filter { ids.contains($0.locationId) }
            return .transfer(recorded)
        }
    }

    /// An order step with the lines, changes, assignments, shipments and returns of other
    /// locations removed (all lines stay for the pickup store's keys).
    static func visiblePart(of recorded: OrderRecorded, to ids: Set<String>) -> OrderRecorded {
        var shown = recorded
        let pickupIsOwn = recorded.order.pickupLocationId.map(ids.contains) ?? false
        if !pickupIsOwn {
            shown.order.lines = recorded.order.lines.filter { ids.contains($0.locationId) }
        }
        let lineIds = Set(shown.order.lines.map(\.id))
        shown.order.shipments = recorded.order.shipments.compactMap { shipment in
            var own = shipment
            own.lines = shipment.lines.filter(lineIds.contains)
            return own.lines.isEmpty ? nil : own
        }
        shown.order.returns = recorded.order.returns.filter { ids.contains($0.locationId) }
        shown.changes = recorded.changes.filter { ids.contains($0.locationId) }
        shown.assigned = recorded.assigned.filter(ids.contains)
        if let lineId = recorded.lineId, !lineIds.contains(lineId) { shown.lineId = nil }
        return shown
    }
}
