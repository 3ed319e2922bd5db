/// The pure rules of holds: placing, extending, releasing and expiring, decided against the
/// positions and holds as they stand, and the events that evolve them.
///
/// The positions passed to `decide` are *effective*: their `held` counts only holds that have
/// not expired at `nowMs`. The store subtracts expired-but-unrecorded holds before calling, so
/// a hold stops counting at its expiry whether or not the sweeper has run.
public enum Holds {
    /// The faults of a request that depend on nothing stored: checked before any row is locked.
    public static func validate(_ request: HoldRequest) -> [Rejection] {
        var faults: [Rejection] = []
        if request.lines.isEmpty { faults.append(.missingField(field: "lines")) }
        if request.lines.count > Limits.holdLinesMax { faults.append(.tooMany(field: "lines", countMax: Limits.holdLinesMax)) }
        faults += validate(lines: request.lines, fulfilment: request.fulfilment)
        if let fulfilment = request.fulfilment { faults += validate(fulfilment: fulfilment) }
        if !(Limits.holdTTLSecondsMin...Limits.holdTTLSecondsMax).contains(request.ttlSeconds) {
            faults.append(.outOfRange(field: "ttlSeconds", lower: "\(Limits.holdTTLSecondsMin)", upper: "\(Limits.holdTTLSecondsMax)"))
        }
        if let reference = request.reference, let fault = Text.check(reference, field: "reference", lengthMax: Limits.referenceLengthMax) {
            faults.append(fault)
        }
        return faults
    }

    /// The faults of each line: its SKU, its quantity, and a location named either by the line
    /// or by the fulfilment, not both.
    public static func validate(lines: [RequestedLine], fulfilment: Fulfilment?) -> [Rejection] {
        var faults: [Rejection] = []
        for (index, line) in lines.enumerated() {
            var lineFaults: [Rejection] = []
            if let fault = Identifier.check(line.sku, field: "sku") { lineFaults.append(fault) }
            if !(1...Limits.holdLineQuantityMax).contains(line.quantity) {
                lineFaults.append(.outOfRange(field: "quantity", lower: "1", upper: "\(Limits.holdLineQuantityMax)"))
            }
            switch (line.locationId, fulfilment) {
            case (nil, nil):
                lineFaults.append(.missingField(field: "locationId"))
            case (.some(let id), nil):
                if let fault = Identifier.check(id, field: "locationId") { lineFaults.append(fault) }
            case (.some, .some):
                lineFaults.append(.notAllowed(field: "locationId", reason: "the fulfilment chooses the locations; name either, not both"))
            case (nil, .some):
                break
            }
            faults += lineFaults.map { .inLine(path: "lines/\(index)", $0) }
        }
        return faults
    }

    /// The faults of a fulfilment: a valid pickup location, or an address on the globe.
    public static func validate(fulfilment: Fulfilment) -> [Rejection] {
        switch fulfilment {
        case .pickup(let id):
            if let fault = Identifier.check(id, field: "fulfilment/locationId") { return [fault] }
            return []
        case .ship(let latitude, let longitude):
            var faults: [Rejection] = []
            if !(abs(latitude) <= Limits.latitudeDegreesMax) {
                faults.append(.outOfRange(field: "fulfilment/address/latitude", lower: "-90", upper: "90"))
            }
            if !(abs(longitude) <= Limits.longitudeDegreesMax) {
                faults.append(.outOfRange(field: "fulfilment/address/longitude", lower: "-180", upper: "180"))
            }
            return faults
        }
    }

    /// The positions a placement must lock and read, given the locations it may use:
    /// named lines and pickups use their location; shipping considers every candidate.
    public static func keys(of request: HoldRequest, shipCandidates: [String]) -> [StockKey] {
        var keys = Set<StockKey>()
        for line in request.lines {
            switch (line.locationId, request.fulfilment) {
            case (.some(let id), _), (nil, .pickup(let id)):
                keys.insert(StockKey(sku: line.sku, locationId: id))
            case (nil, .ship):
                for id in shipCandidates { keys.insert(StockKey(sku: line.sku, locationId: id)) }
            case (nil, nil):
                break
            }
        }
        return Array(keys)
    }

