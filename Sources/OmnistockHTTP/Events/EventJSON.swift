import Foundation
import OmnistockCore
import OmnistockStore
import Synchronization

extension EventView {
    /// The JSON of an event shown whole, as `GET /v1/events` writes an item, built without
    /// parsing the payload: the stored payload and metadata (the JSON text as written, one
    /// line) are spliced in as they are. Encoding an `EventView` parses both and writes them
    /// again through Foundation, which was the whole cost of a stream's event (measured in
    /// `make bench`: 500 event streams cut the hold rate by 99 %).
    static func wholeJSON(_ event: RecordedEvent) -> [UInt8] {
        var writer = JSONWriter(capacity: event.payload.utf8.count + event.metadata.utf8.count + 256)
        writer.beginObject()
        writer.key("data"); writer.raw(event.payload)
        writer.key("locationIds")
        writer.beginArray()
        for id in event.locationIds { writer.string(id) }
        writer.endArray()
        writer.key("metadata"); writer.raw(event.metadata)
        writer.key("position"); writer.integer(event.position)
        // The encoder's own form (its rounding of a microsecond time included): once per event.
        writer.key("recordedAt"); writer.string(JSON.dateText(event.recordedAt))
        writer.key("stream"); writer.string(event.stream)
        writer.key("streamVersion"); writer.integer(event.streamVersion)
        writer.key("type"); writer.string(event.type)
        writer.endObject()
        return writer.bytes
    }
}

/// The JSON of recent events as every stream of the instance shows them, computed once per
/// event rather than once per stream: with many streams open, each event goes to each of them.
/// Bounded (`Limits.streamEventCacheEntriesMax`); the oldest entries go first.
final class EventStreamCache: Sendable {
    struct Entry: Sendable {
        /// The event decoded once, for the visibility rule of bound keys.
        var event: LedgerEvent?
        var whole: [UInt8]?
    }
    private struct State {
        var entries: [Int64: Entry] = [:]
        var order: [Int64] = []
        var next = 0
    }
    private let state = Mutex(State())
    let capacity: Int

    init(capacity: Int = Limits.streamEventCacheEntriesMax) {
        precondition(capacity > 0, "a cache holds one entry")
        self.capacity = capacity
    }

    /// The event's JSON shown whole.
    func whole(_ event: RecordedEvent) -> [UInt8] {
        if let bytes = state.withLock({ $0.entries[event.position]?.whole }) { return bytes }
        let bytes = EventView.wholeJSON(event)
        store(event.position) { $0.whole = bytes }
        return bytes
    }

    /// The event decoded (for scoping).
    func decoded(_ event: RecordedEvent) throws -> LedgerEvent {
        if let decoded = event.decoded { return decoded }
        if let decoded = state.withLock({ $0.entries[event.position]?.event }) { return decoded }
        let decoded = try EventCodec.decode(type: event.type, payload: event.payload)
        store(event.position) { $0.event = decoded }
        return decoded
    }

    private func store(_ position: Int64, _ change: (inout Entry) -> Void) {
        state.withLock { state in
            if state.entries[position] == nil {
                if state.order.count < capacity {
                    state.order.append(position)
                } else {
                    state.entries[state.order[state.next]] = nil
                    state.order[state.next] = position
                    state.next = (state.next + 1) % capacity
                }
                state.entries[position] = Entry()
            }
            change(&state.entries[position]!)
        }
    }
}
