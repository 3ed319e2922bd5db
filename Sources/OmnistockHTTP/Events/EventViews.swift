import Foundation
import OmnistockStore

/// An event of the ledger as the feed and a position's history show it.
struct EventView: Codable, Sendable {
    var position: Int64
    var stream: String
    var streamVersion: Int64
    var type: String
    var recordedAt: Date
    var locationIds: [String]
    var data: JSONValue
    var metadata: JSONValue
    /// In a position's history only: its buckets right after this event.
    var balance: PositionView?

    init(_ event: RecordedEvent, balance: PositionView? = nil) throws {
        self.position = event.position
        self.stream = event.stream
        self.streamVersion = event.streamVersion
        self.type = event.type
        self.recordedAt = event.recordedAt
        self.locationIds = event.locationIds
        self.data = try JSONValue.parse(event.payload)
        self.metadata = try JSONValue.parse(event.metadata)
        self.balance = balance
    }
}

/// A page of the feed.
struct EventPageView: Codable, Sendable {
    var events: [EventView]
    /// Pass as `after` to read on; equal to the request's `after` when nothing new was found.
    var nextAfter: Int64
    /// The last committed position when the page was read: `nextAfter == headPosition` means caught up.
    var headPosition: Int64
}
