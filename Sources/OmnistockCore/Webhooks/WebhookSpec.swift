/// What a new subscription asks for, validated against the caller's key.
///
/// An integration key bound to locations subscribes within them: naming another is refused,
/// and naming none gives its own. An admin (or an unbound integration) may name any, or none
/// for every location.
public struct WebhookSpec: Equatable, Sendable {
    public let url: String
    public let eventTypes: [String]?
    public let locationIds: [String]?
    public let description: String?

    public var filter: WebhookFilter {
        WebhookFilter(eventTypes: eventTypes, locationIds: locationIds)
    }

    /// Validates everything but the URL's parts and resolution (`WebhookTarget`), which the edge
    /// checks with its URL parser and resolver.
    public static func validate(
        url: String, eventTypes: [String]?, locationIds: [String]?, description: String?, by principal: Principal
    ) -> Result<WebhookSpec, Rejections> {
        var faults: [Rejection] = []
        faults += checkTypes(eventTypes)
        faults += checkLocations(locationIds)
        if let description, let fault = Text.check(description, field: "description", lengthMax: Limits.webhookDescriptionLengthMax) {
            faults.append(fault)
        }
        var locations = locationIds.map { Array(Set($0)).sorted() }
        if case .only(let own) = principal.scope {
            if let named = locations {
                for id in named where !own.contains(id) { faults.append(.locationForbidden(locationId: id)) }
            } else {
                locations = own.sorted()
            }
        }
        if !faults.isEmpty { return .failure(Rejections(faults)) }
        return .success(WebhookSpec(
            url: url, eventTypes: eventTypes.map { Array(Set($0)).sorted() }, locationIds: locations, description: description))
    }

    static func checkTypes(_ eventTypes: [String]?) -> [Rejection] {
        guard let eventTypes else { return [] }
        var faults: [Rejection] = []
        if eventTypes.isEmpty { faults.append(.notAllowed(field: "eventTypes", reason: "leave it out for every type")) }
        if eventTypes.count > Limits.webhookEventTypesMax { faults.append(.tooMany(field: "eventTypes", countMax: Limits.webhookEventTypesMax)) }
        var seen = Set<String>()
        for (index, type) in eventTypes.prefix(Limits.webhookEventTypesMax).enumerated() {
            if !LedgerEvent.knownTypes.contains(type) { faults.append(.unknownEventType(field: "eventTypes/\(index)", type: String(type.prefix(80)))) }
            if !seen.insert(type).inserted { faults.append(.duplicate(field: "eventTypes", value: type)) }
        }
        return faults
    }

    static func checkLocations(_ locationIds: [String]?) -> [Rejection] {
        guard let locationIds else { return [] }
        var faults: [Rejection] = []
        if locationIds.isEmpty { faults.append(.notAllowed(field: "locationIds", reason: "leave it out for every location")) }
        if locationIds.count > Limits.webhookLocationsMax { faults.append(.tooMany(field: "locationIds", countMax: Limits.webhookLocationsMax)) }
        var seen = Set<String>()
        for (index, id) in locationIds.prefix(Limits.webhookLocationsMax).enumerated() {
            if let fault = Identifier.check(id, field: "locationIds/\(index)") { faults.append(fault) }
            if !seen.insert(id).inserted { faults.append(.duplicate(field: "locationIds", value: id)) }
        }
        return faults
    }
}
