import Foundation
import HTTPTypes
import Hummingbird
import OmnistockCore
import OmnistockStore

/// Orders, store work, returns, the sourcing preview and transfers over HTTP. Every write is
/// one transaction (with its Idempotency-Key claimed in it); the order store locks and decides.
struct OrderRoutes {
    let services: EdgeServices

    func register(on group: RouterGroup<OmsContext>) {
        group.post("orders") { request, context in
            let principal = try context.authorize(.createOrders)
            let body = try await JSON.decode(OrderBody.self, from: request, context: context)
            let orderRequest = try body.value.request()
            let metadata = services.metadata(principal, context: context, request: request)
            if orderRequest.holdId != nil {
                // Payment turned a hold into an order: the step writer converts many per transaction.
                let faults = Orders.validate(orderRequest)
                if !faults.isEmpty { throw Rejections(faults) }
                let requestId = context.requestId
                let outcome = try await services.orderSteps.submit(
                    .convert(orderRequest), principal: principal, metadata: metadata,
                    idempotency: try services.idempotencyRequest(request, principal: principal, body: body.canonical),
                    render: { outcome in Self.stored(outcome, requestId: requestId) })
                return Self.respond(outcome, requestId: requestId)
            }
            return try await services.idempotent(request, context: context, principal: principal, body: body.canonical) { transaction in
                let creation = try await services.orders.create(orderRequest, principal: principal, metadata: metadata, in: transaction)
                let status = creation.created ? 201 : 200
                let stored = StoredResponse(status: status, body: try OrderView.render(creation.record, pickupCode: nil))
                return (StoredResponse(status: status, body: try OrderView.render(creation.record, pickupCode: creation.pickupCode)), stored)
            }
        }
        group.get("orders") { request, context in
            guard let locationId = request.uri.queryParameters.get("locationId").map({ String($0) }) else {
                throw Problem(.missingField(field: "locationId"), inBody: false)
            }
            if let fault = Identifier.check(locationId, field: "locationId") { throw Problem(fault, inBody: false) }
            _ = try context.authorize(.workOrders, locations: [locationId])
            var statuses: [OrderStatus] = []
            for text in request.uri.queryParameters.getAll("status") {
                guard let status = OrderStatus(rawValue: String(text)) else {
                    throw Problem(
                        .outOfRange(field: "status", lower: "one of", upper: OrderStatus.allCases.map(\.rawValue).joined(separator: ", ")),
                        inBody: false)
                }
                if !statuses.contains(status) { statuses.append(status) }
            }
            let limit = try request.pageSize()
            var after: (createdAtMs: Int64, id: String)?
            if let cursor = request.uri.queryParameters.get("after") {
                guard let parsed = QueueCursor.parse(String(cursor)) else { throw Problem(.invalidCursor(field: "after"), inBody: false) }
                after = parsed
            }
            let records = try await services.orders.queue(
                locationId: locationId, statuses: statuses.isEmpty ? OrderStatus.open : statuses, after: after, limit: limit + 1)
            let page = Array(records.prefix(limit))
            let next = records.count > limit ? page.last.map { QueueCursor.make($0.order.createdAtMs, $0.order.id) } : nil
            return try JSON.response(OrderPageView(orders: page.map { OrderView($0, pickupCode: nil) }, next: next))
        }
        group.get("orders/{orderId}") { request, context in
            let id = try request.identifier("orderId", context: context)
            let principal = try context.authorize(.readOrders)
            guard let record = try await services.orders.order(id: id) else {
                throw Problem(Rejection.unknownOrder(orderId: id), inBody: false)
            }
            try services.orders.authorizeRead(principal, record.order)
            return try JSON.response(OrderView(record, pickupCode: nil))
        }
        step("picking") { _, _ in (.picking, Data()) }
        step("ready") { _, _ in (.ready, Data()) }
        step("unlock") { _, _ in (.unlock, Data()) }
        step("collect") { request, context in
            let body = try await JSON.decode(CollectBody.self, from: request, context: context)
            return (.collect(pickupCode: body.value.pickupCode), try body.canonical())
        }
        step("ship") { request, context in
            let body = try await JSON.decode(ShipBody.self, from: request, context: context)
            return (.ship(lineIds: body.value.lines, carrier: body.value.carrier, tracking: body.value.tracking), try body.canonical())
        }
        step("cancel") { request, context in
            guard request.headers[.contentType] != nil else { return (.cancel(reason: nil), Data()) }
            let body = try await JSON.decode(CancelBody.self, from: request, context: context)
            return (.cancel(reason: body.value.reason), try body.canonical())
        }
        step("returns") { request, context in
            let body = try await JSON.decode(ReturnBody.self, from: request, context: context)
            return (
                .returned(
                    locationId: body.value.locationId,
                    lines: body.value.lines.map { ReturnLine(sku: $0.sku, quantity: $0.quantity, restock: $0.restock) }),
                try body.canonical()
            )
        }
        register(group, path: "orders/{orderId}/lines/{lineId}/not-found") { request, context in
            (.notFound(lineId: try request.identifier("lineId", context: context)), Data())
        }

        group.post("sourcing/plan") { request, context in
            _ = try context.authorize(.planSourcing)
            let body = try await JSON.decode(PlanBody.self, from: request, context: context)
            let fulfilment: Fulfilment
            switch (body.value.destination, body.value.fulfilment) {
            case (let destination?, nil): fulfilment = .ship(latitude: destination.latitude, longitude: destination.longitude)
            case (nil, let given?): fulfilment = try given.fulfilment()
            case (nil, nil): throw Problem(Rejections(.missingField(field: "destination")))
            case (.some, .some): throw Problem(Rejections(.notAllowed(field: "fulfilment", reason: "name a destination or a fulfilment, not both")))
            }
            let lines = body.value.lines.map { RequestedLine(sku: $0.sku, quantity: $0.quantity) }
            let outcome = try await services.orders.plan(lines: lines, fulfilment: fulfilment)
            return try JSON.response(PlanView(outcome))
        }

        group.post("transfers") { request, context in
            let principal = try context.authorize(.transferStock)
            let body = try await JSON.decode(TransferBody.self, from: request, context: context)
            let transferRequest = TransferRequest(
                fromLocationId: body.value.fromLocationId, toLocationId: body.value.toLocationId,
                lines: body.value.lines.map { TransferLine(sku: $0.sku, quantity: $0.quantity) }, reference: body.value.reference)
            let metadata = services.metadata(principal, context: context, request: request)
            return try await services.idempotent(request, context: context, principal: principal, body: body.canonical) { transaction in
                let record = try await services.orders.dispatch(transferRequest, principal: principal, metadata: metadata, in: transaction)
                let answer = StoredResponse(status: 201, body: Array(try JSON.encoder.encode(TransferView(record))))
                return (answer, answer)
            }
        }
        group.get("transfers/{transferId}") { request, context in
            let id = try request.identifier("transferId", context: context)
            let principal = try context.authorize(.transferStock)
            guard let record = try await services.orders.transfer(id: id) else {
                throw Problem(Rejection.unknownTransfer(transferId: id), inBody: false)
            }
            let ends = [record.transfer.toLocationId, record.transfer.fromLocationId]
            if let refusal = Access.authorize(principal, .transferStock, anyOf: ends) { throw Problem(refusal, inBody: false) }
            return try JSON.response(TransferView(record))
        }
        group.post("transfers/{transferId}/receive") { request, context in
            let id = try request.identifier("transferId", context: context)
            let principal = try context.authorize(.transferStock)
            let body = try await JSON.decode(ReceiveBody.self, from: request, context: context)
            let metadata = services.metadata(principal, context: context, request: request)
            return try await services.idempotent(request, context: context, principal: principal, body: body.canonical) { transaction in
                let record = try await services.orders.receive(
                    transferId: id, lines: body.value.lines.map { ($0.sku, $0.quantity) }, principal: principal, metadata: metadata,
                    in: transaction)
                let answer = StoredResponse(status: 200, body: Array(try JSON.encoder.encode(TransferView(record))))
                return (answer, answer)
            }
        }

        func step(_ name: String, _ command: @escaping @Sendable (Request, OmsContext) async throws -> (OrderCommand, Data)) {
            register(group, path: "orders/{orderId}/\(name)", command)
        }
    }

