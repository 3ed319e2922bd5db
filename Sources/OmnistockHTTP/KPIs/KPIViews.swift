import OmnistockCore
import OmnistockStore

/// A ratio as the KPI answer shows it: the value (null with nothing to divide by) and the two
/// counts it is made of, so that a reader can check it.
struct RatioView: Encodable {
    var value: Double?
    var numerator: Int64
    var denominator: Int64

    init(_ ratio: KPIRatio) {
        value = ratio.value
        numerator = ratio.numerator
        denominator = ratio.denominator
    }

    func encode(to encoder: any Encoder) throws {
        enum Keys: String, CodingKey { case value, numerator, denominator }
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(value, forKey: .value)
        try container.encode(numerator, forKey: .numerator)
        try container.encode(denominator, forKey: .denominator)
    }
}

/// The figures of one period (the answer's, or one bucket of its series).
struct FiguresView: Encodable {
    struct ErrorRate: Encodable {
        var value: Double?
        var numerator: Int64
        var denominator: Int64
        var linesNotFound: Int64
        var ordersCancelledForStock: Int64

        func encode(to encoder: any Encoder) throws {
            enum Keys: String, CodingKey { case value, numerator, denominator, linesNotFound, ordersCancelledForStock }
            var container = encoder.container(keyedBy: Keys.self)
            // Always present, as in every ratio: null when there is nothing to divide by.
            try container.encode(value, forKey: .value)
            try container.encode(numerator, forKey: .numerator)
            try container.encode(denominator, forKey: .denominator)
            try container.encode(linesNotFound, forKey: .linesNotFound)
            try container.encode(ordersCancelledForStock, forKey: .ordersCancelledForStock)
        }
    }
    struct Readiness: Encodable {
        var orders: Int64
        var medianSeconds: Int64?
        var p90Seconds: Int64?
        var withinPromiseShare: RatioView
        var promiseSeconds: Int64
    }
    var from: String
    var to: String
    var unifiedAvailability: RatioView
    var orderErrorRate: ErrorRate
    var clickAndCollectShare: RatioView
    var orderToReady: Readiness
    var noShowRate: RatioView
    var splitShipmentRate: RatioView
    var holdConversionRate: RatioView
    var transfersInFlight: Int64
    var oversells: Int64

    init(_ figures: KPIFigures, fromMs: Int64, toMs: Int64) {
        from = Timestamp.iso(fromMs)
        to = Timestamp.iso(toMs)
        unifiedAvailability = RatioView(figures.unifiedAvailability)
        let error = figures.orderErrorRate
        orderErrorRate = ErrorRate(
            value: error.value, numerator: error.numerator, denominator: error.denominator, linesNotFound: figures.linesNotFound,
            ordersCancelledForStock: figures.ordersCancelledForStock)
        clickAndCollectShare = RatioView(figures.clickAndCollectShare)
        let ready = figures.orderToReady
        orderToReady = Readiness(
            orders: ready.orders, medianSeconds: ready.medianSeconds, p90Seconds: ready.p90Seconds,
            withinPromiseShare: RatioView(ready.withinPromise), promiseSeconds: ready.promiseSeconds)
        noShowRate = RatioView(figures.noShowRate)
        splitShipmentRate = RatioView(figures.splitShipmentRate)
        holdConversionRate = RatioView(figures.holdConversionRate)
        transfersInFlight = figures.transfersInFlight
        oversells = figures.oversoldUnits
    }
}

/// The answer of `GET /v1/kpis`: the period's figures, availability per location kind and per
/// location, the order-to-ready distribution, and the series when a granularity was asked.
struct KPIView: Encodable {
    struct LocationAvailability: Encodable {
        var locationId: String
        var name: String?
        var kind: String?
        var availability: RatioView
    }
    struct Minute: Encodable {
        var minute: Int
        var orders: Int64
    }
    var figures: FiguresView
    var locationIds: [String]?
    var availabilityByKind: [String: RatioView]
    var availabilityByLocation: [LocationAvailability]
    /// Pickup orders per whole minute from order to ready, for the minutes that have any.
    var readyDistribution: [Minute]
    var granularity: String?
    var series: [FiguresView]?
    var position: Int64

    init(
        query: KPIQuery, locations: [String]?, read: KPIRead, records: [String: LocationRecord], promiseSeconds: Int64, position: Int64
    ) {
        figures = FiguresView(KPIFigures.of(read.input(), promiseSeconds: promiseSeconds), fromMs: query.fromMs, toMs: query.toMs)
        locationIds = locations
        var kinds: [String: KPIRatio] = [:]
        for (id, levels) in read.levels {
            let kind = records[id]?.location.kind.rawValue ?? "unknown"
            let sum = kinds[kind] ?? KPIRatio(0, of: 0)
            kinds[kind] = KPIRatio(sum.numerator + levels.sellablePositions, of: sum.denominator + levels.trackedPositions)
        }
        availabilityByKind = kinds.mapValues(RatioView.init)
        let ids = Set(read.levels.keys).union(locations ?? [])
        availabilityByLocation = ids.sorted().map { id in
            let levels = read.levels[id] ?? KPICounters()
            return LocationAvailability(
                locationId: id, name: records[id]?.location.name, kind: records[id]?.location.kind.rawValue,
                availability: RatioView(KPIRatio(levels.sellablePositions, of: levels.trackedPositions)))
        }
        readyDistribution = read.readyMinutes.filter { $0.value > 0 }.sorted { $0.key < $1.key }.map { Minute(minute: $0.key, orders: $0.value) }
        granularity = query.granularity
        series = query.bucketMs.map { bucketMs in
            read.series.map {
                FiguresView(KPIFigures.of($0.input, promiseSeconds: promiseSeconds), fromMs: $0.startMs, toMs: min(query.toMs, $0.startMs + bucketMs))
            }
        }
        self.position = position
    }

    func encode(to encoder: any Encoder) throws {
        enum Keys: String, CodingKey {
            case from, to, locationIds, unifiedAvailability, availabilityByKind, availabilityByLocation, orderErrorRate
            case clickAndCollectShare, orderToReady, readyDistribution, noShowRate, splitShipmentRate, holdConversionRate
            case transfersInFlight, oversells, granularity, series, position
        }
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(figures.from, forKey: .from)
        try container.encode(figures.to, forKey: .to)
        // Always present: null means every location.
        try container.encode(locationIds, forKey: .locationIds)
        try container.encode(figures.unifiedAvailability, forKey: .unifiedAvailability)
        try container.encode(availabilityByKind, forKey: .availabilityByKind)
        try container.encode(availabilityByLocation, forKey: .availabilityByLocation)
        try container.encode(figures.orderErrorRate, forKey: .orderErrorRate)
        try container.encode(figures.clickAndCollectShare, forKey: .clickAndCollectShare)
        try container.encode(figures.orderToReady, forKey: .orderToReady)
        try container.encode(readyDistribution, forKey: .readyDistribution)
        try container.encode(figures.noShowRate, forKey: .noShowRate)
        try container.encode(figures.splitShipmentRate, forKey: .splitShipmentRate)
        try container.encode(figures.holdConversionRate, forKey: .holdConversionRate)
        try container.encode(figures.transfersInFlight, forKey: .transfersInFlight)
        try container.encode(figures.oversells, forKey: .oversells)
        try container.encodeIfPresent(granularity, forKey: .granularity)
        try container.encodeIfPresent(series, forKey: .series)
        try container.encode(position, forKey: .position)
    }
}
