import Hummingbird
import OmnistockCore
import OmnistockStore

extension AvailabilityRoutes {
    /// `GET /v1/availability/stream`: one `availability` event per position in scope (the
    /// snapshot), then one each time a position's figures change, from the instance's model.
    ///
    /// The stream's scope is registered with the model and the snapshot taken under one lock,
    /// so no change falls between them. Changes are coalesced per position: a client that reads
    /// slowly receives the latest figures rather than every intermediate one, so what waits for
    /// it is bounded by its scope (at most `Limits.availabilitySkusMax` SKUs).
    @Sendable func stream(_ request: Request, context: OmsContext) async throws -> Response {
        let principal = try context.authorize(.readStock)
        let query = try AvailabilityQuery(request)
        let ticket = try services.streams.open(kind: .availability, keyId: principal.apiKeyId)
        guard let (watch, snapshot) = services.live.watch(skus: Set(query.skus), locationId: query.locationId) else {
            ticket.release()
            if let reason = services.live.stoodDownReason {
                throw Problem.unavailable("The availability stream is not served by this instance: \(reason).")
            }
            throw Problem.unavailable("The availability model is loading; retry shortly.")
        }
        let live = services.live
        return streamResponse(registry: services.streams, ticket: ticket, logger: context.logger, inbound: request.body) { sink in
            defer { watch.cancel() }
            guard await send(snapshot, of: query, into: sink) else { return }
            for await _ in watch.changes {
                let keys = watch.take()
                if keys.isEmpty { continue }
                guard let figures = live.figures(of: keys) else { break }
                guard await send(figures, of: query, into: sink) else { return }
            }
            sink.end("disconnected: \(watch.endReason ?? "the availability model stopped"); reconnect for a new snapshot", cause: .tail)
        }
    }

    /// Sends one message per position of the snapshot the query covers; false when the stream ended.
    private func send(_ snapshot: AvailabilitySnapshot, of query: AvailabilityQuery, into sink: StreamSink) async -> Bool {
        for entry in snapshot.entries {
            guard let data = query.message(entry, position: snapshot.position) else { continue }
            // A snapshot may be larger than the queue: it goes out as fast as the client takes it.
            if sink.pending >= sink.queueMax - 1 { await sink.waitForRoom(1) }
            if sink.isEnded || !sink.send(SSEMessage(event: "availability", data: data)) { return false }
        }
        return true
    }
}

extension AvailabilityQuery {
    /// One position's figures as an `availability` event's data, or nil when it is not the
    /// stream's to show (not stocked, unknown location, outside the radius). A location that
    /// was deactivated is sent once with `active: false` and nothing available, so a client
    /// drops it.
    func message(_ entry: AvailabilitySnapshot.Entry, position: Int64) -> [UInt8]? {
        guard let location = entry.location, let figures = entry.position else { return nil }
        let distance = near.map { Geo.shownDistanceKilometres(from: $0, to: location) }
        if let distance, let radiusKm, distance > radiusKm { return nil }
        let available = location.active ? figures.available(locationDefault: location.safetyStockDefault) : 0
        var writer = JSONWriter(capacity: 320)
        writer.beginObject()
        writer.key("active"); writer.bool(location.active)
        writer.key("allocated"); writer.integer(figures.allocated)
        writer.key("available"); writer.integer(available)
        if let distance { writer.key("distanceKm"); writer.number(distance) }
        writer.key("held"); writer.integer(figures.held)
        writer.key("incoming"); writer.integer(figures.incoming)
        writer.key("kind"); writer.string(location.kind.rawValue)
        writer.key("locationId"); writer.string(location.id)
        writer.key("name"); writer.string(location.name)
        writer.key("onHand"); writer.integer(figures.onHand)
        writer.key("pickup"); writer.bool(location.capabilities.pickup)
        writer.key("position"); writer.integer(position)
        writer.key("safetyStock"); writer.integer(figures.effectiveSafetyStock(locationDefault: location.safetyStockDefault))
        writer.key("ships"); writer.bool(location.capabilities.ships)
        writer.key("short"); writer.integer(figures.shortfall)
        writer.key("sku"); writer.string(entry.key.sku)
        writer.endObject()
        return writer.bytes
    }
}
