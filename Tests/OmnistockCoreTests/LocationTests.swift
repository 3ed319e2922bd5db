import Foundation
import OmnistockCore
import Testing

/// Given/when/then tests of the location stream's decide and evolve.
@Suite struct LocationTests {
    static let rivoli = Location(
        id: "PAR-01", name: "Paris Rivoli", kind: .store, latitude: 48.8606, longitude: 2.3376,
        capabilities: .init(pickup: true, ships: true), dailyCapacity: 200, priority: 1, pickupWindowDays: 7, active: true)

    @Test func definingANewLocationRecordsItsCreation() throws {
        // Given no location; when it is defined; then one event carries the whole definition.
        let events = try LocationStream.decide(current: nil, define: Self.rivoli).get()
        #expect(events == [.locationDefined(LocationDefined(location: Self.rivoli, created: true))])
        #expect(events[0].type == "location.defined")
        #expect(events[0].stream == "location-PAR-01")
        #expect(events[0].locationIds == ["PAR-01"])
    }

    @Test func anIdenticalDefinitionRecordsNothing() throws {
        #expect(try LocationStream.decide(current: Self.rivoli, define: Self.rivoli).get().isEmpty)
    }

    @Test func aChangedDefinitionIsRecordedAsAChange() throws {
        var closed = Self.rivoli
        closed.active = false
        let events = try LocationStream.decide(current: Self.rivoli, define: closed).get()
        #expect(events == [.locationDefined(LocationDefined(location: closed, created: false))])
        #expect(LocationStream.evolve(Self.rivoli, events[0]) == closed)
    }

    @Test func everyFaultOfADefinitionIsNamedAtOnce() {
        var bad = Self.rivoli
        bad.id = "PAR 01"
        bad.name = "  "
        bad.latitude = 91
        bad.longitude = -181
        bad.dailyCapacity = -1
        bad.priority = Limits.priorityMax + 1
        bad.pickupWindowDays = 0
        guard case .failure(let rejections) = LocationStream.decide(current: nil, define: bad) else {
            Issue.record("an invalid location was accepted")
            return
        }
        #expect(rejections.all.map(\.field) == [
            "locationId", "name", "latitude", "longitude", "dailyCapacity", "priority", "pickupWindowDays",
        ])
    }

    @Test func aDefinitionWithoutDailyCapacityHasNoLimitAndRoundTrips() throws {
        // Given a location without a daily capacity; when it is defined and its event encoded
        // and decoded; then it is valid, the payload leaves the field out, and it reads back.
        var depot = Self.rivoli
        depot.dailyCapacity = nil
        #expect(depot.faults().isEmpty)
        let data = try JSONEncoder().encode(LocationDefined(location: depot, created: true))
        #expect(!String(decoding: data, as: UTF8.self).contains("dailyCapacity"))
        #expect(try JSONDecoder().decode(LocationDefined.self, from: data).location == depot)
        let events = try LocationStream.decide(current: Self.rivoli, define: depot).get()
        #expect(events == [.locationDefined(LocationDefined(location: depot, created: false))], "taking the limit away is a change")
    }

    @Test func anEventRecordedBeforeTheCapacityWasOptionalStillMeansItsFigure() throws {
        // Given a `location.defined` payload as recorded before (it always had the field, and
        // no safety stock default); when decoded; then it is the location it was.
        let recorded = #"{"created": true, "location": {"active": true, "capabilities": {"pickup": true, "ships": true}, "dailyCapacity": 200, "id": "PAR-01", "kind": "store", "latitude": 48.8606, "longitude": 2.3376, "name": "Paris Rivoli", "pickupWindowDays": 7, "priority": 1}}"#
        let decoded = try JSONDecoder().decode(LocationDefined.self, from: Data(recorded.utf8))
        #expect(decoded.location == Self.rivoli && decoded.location.dailyCapacity == 200)
    }

    @Test(arguments: [Double.nan, .infinity, -.infinity])
    func nonFiniteCoordinatesAreRefused(_ value: Double) {
        var bad = Self.rivoli
        bad.latitude = value
        #expect(bad.faults() == [.outOfRange(field: "latitude", lower: "-90", upper: "90")])
    }

    @Test func boundsAreInclusive() {
        var edge = Self.rivoli
        edge.latitude = -90
        edge.longitude = 180
        edge.dailyCapacity = 0
        edge.priority = Limits.priorityMin
        edge.pickupWindowDays = Limits.pickupWindowDaysMax
        #expect(edge.faults().isEmpty)
    }
}

@Suite struct IdentifierTests {
    @Test(arguments: ["PAR-01", "a", "WH_1.b:c", String(repeating: "x", count: Limits.identifierLengthMax)])
    func validIdentifiers(_ id: String) {
        #expect(Identifier.isValid(id))
    }

    @Test(arguments: ["", " ", "PAR 01", "é", "a/b", "a?b", "%2F", String(repeating: "x", count: Limits.identifierLengthMax + 1)])
    func invalidIdentifiers(_ id: String) {
        #expect(!Identifier.isValid(id))
        #expect(Identifier.check(id, field: "sku") == .invalidIdentifier(field: "sku"))
    }

    @Test func textMustBeNonBlankBoundedAndFreeOfControls() {
        #expect(Text.check("Paris Opéra", field: "name") == nil)
        #expect(Text.check("", field: "name") != nil)
        #expect(Text.check("a\u{0}b", field: "name") != nil)
        #expect(Text.check(String(repeating: "n", count: Limits.nameLengthMax + 1), field: "name") != nil)
    }

    @Test func rejectionCodesAreDistinct() {
        let samples: [Rejection] = [
            .missingField(field: "f"), .invalidIdentifier(field: "f"), .invalidText(field: "f", lengthMax: 1),
            .outOfRange(field: "f", lower: "0", upper: "1"), .tooMany(field: "f", countMax: 1),
            .duplicate(field: "f", value: "v"), .notAllowed(field: "f", reason: "r"), .invalidCursor(field: "f"),
            .unknownLocation(locationId: "L"), .unknownApiKey(apiKeyId: "k"),
            .roleForbidden(role: .checkout, operation: .manageApiKeys), .locationForbidden(locationId: "L"),
            .idempotencyKeyReused, .concurrentModification(stream: "s"),
        ]
        #expect(Set(samples.map(\.code)).count == samples.count)
        #expect(samples.allSatisfy { !$0.detail.isEmpty })
    }
}
