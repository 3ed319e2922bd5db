/// The KPI figures of a period, computed from the counters the ledger's events added up to
/// (`KPIs`): each with its numerator and denominator, so that a reader can check it.
public struct KPIRatio: Equatable, Sendable {
    public var numerator: Int64
    public var denominator: Int64

    public init(_ numerator: Int64, of denominator: Int64) {
        self.numerator = numerator
        self.denominator = denominator
    }

    /// The share, or nil when there is nothing to divide by.
    public var value: Double? { denominator == 0 ? nil : Double(numerator) / Double(denominator) }
}

/// Order-to-ready times of the pickup orders that became ready in a period.
public struct KPIReadiness: Equatable, Sendable {
    public var orders: Int64
    /// The median and the 90th percentile, to the minute (the middle of the minute they fall in).
    public var medianSeconds: Int64?
    public var p90Seconds: Int64?
    /// Ready in less than the promise (to the minute).
    public var withinPromise: KPIRatio
    public var promiseSeconds: Int64
}

/// The counters a figure is computed from: a period's sums, the levels at its end, and the
/// order-to-ready histogram (orders per minute).
public struct KPIInput: Equatable, Sendable {
    public var period: KPICounters
    public var levels: KPICounters
    public var readyMinutes: [Int: Int64]

    public init(period: KPICounters, levels: KPICounters, readyMinutes: [Int: Int64]) {
        self.period = period
        self.levels = levels
        self.readyMinutes = readyMinutes
    }
}

/// The figures retailers steer by, for one period (and one set of locations).
public struct KPIFigures: Equatable, Sendable {
    /// Positions the ledger stocked that something can be promised from, at the period's end.
    public var unifiedAvailability: KPIRatio
    /// (Lines not found + orders cancelled for stock) ÷ orders placed.
    public var orderErrorRate: KPIRatio
    public var linesNotFound: Int64
    public var ordersCancelledForStock: Int64
    /// Pickup orders ÷ orders placed.
    public var clickAndCollectShare: KPIRatio
    public var orderToReady: KPIReadiness
    /// Pickup orders expired uncollected ÷ pickup orders that became ready.
    public var noShowRate: KPIRatio
    /// Orders served from more than one location when placed ÷ orders placed.
    public var splitShipmentRate: KPIRatio
    /// Holds converted into orders ÷ holds that ended (converted, released or expired).
    public var holdConversionRate: KPIRatio
    /// Transfers dispatched and not yet received, at the period's end.
    public var transfersInFlight: Int64
    /// Units promised beyond stock when accepted, in the period (must be 0).
    public var oversoldUnits: Int64

    public static func of(_ input: KPIInput, promiseSeconds: Int64) -> KPIFigures {
        precondition(promiseSeconds > 0, "a promise is a positive time")
        let period = input.period
        return KPIFigures(
            unifiedAvailability: KPIRatio(input.levels.sellablePositions, of: input.levels.trackedPositions),
            orderErrorRate: KPIRatio(period.linesNotFound + period.ordersCancelledForStock, of: period.orders),
            linesNotFound: period.linesNotFound,
            ordersCancelledForStock: period.ordersCancelledForStock,
            clickAndCollectShare: KPIRatio(period.pickupOrders, of: period.orders),
            orderToReady: readiness(input.readyMinutes, promiseSeconds: promiseSeconds),
            noShowRate: KPIRatio(period.noShows, of: period.readyOrders),
            splitShipmentRate: KPIRatio(period.splitOrders, of: period.orders),
            holdConversionRate: KPIRatio(period.holdsConverted, of: period.holdsEnded),
            transfersInFlight: input.levels.transfersInFlight,
            oversoldUnits: period.oversoldUnits)
    }

    static func readiness(_ minutes: [Int: Int64], promiseSeconds: Int64) -> KPIReadiness {
        let sorted = minutes.filter { $0.value > 0 }.sorted { $0.key < $1.key }
        let orders = sorted.reduce(Int64(0)) { $0 + $1.value }
        let promiseMinutes = Int(promiseSeconds / 60)
        let within = sorted.filter { $0.key < promiseMinutes }.reduce(Int64(0)) { $0 + $1.value }
        return KPIReadiness(
            orders: orders, medianSeconds: percentile(sorted, total: orders, share: 0.5),
            p90Seconds: percentile(sorted, total: orders, share: 0.9), withinPromise: KPIRatio(within, of: orders),
            promiseSeconds: promiseSeconds)
    }

    /// The minute the nearest-rank percentile falls in, as the seconds of its middle.
    static func percentile(_ sorted: [(key: Int, value: Int64)], total: Int64, share: Double) -> Int64? {
        guard total > 0 else { return nil }
        let rank = max(1, Int64((Double(total) * share).rounded(.up)))
        var seen: Int64 = 0
        for (minute, count) in sorted {
            seen += count
            if seen >= rank { return Int64(minute) * 60 + 30 }
        }
        preconditionFailure("a rank within the total is reached")
    }
}
