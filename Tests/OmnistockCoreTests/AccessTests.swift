import OmnistockCore
import Testing

@Suite struct AccessTests {
    static let admin = Principal(apiKeyId: "a", role: .admin, scope: .all)
    static let checkout = Principal(apiKeyId: "c", role: .checkout, scope: .all)
    static let store = Principal(apiKeyId: "s", role: .store, scope: .only(["PAR-01"]))
    static let boundIntegration = Principal(apiKeyId: "i", role: .integration, scope: .only(["WH-01"]))
    static let integration = Principal(apiKeyId: "j", role: .integration, scope: .all)

    /// The whole matrix of roles × operations on a location each key may or may not touch.
    @Test func roleMatrix() {
        let principals = [Self.admin, Self.checkout, Self.store, Self.boundIntegration, Self.integration]
        // Expected outcome per operation, in the order of `principals`, for location PAR-01.
        var expected: [Operation: [Rejection?]] = [
            .readLocations: [nil, nil, nil, nil, nil],
            .defineLocation: [
                nil, .roleForbidden(role: .checkout, operation: .defineLocation),
                .roleForbidden(role: .store, operation: .defineLocation), .locationForbidden(locationId: "PAR-01"), nil,
            ],
            // Stores read the feed of their own locations (the store app's live queue).
            .readEvents: [nil, .roleForbidden(role: .checkout, operation: .readEvents), nil, .locationForbidden(locationId: "PAR-01"), nil],
            .manageApiKeys: [
                nil, .roleForbidden(role: .checkout, operation: .manageApiKeys),
                .roleForbidden(role: .store, operation: .manageApiKeys),
                .roleForbidden(role: .integration, operation: .manageApiKeys),
                .roleForbidden(role: .integration, operation: .manageApiKeys),
            ],
        ]
        // Stock: checkout only reads; store and bound integration keys act on their own locations.
        let writesStock: [Rejection?] = [
            nil, .roleForbidden(role: .checkout, operation: .moveStock), nil, .locationForbidden(locationId: "PAR-01"), nil,
        ]
        expected[.readStock] = [nil, nil, nil, .locationForbidden(locationId: "PAR-01"), nil]
        // Holds: checkout everywhere; store and bound integration keys at their own locations.
        expected[.holdStock] = [nil, nil, nil, .locationForbidden(locationId: "PAR-01"), nil]
        for operation in [Operation.moveStock, .countStock, .setSafetyStock] {
            expected[operation] = writesStock.map { (fault: Rejection?) -> Rejection? in
                if case .roleForbidden(let role, _)? = fault { return Rejection.roleForbidden(role: role, operation: operation) }
                return fault
            }
        }
        // Orders: checkout creates, reads and cancels orders and previews sourcing everywhere;
        // store work, returns and transfers belong to stores and integrations at their locations.
        for operation in [Operation.createOrders, .readOrders, .cancelOrders, .planSourcing] {
            expected[operation] = [nil, nil, nil, .locationForbidden(locationId: "PAR-01"), nil]
        }
        for operation in [Operation.workOrders, .returnOrders, .transferStock] {
            expected[operation] = [
                nil, .roleForbidden(role: .checkout, operation: operation), nil, .locationForbidden(locationId: "PAR-01"), nil,
            ]
        }
        // Webhooks: admins and integrations (their own, within their locations: WebhookTests).
        expected[.manageWebhooks] = [
            nil, .roleForbidden(role: .checkout, operation: .manageWebhooks), .roleForbidden(role: .store, operation: .manageWebhooks),
            .locationForbidden(locationId: "PAR-01"), nil,
        ]
        // KPIs: admins; store and integration keys for their own locations.
        expected[.readKPIs] = [nil, .roleForbidden(role: .checkout, operation: .readKPIs), nil, .locationForbidden(locationId: "PAR-01"), nil]
        #expect(Set(expected.keys) == Set(Operation.allCases))
        for (operation, outcomes) in expected {
            for (principal, outcome) in zip(principals, outcomes) {
                let locations = operation == .readLocations ? [] : ["PAR-01"]
                #expect(
                    Access.authorize(principal, operation, locations: locations) == outcome,
                    "\(principal.role) \(principal.scope) \(operation)")
            }
        }
    }

    @Test func aStoreKeyActsOnlyOnItsStores() {
        let store = Principal(apiKeyId: "s", role: .store, scope: .only(["PAR-01", "PAR-02"]))
        #expect(Access.authorize(store, .readLocations, locations: ["PAR-02"]) == nil)
        #expect(Access.authorize(store, .readLocations, locations: ["PAR-01", "PAR-03"]) == .locationForbidden(locationId: "PAR-03"))
    }

    @Test func keySpecsFollowTheRoleRules() throws {
        #expect(try ApiKeySpec.validate(name: "tablet", role: .store, locations: ["PAR-01"]).get().scope == .only(["PAR-01"]))
        #expect(try ApiKeySpec.validate(name: "erp", role: .integration, locations: nil).get().scope == .all)
        #expect(try ApiKeySpec.validate(name: "erp", role: .integration, locations: []).get().scope == .all)
        #expect(ApiKeySpec.validate(name: "tablet", role: .store, locations: nil) == .failure(Rejections(.missingField(field: "locations"))))
        #expect(
            ApiKeySpec.validate(name: "web", role: .checkout, locations: ["PAR-01"])
                == .failure(Rejections(.notAllowed(field: "locations", reason: "checkout keys act on every location"))))
        #expect(
            ApiKeySpec.validate(name: "", role: .store, locations: ["A", "A", "b c"])
                == .failure(Rejections([
                    .invalidText(field: "name", lengthMax: Limits.nameLengthMax), .duplicate(field: "locations", value: "A"),
                    .invalidIdentifier(field: "locations/2"),
                ])))
    }
}

@Suite struct AnyOfAccessTests {
    @Test func whatStandsAtSeveralLocationsNeedsOneOfThem() {
        let store = Principal(apiKeyId: "s", role: .store, scope: .only(["PAR-02"]))
        #expect(Access.authorize(store, .readOrders, anyOf: ["PAR-01", "PAR-02"]) == nil)
        #expect(Access.authorize(store, .readOrders, anyOf: ["PAR-01", "PAR-03"]) == .locationForbidden(locationId: "PAR-01"))
        #expect(Access.authorize(store, .transferStock, anyOf: []) == .locationForbidden(locationId: ""))
        let checkout = Principal(apiKeyId: "c", role: .checkout, scope: .all)
        #expect(Access.authorize(checkout, .readOrders, anyOf: ["PAR-01"]) == nil)
        #expect(Access.authorize(checkout, .transferStock, anyOf: ["PAR-01"]) == .roleForbidden(role: .checkout, operation: .transferStock))
    }
}
