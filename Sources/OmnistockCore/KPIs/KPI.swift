/// The figures omnichannel retailers steer by, defined on the ledger's events.
///
/// Every figure is a sum of contributions: each event adds to the counters of one location and
/// one UTC hour (the hour it was recorded in), so a period's figure is the sum of its hours,
/// and a projection of these counters can be kept with the ledger (a writer adds its events'
/// contributions in its own transaction) and rebuilt from it (a replay folds them all), with
/// the same result whatever the order the transactions committed in. Levels (positions
/// tracked and sellable, transfers in flight) are counted as changes, so their value at a time
/// is the sum of every change before it.
///
/// Where an order counts: its pickup store, else the first of its lines' locations (its
/// "home"), so that no order counts twice when a period sums several locations.
public enum KPIs {
    /// The start of the UTC hour of `ms`.
    public static func hourMs(_ ms: Int64) -> Int64 {
        let hour = Limits.kpiBucketMilliseconds
        return ms >= 0 ? ms / hour * hour : ((ms + 1) / hour - 1) * hour
    }

    /// The location an order counts at.
    public static func home(of order: Order) -> String {
        order.pickupLocationId ?? order.lines.map(\.locationId).min() ?? ""
    }

    /// The minute of the order-to-ready histogram a duration falls in (the last one holds every
    /// longer wait).
    public static func readyMinute(_ durationMs: Int64) -> Int {
        Int(min(max(0, durationMs / 60_000), Int64(Limits.kpiReadyMinutesMax)))
    }

    /// Whether a position counts as sellable: something can be promised from it.
    public static func sellable(_ position: StockPosition, locationDefault: Int64) -> Bool {
        position.available(locationDefault: locationDefault) > 0
    }


    /// The counters an event adds to, apart from positions' levels (which need the positions
    /// before and after: `KPITally.position`). `previous` is the order before an order event.
    public static func count(_ event: LedgerEvent, previous: Order?, atMs: Int64, into tally: inout KPITally) {
        let hour = hourMs(atMs)
        switch event {
        case .order(let recorded):
            countOrder(recorded, previous: previous, hour: hour, into: &tally)
        case .holdConverted(let converted):
            tally.add(KPIBucket(locationId: holdHome(converted.lines), hourMs: hour)) {
                $0.holdsConverted += 1
                $0.holdsEnded += 1
            }
        case .holdReleased(let released):
            tally.add(KPIBucket(locationId: holdHome(released.lines), hourMs: hour)) { $0.holdsEnded += 1 }
        case .holdExpired(let expired):
            tally.add(KPIBucket(locationId: holdHome(expired.lines), hourMs: hour)) { $0.holdsEnded += 1 }
        case .transfer(let recorded):
            let bucket = KPIBucket(locationId: recorded.transfer.toLocationId, hourMs: hour)
            switch recorded.step {
            case .dispatched: tally.add(bucket) { $0.transfersInFlight += 1 }
            case .received: tally.add(bucket) { $0.transfersInFlight -= 1 }
            }
        case .locationDefined, .stockMoved, .stockCounted, .countCorrected, .safetyStockSet, .positionShort, .holdPlaced, .holdExtended:
            break
        }
    }

    private static func countOrder(_ recorded: OrderRecorded, previous: Order?, hour: Int64, into tally: inout KPITally) {
        let order = recorded.order
        let bucket = KPIBucket(locationId: home(of: order), hourMs: hour)
        switch recorded.step {
        case .created:
            tally.add(bucket) {
                $0.orders += 1
                if order.pickupLocationId != nil { $0.pickupOrders += 1 }
                if Set(order.lines.map(\.locationId)).count > 1 { $0.splitOrders += 1 }
            }
        case .ready:
            guard let readyAtMs = order.readyAtMs else { preconditionFailure("an order.ready event without readyAt") }
            tally.add(bucket) { $0.readyOrders += 1 }
            tally.readyMinutes[KPIReadyKey(bucket: bucket, minute: readyMinute(readyAtMs - order.createdAtMs)), default: 0] += 1
        case .expired:
            tally.add(bucket) { $0.noShows += 1 }
        case .lineNotFound:
            tally.add(bucket) { $0.linesNotFound += 1 }
        case .picking, .collected, .pickupCodeRefused, .pickupUnlocked, .shipped, .cancelled, .transferReceived, .returned:
            break
        }
        // Cancelled because nothing could serve it: the order errors the customer sees.
        if order.status == .cancelled, order.cancelReason == Orders.cancelledForStock, previous?.status != .cancelled {
            tally.add(bucket) { $0.ordersCancelledForStock += 1 }
        }
    }

    /// The location a hold counts at: the first of its lines' locations.
    private static func holdHome(_ lines: [HoldLine]) -> String {
        lines.map(\.locationId).min() ?? ""
    }

    /// Whether an event makes promises (a hold placed, an order's lines allocated): the events
    /// whose shortfall is an oversell. A count that finds less than was promised is not one.
    public static func promises(_ event: LedgerEvent) -> Bool {
        switch event {
        case .holdPlaced: true
        case .order(let recorded): recorded.step == .created || recorded.step == .lineNotFound
        case .locationDefined, .stockMoved, .stockCounted, .countCorrected, .safetyStockSet, .positionShort, .holdExtended, .holdReleased,
            .holdExpired, .holdConverted, .transfer:
            false
        }
    }
}

