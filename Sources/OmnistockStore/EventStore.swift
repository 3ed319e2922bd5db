import Foundation
import Logging
import OmnistockCore
import PostgresNIO

/// Who caused an event and as part of which request; stored beside every event.
public struct EventMetadata: Codable, Sendable, Equatable {
    /// The API key id (or `cli:<user>` for the command line, `system` for sweepers).
    public var actor: String
    public var idempotencyKey: String?
    /// The request id of the HTTP call, to join logs and ledger.
    public var correlationId: String?

    public init(actor: String, idempotencyKey: String? = nil, correlationId: String? = nil) {
        self.actor = actor
        self.idempotencyKey = idempotencyKey
        self.correlationId = correlationId
    }
}

/// The version a writer expects a stream to be at when it appends.
public enum ExpectedVersion: Sendable, Equatable {
    /// The stream must not exist yet.
    case noStream
    /// The stream must be exactly at this version.
    case exact(Int64)
}

/// An event as the ledger holds it.
public struct RecordedEvent: Sendable, Equatable {
    public var position: Int64
    public var stream: String
    public var streamVersion: Int64
    public var type: String
    /// The payload as JSON text, exactly as stored.
    public var payload: String
    /// The metadata as JSON text.
    public var metadata: String
    public var locationIds: [String]
    public var recordedAt: Date
}

/// Where an appended event landed.
public struct AppendedEvent: Sendable, Equatable {
    public var position: Int64
    public var streamVersion: Int64
    public var recordedAt: Date
}

/// One page of the feed and the cursor for the next.
public struct EventPage: Sendable, Equatable {
    public var events: [RecordedEvent]
    /// Pass as `after` to get the next page; equals the request's `after` when nothing was new.
    public var nextAfter: Int64
    /// The ledger's last committed position when the page was read.
    public var headPosition: Int64
}

/// The append-only ledger: appends with expected versions, and a gap-free ordered feed.
public struct EventStore: Sendable {
    let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    /// Appends events to their streams inside the caller's transaction.
    ///
    /// Call it once per transaction, after every projection row the transaction will touch has
    /// been locked: it takes the ledger head last, and taking other locks after the head could
    /// deadlock with a concurrent appender.
    ///
    /// Streams are locked in name order (so concurrent appenders cannot deadlock), checked against
    /// `expected`, and the ledger head is taken last, just before the insert, so the lock that
    /// serialises appends is held for as short a time as possible: from here to commit.
    /// Returns the position and recorded time given to each event, in order.
    @discardableResult
    public func append(
        _ events: [LedgerEvent],
        expected: [String: ExpectedVersion],
        metadata: EventMetadata,
        on connection: PostgresConnection
    ) async throws -> [AppendedEvent] {
        try await append(events, metadata: Array(repeating: metadata, count: events.count), expected: expected, on: connection)
    }

