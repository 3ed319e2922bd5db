import Foundation
import HTTPTypes
import OmnistockCore
@testable import OmnistockHTTP
import OmnistockStore
import Prometheus
import Testing

/// `GET /v1/kpis` over a small history made through the API: each figure with its counts, the
/// projection equal to a replay, the roles and the period's rules.
@Suite struct KPIRouteTests {
    /// The period of the current hour and the next (every event of a test falls in it).
    static func period(granularity: String? = nil, locations: [String] = []) -> String {
        let style = Date.ISO8601FormatStyle()
        let from = Date().addingTimeInterval(-3_600).formatted(style)
        let to = Date().addingTimeInterval(3_600).formatted(style)
        let named = locations.map { "&locationId=\($0)" }.joined()
        return "/v1/kpis?from=\(from)&to=\(to)\(named)" + (granularity.map { "&granularity=\($0)" } ?? "")
    }

    static func ratio(_ json: [String: Any], _ name: String) -> (Int?, Int?) {
        let figure = json[name] as? [String: Any]
        return (figure?["numerator"] as? Int, figure?["denominator"] as? Int)
    }

    /// A history: a pickup collected, a pickup whose only line is found nowhere (cancelled for
    /// stock), a parcel from two locations, a hold converted and one released.
    static func history(_ h: Harness) async throws {
        _ = try await h.receive("JACKET-M", "PAR-01", 3)
        _ = try await h.receive("BOOT-42", "PAR-01", 1)
        _ = try await h.receive("SCARF", "PAR-01", 1)
        _ = try await h.receive("SCARF", "PAR-02", 1)
        let collected = try await h.pickupOrder("WEB-9001", "JACKET-M")
        for step in ["picking", "ready"] { #expect(try await h.step(collected.id, step).status == .ok) }
        #expect(try await h.step(collected.id, "collect", #"{"pickupCode": "\#(collected.code)"}"#).status == .ok)
        let lost = try await h.pickupOrder("WEB-9002", "BOOT-42")
        let notFound = try await h.step(lost.id, "lines/1/not-found")
        #expect(notFound.json["status"] as? String == "cancelled", "\(notFound.text)")
        _ = try await h.shipOrder("WEB-9003", "SCARF", 2)
        let converted = try await h.hold(#"{"lines": [{"sku": "JACKET-M", "quantity": 1, "locationId": "PAR-01"}]}"#)
        let holdId = try #require(converted.json["id"] as? String)
        #expect(try await h.order(#"{"holdId": "\#(holdId)", "orderNumber": "WEB-9004", "fulfilment": {"type": "pickup", "locationId": "PAR-01"}}"#).status == .created)
        let released = try await h.hold(#"{"lines": [{"sku": "JACKET-M", "quantity": 1, "locationId": "PAR-01"}]}"#)
        let releasedId = try #require(released.json["id"] as? String)
        #expect(try await h.call(.delete, "/v1/holds/\(releasedId)", key: h.keys.checkout).status == .ok)
    }

    @Test func eachFigureCountsItsEventsWithItsNumeratorAndDenominator() async throws {
        try await Harness.run { h in
            try await Self.history(h)
            let reply = try await h.call(.get, Self.period(), key: h.keys.admin)
            #expect(reply.status == .ok, "\(reply.text)")
            let json = reply.json
            // Four orders: three pickups (one through a hold), one parcel split over two stores.
            #expect(Self.ratio(json, "clickAndCollectShare") == (3, 4))
            #expect(Self.ratio(json, "splitShipmentRate") == (1, 4))
            // One line not found, and its order cancelled for stock.
            #expect(Self.ratio(json, "orderErrorRate") == (2, 4))
            let errors = json["orderErrorRate"] as? [String: Any]
            #expect(errors?["linesNotFound"] as? Int == 1 && errors?["ordersCancelledForStock"] as? Int == 1)
            let ready = json["orderToReady"] as? [String: Any]
            #expect(ready?["orders"] as? Int == 1 && ready?["medianSeconds"] as? Int == 30, "ready within its first minute: \(ready ?? [:])")
            #expect(Self.ratio(ready ?? [:], "withinPromiseShare") == (1, 1))
            #expect((json["readyDistribution"] as? [[String: Any]])?.first?["minute"] as? Int == 0)
            #expect(Self.ratio(json, "noShowRate") == (0, 1))
            #expect(Self.ratio(json, "holdConversionRate") == (1, 2))
            // Four positions stocked; JACKET-M keeps a unit, BOOT-42 and both SCARFs are gone.
            #expect(Self.ratio(json, "unifiedAvailability") == (1, 4))
            let byLocation = json["availabilityByLocation"] as? [[String: Any]] ?? []
            #expect(byLocation.compactMap { $0["locationId"] as? String } == ["PAR-01", "PAR-02"])
            #expect(json["oversells"] as? Int == 0 && json["transfersInFlight"] as? Int == 0)
            #expect(json.keys.contains("locationIds") && json["series"] == nil)
        }
    }

    @Test func theProjectionEqualsItsReplayAndASeriesAddsUpToThePeriod() async throws {
        try await Harness.run { h in
            try await Self.history(h)
            let uri = Self.period(granularity: "hour")
            let live = try await h.call(.get, uri, key: h.keys.admin)
            try await h.verifyIsClean()
            try await Rebuilder(logger: h.services.logger).replay(on: h.services.database)
            let rebuilt = try await h.call(.get, uri, key: h.keys.admin)
            #expect(live.text == rebuilt.text)
            let series = live.json["series"] as? [[String: Any]] ?? []
            // From an hour ago rounded down to an hour from now rounded up: three hours.
            #expect(series.count == 3)
            let orders = series.compactMap { (($0["clickAndCollectShare"] as? [String: Any])?["denominator"] as? Int) }.reduce(0, +)
            #expect(orders == 4)
            // The levels of the last bucket are those at the period's end.
            #expect(Self.ratio(series.last ?? [:], "unifiedAvailability") == (1, 4))
        }
    }

    @Test func aNewDefaultSafetyStockRecountsTheSellablePositions() async throws {
        try await Harness.run { h in
            _ = try await h.receive("JACKET-M", "PAR-02", 3)
            _ = try await h.receive("BOOT-42", "PAR-02", 1)
            #expect(Self.ratio(try await h.call(.get, Self.period(), key: h.keys.admin).json, "unifiedAvailability") == (2, 2))
            let body = #"{"name": "Store PAR-02", "kind": "store", "latitude": 48.86, "longitude": 2.34, "capabilities": {"pickup": true, "ships": true}, "dailyCapacity": 100, "priority": 1, "pickupWindowDays": 7, "active": true, "safetyStockDefault": 2}"#
            let defined = try await h.call(.put, "/v1/locations/PAR-02", key: h.keys.admin, body: body)
            #expect(defined.status == .ok, "\(defined.text)")
            // JACKET-M keeps 1 above the default of 2; BOOT-42 does not.
            #expect(Self.ratio(try await h.call(.get, Self.period(), key: h.keys.admin).json, "unifiedAvailability") == (1, 2))
            try await h.verifyIsClean()
        }
    }

    @Test func storesReadTheirOwnFiguresAndCheckoutsNone() async throws {
        try await Harness.run { h in
            try await Self.history(h)
            let own = try await h.call(.get, Self.period(), key: h.keys.store)
            #expect(own.status == .ok && own.json["locationIds"] as? [String] == ["PAR-01"], "\(own.text)")
            // The parcel counts at its first line's location, PAR-01: every order of the history is PAR-01's.
            #expect(Self.ratio(own.json, "clickAndCollectShare") == (3, 4))
            #expect((own.json["availabilityByLocation"] as? [[String: Any]])?.compactMap { $0["locationId"] as? String } == ["PAR-01"])
            let other = try await h.call(.get, Self.period(locations: ["PAR-02"]), key: h.keys.store)
            #expect(other.status == .forbidden)
            let checkout = try await h.call(.get, Self.period(), key: h.keys.checkout)
            #expect(checkout.status == .forbidden)
            let theirs = try await h.call(.get, Self.period(locations: ["PAR-02"]), key: h.keys.admin)
            #expect(Self.ratio(theirs.json, "clickAndCollectShare") == (0, 0) && (theirs.json["clickAndCollectShare"] as? [String: Any])?["value"] is NSNull)
            // Every ratio says null rather than leaving its value out (the document requires it).
            #expect((theirs.json["orderErrorRate"] as? [String: Any])?["value"] is NSNull, "\(theirs.text)")
        }
    }

    @Test func aPeriodIsWholeHoursWithinBounds() async throws {
        try await Harness.run { h in
            let rounded = try await h.call(.get, "/v1/kpis?from=2026-11-30T10:20:00Z&to=2026-11-30T12:05:00Z", key: h.keys.admin)
            #expect(rounded.status == .ok && rounded.json["from"] as? String == "2026-11-30T10:00:00.000Z", "\(rounded.text)")
            #expect(rounded.json["to"] as? String == "2026-11-30T13:00:00.000Z")
            for (uri, field) in [
                ("/v1/kpis?to=2026-11-30T12:00:00Z", "from"),
                ("/v1/kpis?from=2026-11-30T12:00:00Z&to=2026-11-30T11:00:00Z", "to"),
                ("/v1/kpis?from=2025-01-01T00:00:00Z&to=2026-11-30T00:00:00Z", "to"),
                ("/v1/kpis?from=yesterday&to=2026-11-30T00:00:00Z", "from"),
                ("/v1/kpis?from=2026-11-01T00:00:00Z&to=2026-11-30T00:00:00Z&granularity=week", "granularity"),
                ("/v1/kpis?from=2026-09-01T00:00:00Z&to=2026-11-30T00:00:00Z&granularity=hour", "granularity (buckets of the period)"),
                ("/v1/kpis?from=2026-11-01T00:00:00Z&to=2026-11-30T00:00:00Z&locationId=bad%20id", "locationId"),
            ] {
                let reply = try await h.call(.get, uri, key: h.keys.admin)
                #expect(reply.status == .badRequest && reply.fields == [field], "\(uri): \(reply.text)")
            }
        }
    }
}

/// The business metrics count what the ledger tail delivers: here the events of a small
/// history, read back from the ledger and fed to them as the service does.
@Suite struct BusinessMetricsTests {
    @Test func ordersHoldsAndReadinessAreCountedFromTheLedgersEvents() async throws {
        try await Harness.run { h in
            try await KPIRouteTests.history(h)
            let metrics = EdgeMetrics(registry: PrometheusCollectorRegistry())
            let page = try await h.services.events.read(after: 0, limit: 1_000, on: h.services.database)
            for recorded in page.events { metrics.business.observed(try EventCodec.decode(type: recorded.type, payload: recorded.payload)) }
            let text = metrics.registry.emitToString()
            for line in [
                #"oms_orders_total{fulfilment="pickup",outcome="placed"} 3"#, #"oms_orders_total{fulfilment="ship",outcome="placed"} 1"#,
                #"oms_orders_total{fulfilment="pickup",outcome="collected"} 1"#, #"oms_orders_total{fulfilment="pickup",outcome="cancelled"} 1"#,
                #"oms_holds_total{outcome="placed"} 2"#, #"oms_holds_total{outcome="converted"} 1"#, #"oms_holds_total{outcome="released"} 1"#,
                "oms_lines_not_found_total 1", "oms_no_shows_total 0", "oms_order_to_ready_seconds_count 1",
            ] {
                #expect(text.contains(line), "\(line)")
            }
        }
    }
}
