import Hummingbird
import OmnistockCore
import OmnistockStore

/// What can be sold, shipped and picked up, per SKU, across locations.
struct AvailabilityRoutes {
    let services: EdgeServices

    func register(on group: RouterGroup<OmsContext>) {
        group
            .get("availability", use: self.availability)
            .get("availability/stream", use: self.stream)
    }

    /// `GET /v1/availability`: the figures of the SKUs asked, in the order asked, and the ledger
    /// position they reflect (in the body and the `Omnistock-Position` header).
    ///
    /// Answered from the instance's availability model when it has reached `minPosition` (it
    /// trails a commit by the tail's wake, about a millisecond); otherwise, or while it loads,
    /// from PostgreSQL, whose head is read first so the position given is one the rows reflect.
    @Sendable func availability(_ request: Request, context: OmsContext) async throws -> Response {
        _ = try context.authorize(.readStock)
        let query = try AvailabilityQuery(request)
        let minPosition = try request.integer("minPosition", in: 0...Int64.max, default: 0)
        let read: StockRead
        let position: Int64
        if let live = await services.live.availability(skus: query.skus, locationId: query.locationId, minPosition: minPosition) {
            (read, position) = live
        } else {
            position = try await services.events.head(on: services.database)
            guard position >= minPosition else {
                throw Problem(.outOfRange(field: "minPosition", lower: "0", upper: "\(position) (the ledger head)"), inBody: false)
            }
            let rows = try await services.stock.availability(skus: query.skus, locationId: query.locationId, on: services.database)
            read = StockRead(skus: query.skus, rows: rows)
        }
        let summary = AvailabilitySummary(read, near: query.near, radiusKilometres: query.radiusKm)
        var response = JSON.response(buffer: AvailabilityJSON.write(summary, position: position), status: .ok)
        response.headers[.ledgerPosition] = "\(position)"
        return response
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
        // The bound counts the parameters as sent (the document's maxItems), repeats included.
        let given = parameters.getAll("sku")
        var seen = Set<String>()
        skus = given.map { String($0) }.filter { seen.insert($0).inserted }
        guard !skus.isEmpty else { throw Problem(.missingField(field: "sku"), inBody: false) }
        guard given.count <= Limits.availabilitySkusMax else {
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
}