    /// Appends events that each carry their own metadata: a batch of requests from different
    /// callers written in one transaction (the hold writer's group commit).
    @discardableResult
    public func append(
        _ events: [LedgerEvent],
        metadata: [EventMetadata],
        expected: [String: ExpectedVersion],
        on connection: PostgresConnection
    ) async throws -> [AppendedEvent] {
        precondition(metadata.count == events.count, "one metadata per event")
        guard !events.isEmpty else { return [] }
        let streamSet = Set(events.map(\.stream))
        let streams = streamSet.sorted()
        precondition(expected.keys.allSatisfy(streamSet.contains), "an expectation names a stream this batch does not touch")
        var versions: [String: Int64] = [:]
        // A batch that only starts new streams (a batch of new holds, named by random ids) has
        // nothing to lock or compare: the unique (stream, stream_version) index refuses a
        // stream that exists after all, which becomes a concurrent modification below.
        let onlyNewStreams = expected.count == streamSet.count && expected.values.allSatisfy { $0 == .noStream }
        if !onlyNewStreams {
            for try await (stream, version) in try await connection.query(
                "SELECT stream, version FROM ledger_streams WHERE stream = ANY(\(streams)) ORDER BY stream FOR UPDATE",
                logger: logger
            ).decode((String, Int64).self) {
                versions[stream] = version
            }
        }
        for (stream, expectation) in expected {
            switch (expectation, versions[stream]) {
            case (.noStream, nil): continue
            case (.exact(let want), .some(let have)) where want == have: continue
            default: throw Rejection.concurrentModification(stream: stream)
            }
        }

        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var streamColumn: [String] = []
        var versionColumn: [Int64] = []
        var typeColumn: [String] = []
        var payloadColumn: [String] = []
        var metadataColumn: [String] = []
        var locationsColumn: [String] = []
        streamColumn.reserveCapacity(events.count)
        versionColumn.reserveCapacity(events.count)
        typeColumn.reserveCapacity(events.count)
        payloadColumn.reserveCapacity(events.count)
        metadataColumn.reserveCapacity(events.count)
        locationsColumn.reserveCapacity(events.count)
        var previousMetadata: (EventMetadata, String)?
        for (event, eventMetadata) in zip(events, metadata) {
            let version = (versions[event.stream] ?? 0) + 1
            versions[event.stream] = version
            streamColumn.append(event.stream)
            versionColumn.append(version)
            typeColumn.append(event.type)
            payloadColumn.append(try EventCodec.encode(event, with: encoder))
            // Consecutive events of one request share their metadata; it is written once.
            if let previousMetadata, previousMetadata.0 == eventMetadata {
                metadataColumn.append(previousMetadata.1)
            } else {
                let json = EventCodec.json(eventMetadata)
                metadataColumn.append(json)
                previousMetadata = (eventMetadata, json)
            }
            // Identifiers never contain ';', so the list travels as one text.
            locationsColumn.append(event.locationIds.joined(separator: ";"))
        }

        // One statement: take the head (the row lock that serialises appends until commit),
        // insert the events at the positions it hands out, and move the streams' versions.
        // Taking the head in the same statement as the insert keeps it for the least time.
        let count = Int64(events.count)
        var appended: [AppendedEvent] = []
        appended.reserveCapacity(events.count)
        do {
            let rows = try await connection.query(
                """
                WITH head AS (
                    UPDATE ledger_head SET position = position + \(count) RETURNING position
                ), inserted AS (
                    INSERT INTO ledger (position, stream, stream_version, type, payload, metadata, location_ids, recorded_at)
                    SELECT head.position - \(count) + e.n, e.stream, e.version, e.type, e.payload::jsonb, e.metadata::jsonb,
                           string_to_array(e.locations, ';'), clock_timestamp()
                      FROM head, unnest(\(streamColumn)::text[], \(versionColumn)::bigint[], \(typeColumn)::text[],
                                        \(payloadColumn)::text[], \(metadataColumn)::text[], \(locationsColumn)::text[])
                                 WITH ORDINALITY AS e(stream, version, type, payload, metadata, locations, n)
                    RETURNING position, stream_version, recorded_at
                ), streams AS (
                    INSERT INTO ledger_streams (stream, version)
                    SELECT * FROM unnest(\(Array(versions.keys))::text[], \(Array(versions.values))::bigint[])
                    ON CONFLICT (stream) DO UPDATE SET version = excluded.version
                )
                SELECT position, stream_version, recorded_at FROM inserted
                """,
                logger: logger)
            for try await (position, version, recordedAt) in rows.decode((Int64, Int64, Date).self) {
                appended.append(AppendedEvent(position: position, streamVersion: version, recordedAt: recordedAt))
            }
        } catch where error.sqlState == "23505" {
            // Another transaction created one of these streams first (both saw no stream).
            throw Rejection.concurrentModification(stream: streams.joined(separator: ","))
        }
        guard appended.count == events.count else { throw StoreError.corrupt("the ledger head row is missing") }
        appended.sort { $0.position < $1.position }
        return appended
    }

