import Foundation
import OmnistockCore
import OmnistockStore

extension EventView {
    /// The event as a caller whose key reaches `scope` may see it, or nil when it concerns
    /// none of the caller's locations: the core's rule (`Access.visibility`), applied here
    /// once for every feed of the edge (this page, and the event stream and webhooks to come).
    ///
    /// An event wholly the caller's is passed through as stored. One shown in part is decoded,
    /// cut down and encoded again, and loses its request metadata: that request came from a
    /// caller with other locations (another store's system, a checkout), whose key, idempotency
    /// key and request id are not this caller's to read.
    static func scoped(_ event: RecordedEvent, for scope: LocationScope) throws -> EventView? {
        guard case .only = scope else { return try EventView(event) }
        switch Access.visibility(of: try EventCodec.decode(type: event.type, payload: event.payload), to: scope) {
        case .whole:
            return try EventView(event)
        case .hidden:
            return nil
        case .part(let shown):
            var view = try EventView(event)
            view.data = try JSONValue.parse(EventCodec.encode(shown, with: JSON.encoder))
            view.locationIds = shown.locationIds
            view.metadata = .object([:])
            return view
        }
    }
}

extension EventView {
    /// The JSON of the event as a stream shows it to a caller reaching `scope` (nil: hidden),
    /// the same object as `scoped` gives, through the instance's cache: an event shown whole is
    /// written once for every stream, and decoded once for every bound key's visibility rule.
    static func streamJSON(_ event: RecordedEvent, for scope: LocationScope, cache: EventStreamCache) throws -> [UInt8]? {
        guard case .only = scope else { return cache.whole(event) }
        switch Access.visibility(of: try cache.decoded(event), to: scope) {
        case .whole: return cache.whole(event)
        case .hidden: return nil
        case .part: return try scoped(event, for: scope).map { Array(try JSON.encoder.encode($0)) }
        }
    }
}