    /// Whether a location may serve a shipped hold: active and shipping.
    public static func canShip(_ location: Location) -> Bool { location.active && location.capabilities.ships }

    /// Decides a placement against the locked, effective positions.
    ///
    /// - Parameters:
    ///   - locations: every location the request names, and every shipping candidate the
    ///     caller may use (absent ids are unknown).
    ///   - positions: the effective positions of `keys(of:shipCandidates:)`; absent means empty.
    public static func decide(
        place request: HoldRequest, holdId: String, nowMs: Int64, locations: [String: Location],
        positions: [StockKey: StockPosition], shipCandidates: [String]
    ) -> Result<HoldPlaced, Rejections> {
        let faults = validate(request)
        if !faults.isEmpty { return .failure(Rejections(faults)) }
        let stock = PlacementStock(locations: locations, positions: positions)
        // Where each line goes: sourced for shipping; named, or the pickup point, otherwise.
        let placement: Result<Placement, Rejections>
        if case .ship(let latitude, let longitude) = request.fulfilment {
            placement = placeShipped(request, destination: (latitude, longitude), stock: stock, shipCandidates: shipCandidates)
        } else {
            placement = placeAtLocations(request, stock: stock)
        }
        switch placement {
        case .failure(let rejections): return .failure(rejections)
        case .success(let placement): return holdPlaced(placement, request: request, holdId: holdId, nowMs: nowMs)
        }
    }

    /// What a placement can take from each position: its availability, kept back by its
    /// location's safety stock; nothing at a location the caller does not know.
    private struct PlacementStock {
        let locations: [String: Location]
        let positions: [StockKey: StockPosition]

        func available(_ key: StockKey) -> Int64 {
            guard let location = locations[key.locationId] else { return 0 }
            return positions[key]?.available(locationDefault: location.safetyStockDefault) ?? 0
        }
    }

    /// The lines a placement holds, in request order, and the lines it reports unfilled.
    private struct Placement {
        var placed: [(line: Int, sku: String, locationId: String, quantity: Int64)] = []
        var unfilled: [UnfilledLine] = []
    }

    /// Sources a shipped hold by the rules orders source by (`Sourcing.source`) but daily
    /// capacity, which counts orders: among active, shipping candidates within reach of the address.
    private static func placeShipped(
        _ request: HoldRequest, destination: (latitude: Double, longitude: Double), stock: PlacementStock, shipCandidates: [String]
    ) -> Result<Placement, Rejections> {
        let candidates = shipCandidates.compactMap { stock.locations[$0] }.filter { location in
            canShip(location)
                && Geo.distanceKilometres(
                    latitude1: destination.latitude, longitude1: destination.longitude, latitude2: location.latitude, longitude2: location.longitude)
                    <= Limits.sourcingDistanceKilometresMax
        }
        var table: [StockKey: Int64] = [:]
        for line in request.lines {
            for location in candidates {
                let key = StockKey(sku: line.sku, locationId: location.id)
                table[key] = stock.available(key)
            }
        }
        let demands = request.lines.enumerated().map { Sourcing.Demand(line: $0.offset, sku: $0.element.sku, quantity: $0.element.quantity) }
        let plan = Sourcing.plan(demands, candidates: candidates, destination: destination, available: table)
        var placement = Placement(placed: plan.assignments.map { ($0.line, $0.sku, $0.locationId, $0.quantity) })
        guard !plan.unfilled.isEmpty else { return .success(placement) }
        guard request.allowPartial else {
            // All or nothing: nothing is held, and every line that could not be served is named.
            return .failure(Rejections(plan.unfilled.map {
                .inLine(path: "lines/\($0.line)", .insufficientStock(sku: $0.sku, locationId: nil, requested: $0.requested, available: $0.available))
            }))
        }
        placement.unfilled = plan.unfilled
        return .success(placement)
    }