    /// Reads committed events after `after`, in position order.
    ///
    /// Positions are handed out in commit order (see the ledger migration), so this plain range
    /// read never skips an event that commits later: any later commit has a larger position.
    public func read(
        after: Int64,
        limit: Int,
        types: [String]? = nil,
        locations: [String]? = nil,
        on database: Database
    ) async throws -> EventPage {
        precondition(limit > 0 && limit <= Limits.pageSizeMax, "the edge bounds the page size")
        return try await database.withConnection { connection in
            // The head is read first: events read afterwards may only be newer, never missing.
            let head = try await connection.query("SELECT position FROM ledger_head", logger: logger)
                .collect().first?.decode(Int64.self) ?? 0
            var events: [RecordedEvent] = []
            let rows = try await connection.query(
                """
                SELECT position, stream, stream_version, type, payload::text, metadata::text, location_ids, recorded_at
                  FROM ledger
                 WHERE position > \(after) AND position <= \(head)
                   AND (\(types)::text[] IS NULL OR type = ANY(\(types)::text[]))
                   AND (\(locations)::text[] IS NULL OR location_ids && \(locations)::text[])
                 ORDER BY position
                 LIMIT \(limit)
                """,
                logger: logger)
            for try await (position, stream, version, type, payload, metadata, locationIds, recordedAt) in rows.decode(
                (Int64, String, Int64, String, String, String, [String], Date).self)
            {
                events.append(RecordedEvent(
                    position: position, stream: stream, streamVersion: version, type: type, payload: payload,
                    metadata: metadata, locationIds: locationIds, recordedAt: recordedAt))
            }
            // When a filter hides events, the cursor still moves to what was scanned, so a
            // filtered reader does not rescan the same stretch forever.
            let nextAfter: Int64 =
                if events.count == limit { events.last!.position } else { max(after, head) }
            return EventPage(events: events, nextAfter: nextAfter, headPosition: head)
        }
    }
}

/// Encoding of ledger event payloads as JSON, and back.
public enum EventCodec {
    public static func encode(_ event: LedgerEvent, with encoder: JSONEncoder) throws -> String {
        switch event {
        case .stockMoved(let payload):
            // The most frequent events, written by hand: JSONEncoder's per-call cost dominated
            // large movement batches and hold batches. Same documents as the encoder (tests
            // compare them).
            return fastJSON(payload)
        case .holdPlaced(let payload) where payload.fulfilment == nil && payload.unfilled.isEmpty:
            return fastJSON(payload)
        case .holdReleased(let payload):
            return fastJSON(type: "released", holdId: payload.holdId, lines: payload.lines, occurredAtMs: payload.occurredAtMs, recordedAtMs: nil)
        case .holdExpired(let payload):
            return fastJSON(type: "expired", holdId: payload.holdId, lines: payload.lines, occurredAtMs: payload.occurredAtMs, recordedAtMs: payload.recordedAtMs)
        default:
            break
        }
        let data: Data =
            switch event {
            case .locationDefined(let payload): try encoder.encode(payload)
            case .stockMoved(let payload): try encoder.encode(payload)
            case .stockCounted(let payload): try encoder.encode(payload)
            case .countCorrected(let payload): try encoder.encode(payload)
            case .safetyStockSet(let payload): try encoder.encode(payload)
            case .positionShort(let payload): try encoder.encode(payload)
            case .holdPlaced(let payload): try encoder.encode(payload)
            case .holdExtended(let payload): try encoder.encode(payload)
            case .holdReleased(let payload): try encoder.encode(payload)
            case .holdExpired(let payload): try encoder.encode(payload)
            case .holdConverted(let payload): try encoder.encode(payload)
            case .order(let payload): try encoder.encode(payload)
            case .transfer(let payload): try encoder.encode(payload)
            }
        return String(decoding: data, as: UTF8.self)
    }