    /// A store-work step: the command is read from the request, run once per Idempotency-Key,
    /// and answered with the order. A refusal decided with events (a wrong pickup code, which is
    /// counted) is answered after they are committed, and stored for replays like any answer.
    private func register(
        _ group: RouterGroup<OmsContext>, path: String, _ command: @escaping @Sendable (Request, OmsContext) async throws -> (OrderCommand, Data)
    ) {
        group.post(RouterPath(stringLiteral: path)) { request, context in
            let id = try request.identifier("orderId", context: context)
            let principal = try context.caller()
            let (asked, canonical) = try await command(request, context)
            let metadata = services.metadata(principal, context: context, request: request)
            let requestId = context.requestId
            if OrderStepWriter.takes(asked) {
                // The everyday steps go through the instance's step writer (many per transaction).
                let outcome = try await services.orderSteps.submit(
                    .step(asked, orderId: id), principal: principal, metadata: metadata,
                    idempotency: try services.idempotencyRequest(request, principal: principal, body: { canonical }),
                    render: { outcome in Self.stored(outcome, requestId: requestId) })
                return Self.respond(outcome, requestId: requestId)
            }
            return try await services.idempotent(request, context: context, principal: principal, body: { canonical }) { transaction in
                let record = try await services.orders.act(asked, orderId: id, principal: principal, metadata: metadata, in: transaction)
                let answer = StoredResponse(status: 200, body: try OrderView.render(record, pickupCode: nil))
                return (answer, answer)
            }
        }
    }
}

