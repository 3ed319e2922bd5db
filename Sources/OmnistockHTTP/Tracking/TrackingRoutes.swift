import Foundation
import HTTPTypes
import Hummingbird
import OmnistockCore
import OmnistockStore

/// The customer's tracking link: `GET /v1/track/{token}` (the order as JSON), its live stream
/// `GET /v1/track/{token}/stream`, and the page `GET /track/{token}` that shows them. None
/// takes an API key: the token is the capability. The retailer revokes an order's links with
/// `POST /v1/orders/{orderId}/tracking/revoke` (`TrackingRevocationRoutes`).
struct TrackingRoutes {
    let services: EdgeServices
    let guessing: TrackingGuard
    let page: Result<WebPage, any Error>

    func register(on router: Router<OmsContext>) {
        router
            .get("v1/track/{token}", use: self.get)
            .get("v1/track/{token}/stream", use: self.stream)
            .get("track/{token}", use: self.index)
            .get("track/files/{file}", use: self.file)
    }

    /// `GET /v1/track/{token}`.
    @Sendable func get(_ request: Request, context: OmsContext) async throws -> Response {
        let (tracking, pickup) = try await open(request, context: context)
        var response = JSON.response(bytes: try TrackingView.render(tracking, pickupLocation: pickup, promiseSeconds: services.pickupPromiseSeconds), status: .ok)
        response.headers[.cacheControl] = "no-store"
        response.headers[.referrerPolicy] = "no-referrer"
        return response
    }

    /// `GET /v1/track/{token}/stream`: the order now, then again after every change, from the
    /// ledger tail.
    @Sendable func stream(_ request: Request, context: OmsContext) async throws -> Response {
        let (tracking, pickup) = try await open(request, context: context)
        let orderId = tracking.order.id
        let ticket = try services.streams.open(kind: .tracking, keyId: "track:\(orderId)")
        let stream = Order.stream(orderId)
        let subscription: TailSubscription
        do {
            subscription = try services.tail.subscribe(wanting: { $0.stream == stream })
        } catch {
            ticket.release()
            throw Problem.tooManyStreams(perInstance: Limits.tailSubscribersMax)
        }
        let feed = TrackingFeed(services: services, orderId: orderId, pickup: pickup, subscription: subscription)
        return streamResponse(registry: services.streams, ticket: ticket, logger: context.logger, inbound: request.body) { sink in
            try await feed.run(into: sink)
        }
    }

    /// `GET /track/{token}`: the page; it reads the token from its own address and asks the API.
    @Sendable func index(_ request: Request, context: OmsContext) async throws -> Response {
        try page.get().index(request)
    }

    /// `GET /track/files/{file}`: one of the page's files (404 for any other name).
    @Sendable func file(_ request: Request, context: OmsContext) async throws -> Response {
        try page.get().file(context.parameters.get("file") ?? "", request: request, what: "The tracking page")
    }

    /// The order a request's token opens, with its pickup store; 404 for a token that opens
    /// nothing (unknown, revoked, or expired after its order ended), 429 for an address that
    /// guessed too often.
    private func open(_ request: Request, context: OmsContext) async throws -> (OrderTracking, Location?) {
        let address = context.clientAddress ?? "unknown"
        let nowMs = Int64(Date().timeIntervalSince1970 * 1_000)
        if let wait = guessing.refusal(for: address, nowMs: nowMs) {
            services.metrics.trackingRefused(.rateLimited)
            throw Problem.tooManyTrackingGuesses(retryAfterSeconds: wait)
        }
        let token = context.parameters.get("token") ?? ""
        guard let orderId = try await services.orders.trackedOrderId(token: token),
            let tracking = try await services.orders.tracking(orderId: orderId),
            tracking.isValid(atMs: nowMs, validAfterEndSeconds: services.trackingValidAfterEndSeconds)
        else {
            guessing.missed(address, nowMs: nowMs)
            services.metrics.trackingRefused(.unknown)
            throw Problem.notFound("This tracking link opens no order: it may have been mistyped, replaced by a newer one, or have expired.")
        }
        var pickup: Location?
        if let id = tracking.order.pickupLocationId {
            pickup = try await services.locations.get(id: id, on: services.database)?.location
        }
        return (tracking, pickup)
    }
}

