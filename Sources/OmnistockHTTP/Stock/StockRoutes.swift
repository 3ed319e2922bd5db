import Foundation
import HTTPTypes
import Hummingbird
import OmnistockCore
import OmnistockStore

/// The inventory ledger over HTTP: movements, counts, safety stock, positions, history and
/// availability.
struct StockRoutes {
    let services: EdgeServices

    func register(on group: RouterGroup<OmsContext>) {
        group.post("stock/movements") { request, context in
            let principal = try context.caller()
            let body = try await JSON.decode(MovementsBody.self, from: request, context: context)
            let lines = try body.value.lines()
            let locations = Set(lines.map(\.locationId).filter(Identifier.isValid)).sorted()
            _ = try context.authorize(.moveStock, locations: locations)
            let metadata = services.metadata(principal, context: context, request: request)
            return try await services.idempotent(request, context: context, principal: principal, body: body.canonical) { transaction in
                let result = try await services.stock.move(lines, metadata: metadata, in: transaction)
                return try await Self.answer(result, status: 201, services: services, in: transaction)
            }
        }
        group.post("stock/counts") { request, context in
            let principal = try context.caller()
            let body = try await JSON.decode(CountBody.self, from: request, context: context)
            let count = try body.value.count()
            _ = try context.authorize(.countStock, locations: Identifier.isValid(count.locationId) ? [count.locationId] : [])
            let metadata = services.metadata(principal, context: context, request: request)
            return try await services.idempotent(request, context: context, principal: principal, body: body.canonical) { transaction in
                let result = try await services.stock.count(count, metadata: metadata, in: transaction)
                return try await Self.answer(result, status: 201, services: services, in: transaction)
            }
        }
        group.put("stock/{locationId}/{sku}/safety-stock") { request, context in
            let key = try Self.key(request, context)
            let principal = try context.authorize(.setSafetyStock, locations: [key.locationId])
            let body = try await JSON.decode(SafetyStockBody.self, from: request, context: context)
            let metadata = services.metadata(principal, context: context, request: request)
            let result = try await services.database.transaction { connection in
                try await services.stock.setSafetyStock(
                    body.value.quantity, key: key, metadata: metadata, in: Transaction(connection))
            }
            // The write refused an unknown location, so the location is there; an unchanged
            // safety stock wrote nothing, and the position is read as it stands.
            guard let location = try await services.locations.get(id: key.locationId, on: services.database),
                let record = try await result.positions.first.asyncOr({ try await services.stock.position(key, on: services.database) })
            else {
                throw Problem(Rejection.unknownLocation(locationId: key.locationId))
            }
            return try JSON.response(PositionView(
                key: key, position: record.position, safetyStockDefault: location.location.safetyStockDefault, version: record.version))
        }
        group.get("stock/{locationId}/{sku}") { request, context in
            let key = try Self.key(request, context)
            _ = try context.authorize(.readStock)
            guard let location = try await services.locations.get(id: key.locationId, on: services.database) else {
                throw Problem(Rejection.unknownLocation(locationId: key.locationId))
            }
            if let text = request.uri.queryParameters.get("asOf") {
                guard let asOfMs = Timestamp.milliseconds(String(text)) else {
                    throw Problem(.outOfRange(field: "asOf", lower: "an RFC 3339 time", upper: "now"), inBody: false)
                }
                let position = try await services.stock.position(key, asOfMs: asOfMs, on: services.database)
                return try JSON.response(PositionView(
                    key: key, position: position, safetyStockDefault: location.location.safetyStockDefault, version: nil,
                    asOf: Timestamp.date(asOfMs)))
            }
            let current = try await services.stock.position(key, on: services.database)
            return try JSON.response(PositionView(
                key: key, position: current?.position ?? .empty, safetyStockDefault: location.location.safetyStockDefault,
                version: current?.version ?? 0))
        }
        group.get("stock/{locationId}/{sku}/history") { request, context in
            let key = try Self.key(request, context)
            _ = try context.authorize(.readStock)
            let limit = try request.pageSize()
            // Stream versions are far below this bound; it keeps `after + limit` from overflowing.
            let after = try request.integer("after", in: 0...(Int64.max / 2), default: 0)
            guard let location = try await services.locations.get(id: key.locationId, on: services.database) else {
                throw Problem(Rejection.unknownLocation(locationId: key.locationId))
            }
            let entries = try await services.stock.history(key, afterVersion: after, limit: limit + 1, on: services.database)
            let page = entries.prefix(limit)
            let view = HistoryView(
                entries: try page.map { entry in
                    try EventView(
                        entry.event,
                        balance: PositionView(
                            key: key, position: entry.balance, safetyStockDefault: location.location.safetyStockDefault,
                            version: entry.event.streamVersion))
                },
                nextCursor: entries.count > limit ? page.last.map { String($0.event.streamVersion) } : nil)
            return try JSON.response(view)
        }
        group.get("availability") { request, context in
            _ = try context.authorize(.readStock)
            let query = try AvailabilityQuery(request)
            let rows = try await services.stock.availability(skus: query.skus, locationId: query.locationId, on: services.database)
            return JSON.response(bytes: query.answer(rows).json(), status: .ok)
        }
    }