extension OrderRoutes {
    /// The answer stored for a step writer's request: the order (a conversion's without its
    /// pickup code), or the refusal committed with the step's events.
    static func stored(_ outcome: OrderStepOutcome, requestId: String) -> StoredResponse {
        switch outcome {
        case .done(_, let refusal?):
            let problem = Problem(refusal)
            return StoredResponse(status: Int(problem.status.code), body: problem.body(requestId: requestId))
        case .done(let record, nil):
            return StoredResponse(status: 200, body: (try? OrderView.render(record, pickupCode: nil)) ?? [])
        case .created(let creation):
            return StoredResponse(status: creation.created ? 201 : 200, body: (try? OrderView.render(creation.record, pickupCode: nil)) ?? [])
        case .replayed(let stored):
            return stored
        }
    }

    /// The live answer: as stored, but a new pickup order shows its code, this once.
    static func respond(_ outcome: OrderStepOutcome, requestId: String) -> Response {
        switch outcome {
        case .created(let creation) where creation.pickupCode != nil:
            return JSON.response(bytes: (try? OrderView.render(creation.record, pickupCode: creation.pickupCode)) ?? [], status: .created)
        case .replayed(let stored):
            var response = EdgeServices.answer(stored)
            response.headers[.idempotentReplayed] = "true"
            return response
        default:
            return EdgeServices.answer(stored(outcome, requestId: requestId))
        }
    }
}

/// The cursor of a store queue: the last order's creation time and id.
enum QueueCursor {
    static func make(_ createdAtMs: Int64, _ id: String) -> String { "\(createdAtMs).\(id)" }

    static func parse(_ text: String) -> (createdAtMs: Int64, id: String)? {
        guard let dot = text.firstIndex(of: "."), let ms = Int64(text[..<dot]) else { return nil }
        let id = String(text[text.index(after: dot)...])
        guard Identifier.isValid(id) else { return nil }
        return (ms, id)
    }
}

// MARK: - Bodies

/// `POST /v1/orders`.
struct OrderBody: Codable, Sendable {
    struct Line: Codable, Sendable {
        var sku: String
        var quantity: Int64
        var locationId: String?
    }
    var orderNumber: String
    var holdId: String?
    var lines: [Line]?
    var fulfilment: HoldBody.FulfilmentBody?
    var reference: String?

    func request() throws -> OrderRequest {
        OrderRequest(
            orderNumber: orderNumber, holdId: holdId, lines: (lines ?? []).map { RequestedLine(sku: $0.sku, quantity: $0.quantity, locationId: $0.locationId) },
            fulfilment: try fulfilment?.fulfilment(), reference: reference)
    }
}

struct CollectBody: Codable, Sendable {
    var pickupCode: String
}

struct ShipBody: Codable, Sendable {
    var carrier: String
    var tracking: String
    var lines: [String]?
}

struct CancelBody: Codable, Sendable {
    var reason: String?
}

struct ReturnBody: Codable, Sendable {
    struct Line: Codable, Sendable {
        var sku: String
        var quantity: Int64
        var restock: Bool
    }
    var locationId: String
    var lines: [Line]
}

/// A line of a sourcing preview, a transfer or a receipt.
struct SkuQuantity: Codable, Sendable {
    var sku: String
    var quantity: Int64
}

struct PlanBody: Codable, Sendable {
    struct Point: Codable, Sendable {
        var latitude: Double
        var longitude: Double
    }
    var lines: [SkuQuantity]
    var destination: Point?
    var fulfilment: HoldBody.FulfilmentBody?
}

struct TransferBody: Codable, Sendable {
    var fromLocationId: String
    var toLocationId: String
    var lines: [SkuQuantity]
    var reference: String?
}

struct ReceiveBody: Codable, Sendable {
    var lines: [SkuQuantity]
}

// MARK: - Views

struct OrderView: Encodable {
    struct Line: Encodable {
        var id: String
        var sku: String
        var quantity: Int64
        var locationId: String
        var status: String
        var transferId: String?
        var replaces: String?
        var returned: Int64
        var damaged: Int64
        var reason: String?
    }
    struct ShipmentView: Encodable {
        var carrier: String
        var tracking: String
        var lines: [String]
        var shippedAt: String
    }
    struct ReturnView: Encodable {
        var locationId: String
        var lines: [ReturnLine]
        var returnedAt: String
    }
    var id: String
    var orderNumber: String
    var status: String
    var holdId: String?
    var reference: String?
    var fulfilment: Fulfilment
    var lines: [Line]
    var pickupCode: String?
    var wrongPickupCodes: Int
    var pickupLocked: Bool
    var createdAt: String
    var updatedAt: String
    var readyAt: String?
    var pickupExpiresAt: String?
    var endedAt: String?
    var shipments: [ShipmentView]
    var returns: [ReturnView]
    var cancelReason: String?
    var version: Int64

