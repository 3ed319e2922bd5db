import Hummingbird
import OmnistockCore
import OmnistockStore

/// The KPIs of a period: read from the KPI projection kept with the ledger, never by scanning
/// the ledger, so a year of a store is one indexed read of at most 8,760 rows per question.
struct KPIRoutes {
    let services: EdgeServices

    func register(on group: RouterGroup<OmsContext>) {
        group.get("kpis", use: self.read)
    }

    /// `GET /v1/kpis?from=T&to=T[&locationId=L…][&granularity=hour|day]`.
    @Sendable func read(_ request: Request, context: OmsContext) async throws -> Response {
        let query = try KPIQuery(request)
        let principal = try context.authorize(.readKPIs, locations: query.locations ?? [])
        // A bound key with no location named reads its own.
        let locations = query.locations ?? principal.scope.sortedIds
        let position = try await services.events.head(on: services.database)
        let read = try await services.kpis.read(
            fromMs: query.fromMs, toMs: query.toMs, locations: locations, bucketMs: query.bucketMs, on: services.database)
        let ids = Set(read.levels.keys).union(read.period.keys).union(locations ?? [])
        let records = try await services.locations.records(ids: ids.sorted(), on: services.database)
        let view = KPIView(
            query: query, locations: locations, read: read, records: records, promiseSeconds: services.pickupPromiseSeconds, position: position)
        return try JSON.response(view)
    }
}

/// The parameters of a KPI request, checked: a period of whole hours (from rounded down, to
/// rounded up), at most a year and a day, and a bounded series.
struct KPIQuery {
    var fromMs: Int64
    var toMs: Int64
    var locations: [String]?
    var bucketMs: Int64?
    var granularity: String?

    init(_ request: Request) throws {
        let parameters = request.uri.queryParameters
        func time(_ name: String) throws -> Int64 {
            let all = parameters.getAll(name)
            guard let text = all.last else { throw Problem(.missingField(field: name), inBody: false) }
            guard all.count == 1, let ms = Timestamp.milliseconds(String(text)) else {
                throw Problem(.outOfRange(field: name, lower: "an RFC 3339 time", upper: "once"), inBody: false)
            }
            return ms
        }
        let from = try time("from")
        let to = try time("to")
        fromMs = KPIs.hourMs(from)
        toMs = KPIs.hourMs(to) == to ? to : KPIs.hourMs(to) + Limits.kpiBucketMilliseconds
        guard from < to else { throw Problem(.outOfRange(field: "to", lower: "after from", upper: "a year and a day after it"), inBody: false) }
        guard toMs - fromMs <= Limits.kpiPeriodHoursMax * Limits.kpiBucketMilliseconds else {
            throw Problem(.outOfRange(field: "to", lower: "after from", upper: "\(Limits.kpiPeriodHoursMax) hours after it"), inBody: false)
        }
        let ids = parameters.getAll("locationId").map { String($0) }
        if ids.count > Limits.kpiLocationsMax { throw Problem(.tooMany(field: "locationId", countMax: Limits.kpiLocationsMax), inBody: false) }
        for id in ids { if let fault = Identifier.check(id, field: "locationId") { throw Problem(fault, inBody: false) } }
        locations = ids.isEmpty ? nil : Array(Set(ids)).sorted()
        try readGranularity(parameters.getAll("granularity").map { String($0) })
    }

    private mutating func readGranularity(_ given: [String]) throws {
        guard let text = given.last else { return }
        let bucket: Int64
        switch text {
        case "hour" where given.count == 1: bucket = Limits.kpiBucketMilliseconds
        case "day" where given.count == 1: bucket = 24 * Limits.kpiBucketMilliseconds
        default: throw Problem(.outOfRange(field: "granularity", lower: "one of", upper: "hour, day"), inBody: false)
        }
        guard (toMs - fromMs + bucket - 1) / bucket <= Int64(Limits.kpiSeriesBucketsMax) else {
            throw Problem(.tooMany(field: "granularity (buckets of the period)", countMax: Limits.kpiSeriesBucketsMax), inBody: false)
        }
        bucketMs = bucket
        granularity = text
    }
}
