import Hummingbird

/// The method and path template of every route, to answer 405 with `Allow` and to check the
/// OpenAPI document against the router.
public struct RouteTable: Sendable {
    public struct Route: Sendable, Hashable {
        public var method: String
        /// The template with `{name}` placeholders, as OpenAPI writes it.
        public var path: String
    }

    public var routes: [Route]

    /// The methods routed for a concrete path (empty when no template matches it).
    func methods(forPath path: String) -> [String] {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        return routes.filter { route in
            let template = route.path.split(separator: "/", omittingEmptySubsequences: true)
            guard template.count == segments.count else { return false }
            return zip(template, segments).allSatisfy { $0.hasPrefix("{") || $0 == $1 }
        }.map(\.method).sorted()
    }
}

/// The router's routes as method and `{name}` template pairs.
public func routeTable(of router: Router<OmsContext>) -> RouteTable {
    RouteTable(
        routes: router.routes.map { route in
            RouteTable.Route(method: route.method.rawValue, path: route.path.description)
        })
}

/// The route table, set once after the router is built.
final class RouteTableBox: Sendable {
    private let storage = LockedValue(RouteTable(routes: []))
    func set(_ table: RouteTable) { storage.withLock { $0 = table } }
    func methods(forPath path: String) -> [String] { storage.withLock { $0 }.methods(forPath: path) }
}