/// One location's hour.
public struct KPIBucket: Hashable, Comparable, Sendable {
    public var locationId: String
    /// The start of the UTC hour, in ms since 1970.
    public var hourMs: Int64

    public init(locationId: String, hourMs: Int64) {
        self.locationId = locationId
        self.hourMs = hourMs
    }

    public static func < (left: KPIBucket, right: KPIBucket) -> Bool {
        (left.locationId, left.hourMs) < (right.locationId, right.hourMs)
    }
}

/// One minute of the order-to-ready histogram, in one location's hour (the hour of `ready`).
public struct KPIReadyKey: Hashable, Comparable, Sendable {
    public var bucket: KPIBucket
    public var minute: Int

    public init(bucket: KPIBucket, minute: Int) {
        self.bucket = bucket
        self.minute = minute
    }

    public static func < (left: KPIReadyKey, right: KPIReadyKey) -> Bool {
        (left.bucket, left.minute) < (right.bucket, right.minute)
    }
}

/// What the events of one location's hour added up to.
public struct KPICounters: Equatable, Sendable {
    public var orders: Int64 = 0
    public var pickupOrders: Int64 = 0
    /// Orders served from more than one location when they were placed.
    public var splitOrders: Int64 = 0
    public var linesNotFound: Int64 = 0
    public var ordersCancelledForStock: Int64 = 0
    /// Pickup orders that became ready.
    public var readyOrders: Int64 = 0
    /// Pickup orders that expired uncollected.
    public var noShows: Int64 = 0
    public var holdsConverted: Int64 = 0
    /// Holds converted, released or expired.
    public var holdsEnded: Int64 = 0
    /// Changes of levels: +1 a transfer dispatched to the location, -1 received.
    public var transfersInFlight: Int64 = 0
    /// Changes of levels: positions the ledger stocked, and those of them sellable.
    public var trackedPositions: Int64 = 0
    public var sellablePositions: Int64 = 0
    /// Units promised beyond stock by the events that promise (must stay 0).
    public var oversoldUnits: Int64 = 0

    public init() {}

    /// Every counter by its stable name, in a fixed order (the projection's columns).
    public var all: [Int64] {
        [orders, pickupOrders, splitOrders, linesNotFound, ordersCancelledForStock, readyOrders, noShows, holdsConverted, holdsEnded,
         transfersInFlight, trackedPositions, sellablePositions, oversoldUnits]
    }

    public static let names = [
        "orders", "pickup_orders", "split_orders", "lines_not_found", "orders_cancelled_for_stock", "ready_orders", "no_shows",
        "holds_converted", "holds_ended", "transfers_in_flight", "tracked_positions", "sellable_positions", "oversold_units",
    ]

    public init(all values: [Int64]) {
        precondition(values.count == Self.names.count, "a counters row has one value per counter")
        (orders, pickupOrders, splitOrders, linesNotFound, ordersCancelledForStock) = (values[0], values[1], values[2], values[3], values[4])
        (readyOrders, noShows, holdsConverted, holdsEnded) = (values[5], values[6], values[7], values[8])
        (transfersInFlight, trackedPositions, sellablePositions, oversoldUnits) = (values[9], values[10], values[11], values[12])
    }

    public static func + (left: KPICounters, right: KPICounters) -> KPICounters {
        KPICounters(all: zip(left.all, right.all).map { $0 + $1 })
    }

    public var isZero: Bool { all.allSatisfy { $0 == 0 } }
}

/// The contributions of some events: a writer's (added to the stored rows) or the whole
/// ledger's (a replay).
public struct KPITally: Equatable, Sendable {
    public var counters: [KPIBucket: KPICounters] = [:]
    public var readyMinutes: [KPIReadyKey: Int64] = [:]

    public init() {}

    public mutating func add(_ bucket: KPIBucket, _ change: (inout KPICounters) -> Void) {
        var counters = self.counters[bucket] ?? KPICounters()
        change(&counters)
        self.counters[bucket] = counters
    }

    /// A position changed from `before` to `after` by `event`: its levels (tracked once the
    /// ledger stocked it, sellable while something can be promised) and, for an event that
    /// promises, the units promised beyond its stock. `tracked` says whether a stock event of
    /// its own stream was ever recorded, before and after.
    public mutating func position(
        _ key: StockKey, before: StockPosition, trackedBefore: Bool, after: StockPosition, trackedAfter: Bool, locationDefault: Int64,
        by event: LedgerEvent, atMs: Int64
    ) {
        let bucket = KPIBucket(locationId: key.locationId, hourMs: KPIs.hourMs(atMs))
        let tracked = Int64(trackedAfter ? 1 : 0) - Int64(trackedBefore ? 1 : 0)
        let wasSellable = trackedBefore && KPIs.sellable(before, locationDefault: locationDefault)
        let isSellable = trackedAfter && KPIs.sellable(after, locationDefault: locationDefault)
        let sellable = Int64(isSellable ? 1 : 0) - Int64(wasSellable ? 1 : 0)
        var oversold: Int64 = 0
        if KPIs.promises(event) {
            oversold = max(0, after.shortfall - before.shortfall)
        }
        guard tracked != 0 || sellable != 0 || oversold != 0 else { return }
        add(bucket) {
            $0.trackedPositions += tracked
            $0.sellablePositions += sellable
            $0.oversoldUnits += oversold
        }
    }

    public var isEmpty: Bool { counters.isEmpty && readyMinutes.isEmpty }
}