    init(_ record: OrderRecord, pickupCode: String?) {
        let order = record.order
        id = order.id
        orderNumber = order.orderNumber
        status = order.status.rawValue
        holdId = order.holdId
        reference = order.reference
        fulfilment = order.fulfilment
        lines = order.lines.map {
            Line(
                id: $0.id, sku: $0.sku, quantity: $0.quantity, locationId: $0.locationId, status: $0.status.rawValue, transferId: $0.transferId,
                replaces: $0.replaces, returned: $0.returned, damaged: $0.damaged, reason: $0.reason)
        }
        self.pickupCode = pickupCode
        wrongPickupCodes = order.wrongPickupCodes
        pickupLocked = order.pickupLocked
        createdAt = Timestamp.iso(order.createdAtMs)
        updatedAt = Timestamp.iso(order.updatedAtMs)
        readyAt = order.readyAtMs.map(Timestamp.iso)
        pickupExpiresAt = order.pickupExpiresAtMs.map(Timestamp.iso)
        endedAt = order.endedAtMs.map(Timestamp.iso)
        shipments = order.shipments.map {
            ShipmentView(carrier: $0.carrier, tracking: $0.tracking, lines: $0.lines, shippedAt: Timestamp.iso($0.shippedAtMs))
        }
        returns = order.returns.map { ReturnView(locationId: $0.locationId, lines: $0.lines, returnedAt: Timestamp.iso($0.returnedAtMs)) }
        cancelReason = order.cancelReason
        version = record.version
    }

    static func render(_ record: OrderRecord, pickupCode: String?) throws -> [UInt8] {
        Array(try JSON.encoder.encode(OrderView(record, pickupCode: pickupCode)))
    }
}

struct OrderPageView: Encodable {
    var orders: [OrderView]
    var next: String?

    func encode(to encoder: any Encoder) throws {
        enum Keys: String, CodingKey { case orders, next }
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(orders, forKey: .orders)
        // `next` is always present: null on the last page.
        try container.encode(next, forKey: .next)
    }
}

struct TransferView: Encodable {
    var id: String
    var status: String
    var fromLocationId: String
    var toLocationId: String
    var orderId: String?
    var reference: String?
    var lines: [TransferLine]
    var dispatchedAt: String
    var receivedAt: String?
    var version: Int64

    init(_ record: TransferRecord) {
        let transfer = record.transfer
        id = transfer.id
        status = transfer.status.rawValue
        fromLocationId = transfer.fromLocationId
        toLocationId = transfer.toLocationId
        orderId = transfer.orderId
        reference = transfer.reference
        lines = transfer.lines
        dispatchedAt = Timestamp.iso(transfer.dispatchedAtMs)
        receivedAt = transfer.receivedAtMs.map(Timestamp.iso)
        version = record.version
    }
}

struct PlanView: Encodable {
    struct Assignment: Encodable {
        var line: Int
        var sku: String
        var quantity: Int64
        var locationId: String
        var viaTransfer: Bool
        var distanceKilometres: Double?
    }
    struct Reason: Encodable {
        var code: String
        var sku: String?
    }
    struct Candidate: Encodable {
        var locationId: String
        var distanceKilometres: Double?
        var chosen: Bool
        var reasons: [Reason]
    }
    var feasible: Bool
    var locations: [String]
    var assignments: [Assignment]
    var unfilled: [UnfilledLine]
    var candidates: [Candidate]

    init(_ outcome: SourcingOutcome) {
        let distances = Dictionary(outcome.candidates.map { ($0.locationId, $0.distanceKilometres) }, uniquingKeysWith: { first, _ in first })
        feasible = outcome.unfilled.isEmpty
        locations = outcome.locations
        assignments = outcome.lines.map {
            Assignment(
                line: $0.line, sku: $0.sku, quantity: $0.quantity, locationId: $0.locationId, viaTransfer: $0.viaTransfer,
                distanceKilometres: (distances[$0.locationId] ?? nil).map(Self.rounded))
        }
        unfilled = outcome.unfilled
        candidates = outcome.candidates.map {
            Candidate(
                locationId: $0.locationId, distanceKilometres: $0.distanceKilometres.map(Self.rounded), chosen: $0.chosen,
                reasons: $0.reasons.map { Reason(code: $0.reason.rawValue, sku: $0.sku) })
        }
    }

    /// Distances to the metre: more digits would only be noise.
    static func rounded(_ kilometres: Double) -> Double { (kilometres * 1000).rounded() / 1000 }
}
