/// Who may do what: roles, the operations they ask for, and the one function that decides.
///
/// Rule 7 of the product: checkout cannot adjust stock; store staff act only on their own
/// stores; integrations only on the locations they are bound to. The rule lives here, in the
/// core, so that every entry point (HTTP today, others later) asks the same question.
public enum Role: String, Codable, CaseIterable, Sendable {
    case admin
    case checkout
    case store
    case integration
}

/// The locations an API key may act on.
public enum LocationScope: Equatable, Hashable, Sendable {
    /// Every location, present and future (admin and checkout keys, unbound integrations).
    case all
    /// Only these locations.
    case only(Set<String>)

    public func contains(_ locationId: String) -> Bool {
        switch self {
        case .all: true
        case .only(let ids): ids.contains(locationId)
        }
    }

    /// The bound ids in a stable order, or nil when unbound.
    public var sortedIds: [String]? {
        switch self {
        case .all: nil
        case .only(let ids): ids.sorted()
        }
    }
}

/// The authenticated caller of a request.
public struct Principal: Equatable, Hashable, Sendable {
    public let apiKeyId: String
    public let role: Role
    public let scope: LocationScope

    public init(apiKeyId: String, role: Role, scope: LocationScope) {
        self.apiKeyId = apiKeyId
        self.role = role
        self.scope = scope
    }
}

/// Everything a caller can ask the service to do, named by what it touches.
public enum Operation: String, CaseIterable, Sendable {
    case readLocations
    case defineLocation
    case readEvents
    case manageApiKeys
    case readStock
    case moveStock
    case countStock
    case setSafetyStock
    case holdStock
    case createOrders
    case readOrders
    case workOrders
    case cancelOrders
    case returnOrders
    case planSourcing
    case transferStock
    case manageWebhooks
    case readKPIs

    /// The verb phrase used in refusal messages ("The role 'checkout' may not …").
    public var summary: String {
        switch self {
        case .readLocations: "read locations"
        case .defineLocation: "create or change locations"
        case .readEvents: "read the event feed"
        case .manageApiKeys: "manage API keys"
        case .readStock: "read stock"
        case .moveStock: "record stock movements"
        case .countStock: "record stock counts"
        case .setSafetyStock: "set safety stock"
        case .holdStock: "place, read, extend or release holds"
        case .createOrders: "create orders"
        case .readOrders: "read orders"
        case .workOrders: "pick, prepare, hand over or ship orders"
        case .cancelOrders: "cancel orders"
        case .returnOrders: "take back returned orders"
        case .planSourcing: "preview sourcing plans"
        case .transferStock: "send or receive transfers"
        case .manageWebhooks: "manage webhook subscriptions"
        case .readKPIs: "read KPIs"
        }
    }

    /// The roles allowed to perform this operation at all (location binding is checked apart).
    public var allowedRoles: Set<Role> {
        switch self {
        case .readLocations: [.admin, .checkout, .store, .integration]
        case .defineLocation: [.admin, .integration]
        // Stores follow the feed of their own locations: the store app's queue is live from it.
        case .readEvents: [.admin, .store, .integration]
        case .manageApiKeys: [.admin]
        // Checkout reads availability; it never changes stock (rule 7).
        case .readStock: [.admin, .checkout, .store, .integration]
        case .moveStock, .countStock, .setSafetyStock: [.admin, .store, .integration]
        // Checkouts hold for shoppers; stores hold for customers at their own counters;
        // bound keys only at their locations (checked apart).
        case .holdStock: [.admin, .checkout, .store, .integration]
        // Checkouts create and cancel orders for shoppers and read them back; the work in the
        // store (and returns, and moving stock between locations) belongs to stores and their
        // systems.
        case .createOrders, .readOrders, .cancelOrders, .planSourcing: [.admin, .checkout, .store, .integration]
        case .workOrders, .returnOrders, .transferStock: [.admin, .store, .integration]
        // Integrations subscribe for themselves (their own subscriptions, at their locations).
        case .manageWebhooks: [.admin, .integration]
        // A store steers by its own figures; checkouts have no business reading them.
        case .readKPIs: [.admin, .store, .integration]
        }
    }
}

public enum Access {
    /// Decides whether `principal` may perform `operation` on the given locations.
    ///
    /// Returns nil when allowed. Location bindings are checked for every location named;
    /// an operation that names none (a listing) is filtered by the caller's scope instead.
    public static func authorize(
        _ principal: Principal,
        _ operation: Operation,
        locations: [String] = []
    ) -> Rejection? {
        guard operation.allowedRoles.contains(principal.role) else {
            return .roleForbidden(role: principal.role, operation: operation)
        }
        for locationId in locations where !principal.scope.contains(locationId) {
            return .locationForbidden(locationId: locationId)
        }
        return nil
    }
}

extension Access {
    /// Decides for what stands at several locations (an order, a transfer): allowed when the
    /// caller may act on one of them. A refusal names the first location.
    public static func authorize(_ principal: Principal, _ operation: Operation, anyOf locations: [String]) -> Rejection? {
        if let refusal = authorize(principal, operation) { return refusal }
        if case .all = principal.scope { return nil }
        if locations.contains(where: principal.scope.contains) { return nil }
        return .locationForbidden(locationId: locations.first ?? "")
    }
}

/// What is needed to create an API key, validated against the role's rules.
public struct ApiKeySpec: Equatable, Sendable {
    public let name: String
    public let role: Role
    public let scope: LocationScope

    /// Validates a request for a new key.
    ///
    /// Store keys must name their stores; integration keys may name locations or none (all);
    /// admin and checkout keys act across the estate and may not be bound.
    public static func validate(name: String, role: Role, locations: [String]?) -> Result<ApiKeySpec, Rejections> {
        var faults: [Rejection] = []
        if let fault = Text.check(name, field: "name") { faults.append(fault) }
        var ids = Set<String>()
        for (index, id) in (locations ?? []).enumerated() {
            if let fault = Identifier.check(id, field: "locations/\(index)") { faults.append(fault) }
            if !ids.insert(id).inserted { faults.append(.duplicate(field: "locations", value: id)) }
        }
        if let locations, locations.count > Limits.apiKeyLocationsMax {
            faults.append(.tooMany(field: "locations", countMax: Limits.apiKeyLocationsMax))
        }
        let scope: LocationScope
        switch role {
        case .admin, .checkout:
            if let locations, !locations.isEmpty {
                faults.append(.notAllowed(field: "locations", reason: "\(role.rawValue) keys act on every location"))
            }
            scope = .all
        case .store:
            if (locations ?? []).isEmpty {
                faults.append(.missingField(field: "locations"))
            }
            scope = .only(ids)
        case .integration:
            scope = (locations ?? []).isEmpty ? .all : .only(ids)
        }
        if !faults.isEmpty { return .failure(Rejections(faults)) }
        return .success(ApiKeySpec(name: name, role: role, scope: scope))
    }
}