    /// Places the lines of a pickup hold at the pickup point, and named lines at their location.
    private static func placeAtLocations(_ request: HoldRequest, stock: PlacementStock) -> Result<Placement, Rejections> {
        let pickupPoint: String?
        switch validatePickupPoint(request.fulfilment, locations: stock.locations) {
        case .failure(let rejections): return .failure(rejections)
        case .success(let id): pickupPoint = id
        }
        let locationFaults = lineLocationFaults(request, locations: stock.locations)
        if !locationFaults.isEmpty { return .failure(Rejections(locationFaults)) }
        let keyed = request.lines.map { line -> StockKey in
            guard let id = line.locationId ?? pickupPoint else {
                preconditionFailure("a line with neither a location nor a pickup point passed validation")
            }
            return StockKey(sku: line.sku, locationId: id)
        }
        return request.allowPartial ? .success(placePartially(request, keyed: keyed, stock: stock)) : placeWhole(request, keyed: keyed, stock: stock)
    }

    /// The pickup point of a pickup fulfilment, when it can be one; nil without a fulfilment.
    private static func validatePickupPoint(_ fulfilment: Fulfilment?, locations: [String: Location]) -> Result<String?, Rejections> {
        guard case .pickup(let id) = fulfilment else { return .success(nil) }
        switch locations[id] {
        case nil:
            return .failure(Rejections(.inLine(path: "fulfilment", .unknownLocation(locationId: id))))
        case .some(let location) where !location.active:
            return .failure(Rejections(.inLine(path: "fulfilment", .locationInactive(locationId: id))))
        case .some(let location) where !location.capabilities.pickup:
            return .failure(Rejections(.inLine(path: "fulfilment", .locationLacksCapability(locationId: id, capability: "be a pickup point"))))
        case .some:
            return .success(id)
        }
    }

    /// The faults of the locations lines name: unknown, or inactive.
    private static func lineLocationFaults(_ request: HoldRequest, locations: [String: Location]) -> [Rejection] {
        var faults: [Rejection] = []
        for (index, line) in request.lines.enumerated() {
            guard let id = line.locationId, let location = locations[id] else {
                if let id = line.locationId { faults.append(.inLine(path: "lines/\(index)", .unknownLocation(locationId: id))) }
                continue
            }
            if !location.active { faults.append(.inLine(path: "lines/\(index)", .locationInactive(locationId: id))) }
        }
        return faults
    }

    /// Holds each line its position can still serve, in request order, and reports the others.
    private static func placePartially(_ request: HoldRequest, keyed: [StockKey], stock: PlacementStock) -> Placement {
        var placement = Placement()
        var left: [StockKey: Int64] = [:]
        for (index, line) in request.lines.enumerated() {
            let key = keyed[index]
            let have = left[key] ?? stock.available(key)
            if have >= line.quantity {
                left[key] = have - line.quantity
                placement.placed.append((index, line.sku, key.locationId, line.quantity))
            } else {
                left[key] = have
                placement.unfilled.append(UnfilledLine(line: index, sku: line.sku, locationId: key.locationId, requested: line.quantity, available: have))
            }
        }
        return placement
    }

