import Foundation
import HTTPTypes
import Hummingbird
import OmnistockCore
import OmnistockStore

/// The ledger feed as a Server-Sent Event stream.
struct EventStreamRoutes {
    let services: EdgeServices

    func register(on group: RouterGroup<OmsContext>) {
        group
            .get("events/stream", use: self.stream)
    }

    /// `GET /v1/events/stream`: the events after `Last-Event-ID` (or `?after=`, else the head),
    /// then every new one as it commits, with the same roles, scope and `type` filter as `GET /v1/events`.
    @Sendable func stream(_ request: Request, context: OmsContext) async throws -> Response {
        let principal = try context.authorize(.readEvents)
        let after = try Self.start(of: request)
        let types = try Self.types(of: request)
        let ticket = try services.streams.open(kind: .events, keyId: principal.apiKeyId)
        // Subscribed before anything is read: the tail's first item says up to where the
        // ledger must be read, and everything after it comes from the tail.
        let wanted = types.isEmpty ? nil : Set(types)
        let subscription: TailSubscription
        do {
            subscription = try services.tail.subscribe(wanting: EventStreamFeed.filter(types: wanted, scope: principal.scope))
        } catch {
            ticket.release()
            throw Problem.tooManyStreams(perInstance: Limits.tailSubscribersMax)
        }
        let feed = EventStreamFeed(services: services, scope: principal.scope, types: wanted, after: after, subscription: subscription)
        return streamResponse(registry: services.streams, ticket: ticket, logger: context.logger, inbound: request.body) { sink in
            try await feed.run(into: sink)
        }
    }

    /// Where the stream starts: `Last-Event-ID` (what a reconnecting EventSource sends) wins over
    /// `?after=`; both are validated as the feed's `after` is. Nil: at the head.
    static func start(of request: Request) throws -> Int64? {
        let query: Int64? = request.uri.queryParameters.getAll("after").isEmpty ? nil : try request.integer("after", in: 0...Int64.max, default: 0)
        guard let header = request.headers[.lastEventId] else { return query }
        guard let position = Request.integral(header), position >= 0 else {
            throw Problem(.outOfRange(field: "Last-Event-ID", lower: "0", upper: "\(Int64.max)"), inBody: false)
        }
        return position
    }

    /// The `type` filter, as the feed reads it.
    static func types(of request: Request) throws -> [String] {
        let types = request.uri.queryParameters.getAll("type").map { String($0) }
        if types.count > Limits.eventTypeFilterCountMax {
            throw Problem(.tooMany(field: "type", countMax: Limits.eventTypeFilterCountMax), inBody: false)
        }
        for type in types {
            if let fault = Identifier.check(type, field: "type") { throw Problem(fault, inBody: false) }
        }
        return types
    }
}

/// One client's event stream: the ledger read in pages from its start up to where its tail
/// subscription began, then the subscription's events, each sent once, in position order.
struct EventStreamFeed: Sendable {
    let services: EdgeServices
    let scope: LocationScope
    let types: Set<String>?
    /// The last position the client has; nil: the head.
    let after: Int64?
    let subscription: TailSubscription
    /// How long the client's queue may stay full before it is cut off as too slow.
    var slowGrace: Duration = .seconds(Limits.streamQueueFullSecondsMax)

    func run(into sink: StreamSink) async throws {
        defer { subscription.cancel() }
        var items = subscription.makeAsyncIterator()
        guard case .started(let head)? = await items.next() else {
            sink.end("disconnected: the ledger tail is not running; reconnect with Last-Event-ID", cause: .tail)
            return
        }
        // The seam: the ledger up to `head` comes from pages, what follows from the tail, and
        // `cursor` (the last position looked at) keeps either from repeating the other.
        var cursor = after ?? head
        var lastSent: Int64 = 0
        guard let caughtUp = try await catchUp(from: cursor, to: head, into: sink, lastSent: &lastSent) else { return }
        cursor = max(cursor, caughtUp)
        while let item = await items.next() {
            switch item {
            case .started:
                continue
            case .events(let page):
                // The page's messages go out together, in batches the queue can hold.
                var batch: [SSEMessage] = []
                for event in page where event.position > cursor {
                    cursor = event.position
                    guard let message = try message(for: event, lastSent: &lastSent, live: true) else { continue }
                    batch.append(message)
                    if batch.count == sink.queueMax {
                        if await !sink.send(batch, waitingUpTo: slowGrace) { return }
                        batch.removeAll(keepingCapacity: true)
                    }
                }
                if await !sink.send(batch, waitingUpTo: slowGrace) { return }
            case .dropped(let reason):
                let cause: StreamDisconnect = reason == "the instance is shutting down" ? .shutdown : .tail
                sink.end("disconnected: \(reason); reconnect with Last-Event-ID", cause: cause)
                return
            }
        }
    }

    /// Sends the events after `cursor` up to `head` from the ledger, a page at a time and only
    /// as fast as the client takes them. Returns the position reached, or nil when the stream ended.
    private func catchUp(from start: Int64, to head: Int64, into sink: StreamSink, lastSent: inout Int64) async throws -> Int64? {
        let page = min(Limits.streamCatchUpPageEventsMax, sink.queueMax)
        var cursor = start
        while cursor < head {
            await sink.waitForRoom(page)
            if sink.isEnded { return nil }
            let read = try await services.events.read(
                after: cursor, limit: page, types: types.map { $0.sorted() }, locations: scope.sortedIds, on: services.database)
            for event in read.events where event.position <= head {
                guard let message = try message(for: event, lastSent: &lastSent, live: false) else { continue }
                if !sink.send(message) { return nil }
            }
            cursor = min(max(read.nextAfter, cursor), head)
            if read.events.isEmpty && read.nextAfter <= cursor && cursor < head {
                // Nothing more below the head (it is read afterwards, so this is not expected).
                cursor = head
            }
        }
        return cursor
    }

    /// The events a stream of these types and this scope sends (the feed's query filters the
    /// same way); nil when it sends every event.
    static func filter(types: Set<String>?, scope: LocationScope) -> (@Sendable (RecordedEvent) -> Bool)? {
        if types == nil, scope == .all { return nil }
        return { accepts($0, types: types, scope: scope) }
    }

    static func accepts(_ event: RecordedEvent, types: Set<String>?, scope: LocationScope) -> Bool {
        if let types, !types.contains(event.type) { return false }
        if case .only(let ids) = scope, !event.locationIds.contains(where: ids.contains) { return false }
        return true
    }

    /// The message for an event the caller may see, or nil; the same filter as the feed's query.
    private func message(for event: RecordedEvent, lastSent: inout Int64, live: Bool) throws -> SSEMessage? {
        guard Self.accepts(event, types: types, scope: scope) else { return nil }
        // Written once per event for every stream of the instance (EventJSON.swift).
        guard let data = try EventView.streamJSON(event, for: scope, cache: services.eventJSON) else { return nil }
        precondition(event.position > lastSent, "an event stream sends positions in increasing order, each once")
        lastSent = event.position
        return SSEMessage(id: "\(event.position)", event: event.type, data: data, recordedAt: live ? event.recordedAt : nil)
    }
}

extension HTTPField.Name {
    static let lastEventId = Self("Last-Event-ID")!
}