    /// `StockMoved` as JSONEncoder with sorted keys writes it.
    public static func fastJSON(_ moved: StockMoved) -> String {
        var writer = JSONWriter(capacity: 256)
        writer.beginObject()
        writer.key("kind"); writer.string(moved.kind.rawValue)
        writer.key("locationId"); writer.string(moved.locationId)
        writer.key("occurredAtMs"); writer.integer(moved.occurredAtMs)
        writer.key("onHandAfter"); writer.integer(moved.onHandAfter)
        writer.key("onHandDelta"); writer.integer(moved.onHandDelta)
        writer.key("quantity"); writer.integer(moved.quantity)
        if let reason = moved.reason { writer.key("reason"); writer.string(reason) }
        if let reference = moved.reference { writer.key("reference"); writer.string(reference) }
        writer.key("sku"); writer.string(moved.sku)
        writer.endObject()
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    /// `HoldPlaced` without fulfilment or unfilled lines (the hot path), as the encoder writes it.
    public static func fastJSON(_ placed: HoldPlaced) -> String {
        precondition(placed.fulfilment == nil && placed.unfilled.isEmpty, "only the plain shape is written by hand")
        var writer = JSONWriter(capacity: 160 + 80 * placed.lines.count)
        writer.beginObject()
        writer.key("allowPartial"); writer.bool(placed.allowPartial)
        writer.key("expiresAtMs"); writer.integer(placed.expiresAtMs)
        writer.key("holdId"); writer.string(placed.holdId)
        writer.key("lines"); lines(placed.lines, into: &writer)
        writer.key("occurredAtMs"); writer.integer(placed.occurredAtMs)
        if let reference = placed.reference { writer.key("reference"); writer.string(reference) }
        writer.key("unfilled"); writer.beginArray(); writer.endArray()
        writer.endObject()
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    /// Event metadata as the encoder writes it (sorted keys, absent values left out).
    public static func json(_ metadata: EventMetadata) -> String {
        var writer = JSONWriter(capacity: 160)
        writer.beginObject()
        writer.key("actor"); writer.string(metadata.actor)
        if let correlationId = metadata.correlationId { writer.key("correlationId"); writer.string(correlationId) }
        if let idempotencyKey = metadata.idempotencyKey { writer.key("idempotencyKey"); writer.string(idempotencyKey) }
        writer.endObject()
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    /// `HoldReleased` and `HoldExpired`, as the encoder writes them.
    static func fastJSON(type: StaticString, holdId: String, lines held: [HoldLine], occurredAtMs: Int64, recordedAtMs: Int64?) -> String {
        var writer = JSONWriter(capacity: 120 + 80 * held.count)
        writer.beginObject()
        writer.key("holdId"); writer.string(holdId)
        writer.key("lines"); lines(held, into: &writer)
        writer.key("occurredAtMs"); writer.integer(occurredAtMs)
        if let recordedAtMs { writer.key("recordedAtMs"); writer.integer(recordedAtMs) }
        writer.endObject()
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    private static func lines(_ lines: [HoldLine], into writer: inout JSONWriter) {
        writer.beginArray()
        for line in lines {
            writer.beginObject()
            writer.key("id"); writer.string(line.id)
            writer.key("locationId"); writer.string(line.locationId)
            writer.key("quantity"); writer.integer(line.quantity)
            writer.key("sku"); writer.string(line.sku)
            writer.endObject()
        }
        writer.endArray()
    }

    /// Decodes a stored event; throws when the type is unknown or the payload does not fit.
    public static func decode(type: String, payload: String) throws -> LedgerEvent {
        let decoder = JSONDecoder()
        let data = Data(payload.utf8)
        switch type {
        case LocationDefined.type: return .locationDefined(try decoder.decode(LocationDefined.self, from: data))
        case StockMoved.type: return .stockMoved(try decoder.decode(StockMoved.self, from: data))
        case StockCounted.type: return .stockCounted(try decoder.decode(StockCounted.self, from: data))
        case CountCorrected.type: return .countCorrected(try decoder.decode(CountCorrected.self, from: data))
        case SafetyStockSet.type: return .safetyStockSet(try decoder.decode(SafetyStockSet.self, from: data))
        case PositionShort.type: return .positionShort(try decoder.decode(PositionShort.self, from: data))
        case HoldPlaced.type: return .holdPlaced(try decoder.decode(HoldPlaced.self, from: data))
        case HoldExtended.type: return .holdExtended(try decoder.decode(HoldExtended.self, from: data))
        case HoldReleased.type: return .holdReleased(try decoder.decode(HoldReleased.self, from: data))
        case HoldExpired.type: return .holdExpired(try decoder.decode(HoldExpired.self, from: data))
        case HoldConverted.type: return .holdConverted(try decoder.decode(HoldConverted.self, from: data))
        case _ where type.hasPrefix("order."): return .order(try decoder.decode(OrderRecorded.self, from: data))
        case _ where type.hasPrefix("transfer."): return .transfer(try decoder.decode(TransferRecorded.self, from: data))
        default: throw StoreError.corrupt("the ledger holds an event of unknown type '\(type)'")
        }
    }
}