    /// Holds every line, or refuses each line whose position cannot serve all the lines that
    /// ask it: lines for the same position are checked against their sum (two lines of 3 where
    /// 5 are available is a refusal, not two acceptances).
    private static func placeWhole(_ request: HoldRequest, keyed: [StockKey], stock: PlacementStock) -> Result<Placement, Rejections> {
        var demand: [StockKey: Int64] = [:]
        for (index, line) in request.lines.enumerated() { demand[keyed[index], default: 0] += line.quantity }
        var placement = Placement()
        var refusals: [Rejection] = []
        for (index, line) in request.lines.enumerated() {
            let key = keyed[index]
            if demand[key]! > stock.available(key) {
                refusals.append(.inLine(
                    path: "lines/\(index)",
                    .insufficientStock(sku: line.sku, locationId: key.locationId, requested: demand[key]!, available: stock.available(key))))
            } else {
                placement.placed.append((index, line.sku, key.locationId, line.quantity))
            }
        }
        if !refusals.isEmpty { return .failure(Rejections(refusals)) }
        return .success(placement)
    }

    /// The event of a placement that holds something; a partial hold that could hold nothing is
    /// a refusal, with every line's figures.
    private static func holdPlaced(_ placement: Placement, request: HoldRequest, holdId: String, nowMs: Int64) -> Result<HoldPlaced, Rejections> {
        if placement.placed.isEmpty {
            return .failure(Rejections(placement.unfilled.map {
                .inLine(path: "lines/\($0.line)", .insufficientStock(sku: $0.sku, locationId: $0.locationId, requested: $0.requested, available: $0.available))
            }))
        }
        let lines = placement.placed.enumerated().map {
            HoldLine(id: String($0.offset + 1), sku: $0.element.sku, locationId: $0.element.locationId, quantity: $0.element.quantity)
        }
        return .success(HoldPlaced(
            holdId: holdId, reference: request.reference, fulfilment: request.fulfilment, allowPartial: request.allowPartial,
            lines: lines, unfilled: placement.unfilled, expiresAtMs: nowMs + request.ttlSeconds * 1000, occurredAtMs: nowMs))
    }

    /// Decides an extension: the new expiry is `ttlSeconds` from now, never earlier than the
    /// current one, and never later than the hold's lifetime bound after it was placed.
    public static func decide(extend hold: Hold, ttlSeconds: Int64, nowMs: Int64) -> Result<[LedgerEvent], Rejections> {
        guard (Limits.holdTTLSecondsMin...Limits.holdTTLSecondsMax).contains(ttlSeconds) else {
            return .failure(Rejections(.outOfRange(field: "ttlSeconds", lower: "\(Limits.holdTTLSecondsMin)", upper: "\(Limits.holdTTLSecondsMax)")))
        }
        let status = hold.status(atMs: nowMs)
        guard status == .active else { return .failure(Rejections(.holdNotActive(holdId: hold.id, status: status))) }
        let latest = hold.placedAtMs + Limits.holdLifetimeSecondsMax * 1000
        let wanted = nowMs + ttlSeconds * 1000
        guard wanted <= latest else {
            // Holds that are extended for ever are how stock leaks: the lifetime is bounded.
            let left = max(Limits.holdTTLSecondsMin, (latest - nowMs) / 1000)
            return .failure(Rejections(.outOfRange(field: "ttlSeconds", lower: "\(Limits.holdTTLSecondsMin)", upper: "\(left) (a hold lives at most \(Limits.holdLifetimeSecondsMax) s)")))
        }
        guard wanted > hold.expiresAtMs else { return .success([]) }
        return .success([.holdExtended(HoldExtended(
            holdId: hold.id, previousExpiresAtMs: hold.expiresAtMs, expiresAtMs: wanted,
            locationIds: Array(Set(hold.lines.map(\.locationId))).sorted(), occurredAtMs: nowMs))])
    }

    /// Decides a release. Releasing is idempotent: a hold that already ended stays as it is,
    /// and one that expired unrecorded is recorded as expired, which is what happened to it.
    /// A converted hold belongs to its order now and is refused.
    public static func decide(release hold: Hold, nowMs: Int64) -> Result<[LedgerEvent], Rejections> {
        switch (hold.recordedStatus, hold.status(atMs: nowMs)) {
        case (.active, .active):
            return .success([.holdReleased(HoldReleased(holdId: hold.id, lines: hold.lines, occurredAtMs: nowMs))])
        case (.active, _):
            return .success(expire(hold, nowMs: nowMs))
        case (.converted, _):
            return .failure(Rejections(.holdNotActive(holdId: hold.id, status: .converted)))
        case (.released, _), (.expired, _):
            return .success([])
        }
    }