/// `POST /v1/orders/{orderId}/tracking/revoke`: every tracking link of the order stops working
/// and a new one is given, this once (a replay of its Idempotency-Key does not show it again:
/// only its hash is kept).
struct TrackingRevocationRoutes {
    let services: EdgeServices

    func register(on group: RouterGroup<OmsContext>) {
        group.post("orders/{orderId}/tracking/revoke", use: self.revoke)
    }

    @Sendable func revoke(_ request: Request, context: OmsContext) async throws -> Response {
        let id = try request.identifier("orderId", context: context)
        let principal = try context.authorize(.createOrders)
        try await JSON.expectNoBody(request, context: context)
        return try await services.idempotent(request, context: context, principal: principal, body: { Data() }) { transaction in
            guard let token = try await services.orders.reissueTracking(orderId: id, principal: principal, in: transaction) else {
                throw Problem(Rejection.unknownOrder(orderId: id), inBody: false)
            }
            return (
                StoredResponse(status: 200, body: Array(try JSON.encoder.encode(TrackingLinkView(trackingUrl: TrackingLinkView.url(token))))),
                StoredResponse(status: 200, body: Array(try JSON.encoder.encode(TrackingLinkView(trackingUrl: nil))))
            )
        }
    }
}

/// One customer's live view of one order: the tracking read after the tail subscription
/// started (so nothing falls between), then every event of the order folded in and the view
/// sent again.
struct TrackingFeed: Sendable {
    let services: EdgeServices
    let orderId: String
    let pickup: Location?
    let subscription: TailSubscription
    var slowGrace: Duration = .seconds(Limits.streamQueueFullSecondsMax)

    func run(into sink: StreamSink) async throws {
        defer { subscription.cancel() }
        var items = subscription.makeAsyncIterator()
        guard case .started? = await items.next() else {
            sink.end("disconnected: the ledger tail is not running; reconnect", cause: .tail)
            return
        }
        guard var tracking = try await services.orders.tracking(orderId: orderId) else {
            sink.end("disconnected: the order has no events", cause: .tail)
            return
        }
        if !sink.send(try message(tracking)) { return }
        while let item = await items.next() {
            switch item {
            case .started:
                continue
            case .events(let page):
                // One message per change, even when a slow tail hands several of the order's
                // events over in one page (seen in CI: picking, ready and collected in one page
                // became one message, and the customer's timeline skipped two steps live).
                for event in page where event.position > tracking.position {
                    guard case .order(let recorded) = try event.decoded ?? EventCodec.decode(type: event.type, payload: event.payload),
                        recorded.order.id == orderId
                    else { continue }
                    tracking.apply(recorded, position: event.position)
                    if await !sink.send(try message(tracking), waitingUpTo: slowGrace) { return }
                }
            case .dropped(let reason):
                let cause: StreamDisconnect = reason == "the instance is shutting down" ? .shutdown : .tail
                sink.end("disconnected: \(reason); reconnect", cause: cause)
                return
            }
        }
    }

    private func message(_ tracking: OrderTracking) throws -> SSEMessage {
        SSEMessage(
            id: "\(tracking.position)", event: "order",
            data: try TrackingView.render(tracking, pickupLocation: pickup, promiseSeconds: services.pickupPromiseSeconds))
    }
}

extension TrackingLinkView {
    /// The page's path for a token (relative: the retailer's own origin serves it).
    static func url(_ token: String) -> String { "/track/\(token)" }
}

extension Problem {
    static func tooManyTrackingGuesses(retryAfterSeconds: Int64) -> Problem {
        var problem = Problem(
            status: .tooManyRequests, kind: "too-many-guesses", title: "Too many unknown tracking links",
            detail: "This address asked for too many tracking links that open nothing; retry after the Retry-After delay.")
        problem.headers[.retryAfter] = "\(retryAfterSeconds)"
        return problem
    }
}