    static func key(_ request: Request, _ context: OmsContext) throws -> StockKey {
        StockKey(sku: try request.identifier("sku", context: context), locationId: try request.identifier("locationId", context: context))
    }

    /// The answer to a stock write: counts, and the positions left short.
    static func answer(
        _ result: StockWriteResult, status: Int, services: EdgeServices, in transaction: Transaction
    ) async throws -> (response: StoredResponse, stored: StoredResponse) {
        let shortRecords = result.positions.filter { $0.position.shortfall > 0 }
        // Safety defaults are read only when a short position has to be shown.
        let defaults = shortRecords.isEmpty
            ? [:] : try await services.stock.safetyDefaults(of: Array(Set(shortRecords.map(\.key.locationId))), in: transaction)
        let short = shortRecords.map {
            PositionView(key: $0.key, position: $0.position, safetyStockDefault: defaults[$0.key.locationId] ?? 0, version: $0.version)
        }
        let differences: [CountDifference] = result.events.compactMap { event in
            guard case .stockCounted(let counted) = event, counted.impliedDelta != 0 else { return nil }
            return CountDifference(sku: counted.sku, expected: counted.expected, counted: counted.counted, applied: counted.onHandDelta)
        }
        let isCount = result.events.contains { if case .stockCounted = $0 { true } else { false } }
        let view = StockWriteView(
            events: result.events.count, positions: result.positions.count, short: short, differences: isCount ? differences : nil)
        let answer = StoredResponse(status: status, body: Array(try JSON.encoder.encode(view)))
        return (answer, answer)
    }
}

extension Optional {
    /// The wrapped value, or what `fallback` finds when there is none.
    func asyncOr(_ fallback: () async throws -> Wrapped?) async rethrows -> Wrapped? {
        if let self { return self }
        return try await fallback()
    }
}

/// `GET /v1/availability?sku=…&sku=…[&locationId=…][&near=lat,lon[&radiusKm=…]]`, parsed and answered.
struct AvailabilityQuery {
    var skus: [String]
    var locationId: String?
    var near: (latitude: Double, longitude: Double)?
    var radiusKm: Double?

    init(_ request: Request) throws {
        let parameters = request.uri.queryParameters
        var seen = Set<String>()
        skus = parameters.getAll("sku").map { String($0) }.filter { seen.insert($0).inserted }
        guard !skus.isEmpty else { throw Problem(.missingField(field: "sku"), inBody: false) }
        guard skus.count <= Limits.availabilitySkusMax else {
            throw Problem(.tooMany(field: "sku", countMax: Limits.availabilitySkusMax), inBody: false)
        }
        for sku in skus {
            if let fault = Identifier.check(sku, field: "sku") { throw Problem(fault, inBody: false) }
        }
        if let id = parameters.get("locationId") {
            if let fault = Identifier.check(String(id), field: "locationId") { throw Problem(fault, inBody: false) }
            locationId = String(id)
        }
        if let text = parameters.get("near") {
            let parts = text.split(separator: ",")
            guard parts.count == 2, let latitude = Double(parts[0]), let longitude = Double(parts[1]),
                abs(latitude) <= Limits.latitudeDegreesMax, abs(longitude) <= Limits.longitudeDegreesMax
            else {
                throw Problem(.outOfRange(field: "near", lower: "-90,-180", upper: "90,180"), inBody: false)
            }
            near = (latitude, longitude)
        }
        if let text = parameters.get("radiusKm") {
            guard near != nil else { throw Problem(.notAllowed(field: "radiusKm", reason: "it needs near=lat,lon"), inBody: false) }
            guard let radius = Double(text), radius > 0, radius <= Limits.radiusKilometresMax else {
                throw Problem(.outOfRange(field: "radiusKm", lower: "0", upper: "\(Int(Limits.radiusKilometresMax))"), inBody: false)
            }
            radiusKm = radius
        }
    }

    /// The core's figures per SKU asked, in the order asked; SKUs nobody holds answer with zeros.
    func answer(_ rows: [AvailabilityRow]) -> AvailabilityView {
        let bySku = Dictionary(grouping: rows, by: \.sku)
        return AvailabilityView(items: skus.map { sku in
            let summary = SkuAvailability.summarize(
                sku: sku, positions: (bySku[sku] ?? []).map { ($0.location, $0.position) }, near: near, radiusKilometres: radiusKm)
            return .init(
                sku: sku, available: summary.available, ship: summary.ship,
                pickup: summary.pickup.map {
                    .init(locationId: $0.location.id, name: $0.location.name, available: $0.available, distanceKm: $0.distanceKilometres)
                },
                locations: summary.locations.map { entry in
                    .init(
                        locationId: entry.location.id, name: entry.location.name, kind: entry.location.kind,
                        onHand: entry.position.onHand, held: entry.position.held, allocated: entry.position.allocated,
                        safetyStock: entry.position.effectiveSafetyStock(locationDefault: entry.location.safetyStockDefault),
                        incoming: entry.position.incoming, available: entry.available, short: entry.position.shortfall,
                        distanceKm: entry.distanceKilometres)
                })
        })
    }
}