    /// Records the expiry of a hold that is due; nothing for any other.
    public static func expire(_ hold: Hold, nowMs: Int64) -> [LedgerEvent] {
        guard hold.recordedStatus == .active, nowMs >= hold.expiresAtMs else { return [] }
        return [.holdExpired(HoldExpired(holdId: hold.id, lines: hold.lines, occurredAtMs: hold.expiresAtMs, recordedAtMs: nowMs))]
    }

    /// Applies a hold event to the hold it concerns.
    public static func evolve(_ hold: Hold?, _ event: LedgerEvent) -> Hold {
        switch event {
        case .holdPlaced(let placed):
            precondition(hold == nil, "a hold was placed twice")
            return Hold(
                id: placed.holdId, recordedStatus: .active, reference: placed.reference, fulfilment: placed.fulfilment,
                allowPartial: placed.allowPartial, lines: placed.lines, unfilled: placed.unfilled, placedAtMs: placed.occurredAtMs,
                expiresAtMs: placed.expiresAtMs, endedAtMs: nil, updatedAtMs: placed.occurredAtMs)
        case .holdExtended(let extended):
            guard var next = hold, next.recordedStatus == .active else { preconditionFailure("an ended or unknown hold was extended") }
            precondition(extended.expiresAtMs > next.expiresAtMs, "an extension did not extend")
            next.expiresAtMs = extended.expiresAtMs
            next.updatedAtMs = extended.occurredAtMs
            return next
        case .holdReleased(let released):
            guard var next = hold, next.recordedStatus == .active else { preconditionFailure("an ended or unknown hold was released") }
            next.recordedStatus = .released
            next.endedAtMs = released.occurredAtMs
            next.updatedAtMs = released.occurredAtMs
            return next
        case .holdExpired(let expired):
            guard var next = hold, next.recordedStatus == .active else { preconditionFailure("an ended or unknown hold expired") }
            next.recordedStatus = .expired
            next.endedAtMs = expired.occurredAtMs
            next.updatedAtMs = expired.recordedAtMs
            return next
        case .holdConverted(let converted):
            guard var next = hold, next.recordedStatus == .active else { preconditionFailure("an ended or unknown hold was converted") }
            next.recordedStatus = .converted
            next.endedAtMs = converted.occurredAtMs
            next.updatedAtMs = converted.occurredAtMs
            return next
        case .locationDefined, .stockMoved, .stockCounted, .countCorrected, .safetyStockSet, .positionShort, .order, .transfer:
            preconditionFailure("a non-hold event was applied to a hold")
        }
    }

    /// How a hold event changes the `held` bucket of each position it touches.
    public static func heldChanges(_ event: LedgerEvent) -> [(key: StockKey, delta: Int64)] {
        switch event {
        case .holdPlaced(let placed): placed.lines.map { ($0.key, $0.quantity) }
        case .holdReleased(let released): released.lines.map { ($0.key, -$0.quantity) }
        case .holdExpired(let expired): expired.lines.map { ($0.key, -$0.quantity) }
        // An extension moves only the expiry, and a conversion's release of its held units
        // travels with the allocation that replaces it (`positionChanges`); the others are not
        // hold events.
        case .holdExtended, .holdConverted: []
        case .locationDefined, .stockMoved, .stockCounted, .countCorrected, .safetyStockSet, .positionShort, .order, .transfer: []
        }
    }

    /// Applies a change of the held bucket to a position; a negative result is a bug, so it traps.
    public static func evolve(_ position: StockPosition, held delta: Int64) -> StockPosition {
        var next = position
        next.held += delta
        next.checkInvariants()
        return next
    }
}
