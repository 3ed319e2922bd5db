import Hummingbird
import OmnistockCore
import OmnistockStore

/// The inventory ledger over HTTP: movements, counts, safety stock, positions and history.
struct StockRoutes {
    let services: EdgeServices

    func register(on group: RouterGroup<OmsContext>) {
        group
            .post("stock/movements", use: self.move)
            .post("stock/counts", use: self.count)
            .put("stock/{locationId}/{sku}/safety-stock", use: self.setSafetyStock)
            .get("stock/{locationId}/{sku}", use: self.position)
            .get("stock/{locationId}/{sku}/history", use: self.history)
    }

    /// `POST /v1/stock/movements`: receipts, adjustments and other movements, in one transaction.
    @Sendable func move(_ request: Request, context: OmsContext) async throws -> Response {
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

    /// `POST /v1/stock/counts`: a count of a location, reconciled with the ledger at its time.
    @Sendable func count(_ request: Request, context: OmsContext) async throws -> Response {
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

    /// `PUT /v1/stock/{locationId}/{sku}/safety-stock`: the position's own safety stock, or none.
    @Sendable func setSafetyStock(_ request: Request, context: OmsContext) async throws -> Response {
        let key = try StockKey(request, context: context)
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

    /// `GET /v1/stock/{locationId}/{sku}[?asOf=…]`: the position now, or as it was at a time
    /// (every bucket, from the ledger; a time in the future is read as now).
    @Sendable func position(_ request: Request, context: OmsContext) async throws -> Response {
        let key = try StockKey(request, context: context)
        _ = try context.authorize(.readStock)
        guard let location = try await services.locations.get(id: key.locationId, on: services.database) else {
            throw Problem(Rejection.unknownLocation(locationId: key.locationId))
        }
        if let text = request.uri.queryParameters.get("asOf") {
            guard let asOfMs = Timestamp.milliseconds(String(text)) else {
                throw Problem(.outOfRange(field: "asOf", lower: "an RFC 3339 time", upper: "now"), inBody: false)
            }
            let position: StockPosition
            do {
                position = try await services.stock.position(key, asOfMs: asOfMs, on: services.database)
            } catch let refusal as Rejections {
                // Too far back for the bound on events read: the query parameter is at fault (400).
                throw Problem(refusal, inBody: false)
            }
            return try JSON.response(PositionView(
                key: key, position: position, safetyStockDefault: location.location.safetyStockDefault, version: nil,
                asOf: Timestamp.date(asOfMs)))
        }
        let current = try await services.stock.position(key, on: services.database)
        return try JSON.response(PositionView(
            key: key, position: current?.position ?? .empty, safetyStockDefault: location.location.safetyStockDefault,
            version: current?.version ?? 0))
    }

    /// `GET /v1/stock/{locationId}/{sku}/history`: the position's events, each with its balances.
    @Sendable func history(_ request: Request, context: OmsContext) async throws -> Response {
        let key = try StockKey(request, context: context)
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

extension StockKey {
    /// The position a stock path names: `{locationId}/{sku}`, both valid identifiers (400 otherwise).
    init(_ request: Request, context: OmsContext) throws {
        self.init(sku: try request.identifier("sku", context: context), locationId: try request.identifier("locationId", context: context))
    }
}

extension Optional {
    /// The wrapped value, or what `fallback` finds when there is none.
    func asyncOr(_ fallback: () async throws -> Wrapped?) async rethrows -> Wrapped? {
        if let self { return self }
        return try await fallback()
    }
}
