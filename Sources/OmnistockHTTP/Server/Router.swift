import Hummingbird

/// Builds the router: operations endpoints at the root, the API under `/v1` behind API keys.
///
/// Each resource registers its own short route table; this function only decides where each
/// table sits and which middleware guards it.
public func buildRouter(_ services: EdgeServices) -> Router<OmsContext> {
    let router = Router(context: OmsContext.self)
    // The route table is filled after the routes are added; the middleware reads it lazily.
    let table = RouteTableBox()
    router.add(middleware: EdgeMiddleware(metrics: services.metrics, routes: table))
    // Before every route and before authentication: a request whose form breaks a rule of
    // every route (a body where none is taken, a malformed Idempotency-Key) is refused the
    // same way everywhere, and its body is never read as something else.
    router.add(middleware: InputRulesMiddleware(routes: table))

    OperationsRoutes(services: services).register(on: router)
    WebPageRoutes(page: WebPage.store).register(on: router)
    // The customer's tracking link: no API key, the token in the path is the capability.
    TrackingRoutes(services: services, guessing: TrackingGuard(), page: WebPage.track).register(on: router)
    let v1 = router.group("v1").add(middleware: AuthMiddleware(apiKeys: services.apiKeys, database: services.database))
        .add(middleware: LedgerPositionMiddleware(services: services))
    LocationRoutes(services: services).register(on: v1)
    StockRoutes(services: services).register(on: v1)
    AvailabilityRoutes(services: services).register(on: v1)
    HoldRoutes(services: services).register(on: v1)
    OrderRoutes(services: services).register(on: v1)
    OrderStepRoutes(services: services).register(on: v1)
    TrackingRevocationRoutes(services: services).register(on: v1)
    SourcingRoutes(services: services).register(on: v1)
    TransferRoutes(services: services).register(on: v1)
    EventRoutes(services: services).register(on: v1)
    EventStreamRoutes(services: services).register(on: v1)
    ApiKeyRoutes(services: services).register(on: v1)
    WebhookRoutes(services: services).register(on: v1)
    KPIRoutes(services: services).register(on: v1)

    table.set(routeTable(of: router))
    return router
}
