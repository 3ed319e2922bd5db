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
    /// The payload decoded, when the ledger tail has decoded it: once for all its subscribers
    /// (the availability model and every bound key's stream decoded each event apart, several
    /// of them at once). A copy of `payload`, so equality does not look at it.
    public var decoded: LedgerEvent? = nil

    public static func == (a: RecordedEvent, b: RecordedEvent) -> Bool {
        a.position == b.position && a.stream == b.stream && a.streamVersion == b.streamVersion && a.type == b.type
            && a.payload == b.payload && a.metadata == b.metadata && a.locationIds == b.locationIds && a.recordedAt == b.recordedAt
    }
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

    /// Appends events of one caller (the ledger's own tests; writers use a `LedgerTransaction`).
    @discardableResult
    public func append(
        _ events: [LedgerEvent], expected: [String: ExpectedVersion], metadata: EventMetadata, on connection: PostgresConnection
    ) async throws -> [AppendedEvent] {
        try await append(events, metadata: Array(repeating: metadata, count: events.count), expected: expected, on: connection)
    }

    /// The channel every append notifies, with the new head position as its payload: the
    /// ledger tails of every instance LISTEN on it.
    public static let channel = "omnistock_ledger"

    /// Appends events that each carry their own metadata, inside the caller's transaction, all
    /// recorded at `recordedAtMs` (the clock their decisions used); nil records them all at the
    /// database's clock when the statement runs (the ledger's own tests). Writers append through a
    /// `LedgerTransaction`, which calls this last.
    ///
    /// Call it once per transaction, after every projection row the transaction will touch has
    /// been locked: it takes the ledger head last, and taking other locks after the head could
    /// deadlock with a concurrent appender. A stream with an expectation is checked by the
    /// ledger itself, in the insert (see `insert`); a stream without one (the ledger's own tests)
    /// is numbered after its last event, read with the head already taken so that no other
    /// append moves it meanwhile. The same statement as the insert notifies `channel` with the
    /// new head. Returns the position and recorded time given to each event, in order.
    @discardableResult
    public func append(
        _ events: [LedgerEvent],
        metadata: [EventMetadata],
        expected: [String: ExpectedVersion],
        recordedAtMs: Int64? = nil,
        on connection: PostgresConnection
    ) async throws -> [AppendedEvent] {
        precondition(metadata.count == events.count, "one metadata per event")
        guard !events.isEmpty else { return [] }
        var versions = try await streamVersions(of: events, expected: expected, on: connection)
        let rows = try Rows(events, metadata: metadata, versions: &versions)
        return try await insert(rows, expected: expected, recordedAtMs: recordedAtMs, on: connection)
    }

    /// The rows of an append whose every stream has an expectation, encoded without the
    /// database (what a `LedgerTransaction` appends): so that a writer can encode them while
    /// its projection statement runs.
    public struct PreparedAppend: Sendable {
        fileprivate let rows: Rows
        fileprivate let expected: [String: ExpectedVersion]
        public var count: Int { rows.streams.count }
    }

    /// Numbers and encodes `events` after the versions their streams are expected at.
    public static func prepare(
        _ events: [LedgerEvent], metadata: [EventMetadata], expected: [String: ExpectedVersion]
    ) throws -> PreparedAppend {
        precondition(metadata.count == events.count, "one metadata per event")
        var versions: [String: Int64] = [:]
        for (stream, expectation) in expected {
            switch expectation {
            case .noStream: continue
            case .exact(let version): versions[stream] = version
            }
        }
        precondition(events.allSatisfy { expected[$0.stream] != nil }, "every stream of a prepared append has an expectation")
        return PreparedAppend(rows: try Rows(events, metadata: metadata, versions: &versions), expected: expected)
    }

    /// Appends prepared rows, as `append` does its events.
    public func append(_ prepared: PreparedAppend, recordedAtMs: Int64, on connection: PostgresConnection) async throws -> [AppendedEvent] {
        guard prepared.count > 0 else { return [] }
        return try await insert(prepared.rows, expected: prepared.expected, recordedAtMs: recordedAtMs, on: connection)
    }

    /// The version each stream of the append stands at: the expected one, or (for a stream
    /// without an expectation) the version of its last event, read with the head taken.
    private func streamVersions(
        of events: [LedgerEvent], expected: [String: ExpectedVersion], on connection: PostgresConnection
    ) async throws -> [String: Int64] {
        let streamSet = Set(events.map(\.stream))
        precondition(expected.keys.allSatisfy(streamSet.contains), "an expectation names a stream this batch does not touch")
        var versions: [String: Int64] = [:]
        for (stream, expectation) in expected {
            switch expectation {
            case .noStream: continue
            case .exact(let version): versions[stream] = version
            }
        }
        let unexpected = streamSet.filter { expected[$0] == nil }.sorted()
        guard !unexpected.isEmpty else { return versions }
        try await connection.query("SELECT position FROM ledger_head FOR UPDATE", logger: logger)
        for try await (stream, version) in try await connection.query(
            "SELECT stream, max(stream_version) FROM ledger WHERE stream = ANY(\(unexpected)) GROUP BY stream", logger: logger
        ).decode((String, Int64).self) {
            versions[stream] = version
        }
        return versions
    }

    /// The columns of the rows to insert, one array per column.
    fileprivate struct Rows: Sendable {
        var streams: [String] = []
        var versions: [Int64] = []
        var types: [String] = []
        var payloads: [String] = []
        var metadata: [String] = []
        /// Identifiers never contain ';', so each event's list travels as one text.
        var locations: [String] = []

        /// Numbers each event in its stream after `versions`, which it moves on.
        /// No rows: the append statement's text is written from these.
        init() {}

        init(_ events: [LedgerEvent], metadata eventMetadata: [EventMetadata], versions: inout [String: Int64]) throws {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            for column in [\Rows.streams, \Rows.types, \Rows.payloads, \Rows.metadata, \Rows.locations] {
                self[keyPath: column].reserveCapacity(events.count)
            }
            versions.reserveCapacity(events.count)
            var previousMetadata: (EventMetadata, String)?
            for (event, eventMetadata) in zip(events, eventMetadata) {
                let version = (versions[event.stream] ?? 0) + 1
                versions[event.stream] = version
                streams.append(event.stream)
                self.versions.append(version)
                types.append(event.type)
                payloads.append(try EventCodec.encode(event, with: encoder))
                // Consecutive events of one request share their metadata; it is written once.
                if let previousMetadata, previousMetadata.0 == eventMetadata {
                    metadata.append(previousMetadata.1)
                } else {
                    let json = EventCodec.json(eventMetadata)
                    metadata.append(json)
                    previousMetadata = (eventMetadata, json)
                }
                locations.append(event.locationIds.joined(separator: ";"))
            }
        }
    }

    /// One statement: take the head (the row lock that serialises appends until commit), insert
    /// the events at the positions it hands out, check the expectations and notify the tails
    /// (from the head's RETURNING: joined as a relation of its own, the notification multiplied
    /// the plan's estimates). Taking the head in the same statement as the insert keeps it for
    /// the least time.
    ///
    /// The ledger checks the expectations itself, as versions are dense from 1: a stream
    /// expected at no version or at a version it has passed collides with an existing (stream,
    /// stream_version) (unique), and a stream expected at a version it has not reached lacks
    /// the event at that version, which the statement looks for. So no table of stream versions
    /// is read, locked or moved (0016_no_stream_versions.sql): for a 10,000-line movement
    /// request the locking read cost 57 ms and moving the rows 120-250 ms, where looking for the
    /// 10,000 expected events costs about 100 ms (index probes); the request went 10-16 % faster.
    /// Two appenders never interleave: the second waits for the head, then collides.
    private func insert(
        _ rows: Rows, expected: [String: ExpectedVersion], recordedAtMs: Int64?, on connection: PostgresConnection
    ) async throws -> [AppendedEvent] {
        let count = Int64(rows.streams.count)
        var exact: (streams: [String], versions: [Int64]) = ([], [])
        for (stream, expectation) in expected.sorted(by: { $0.key < $1.key }) {
            guard case .exact(let version) = expectation else { continue }
            exact.streams.append(stream)
            exact.versions.append(version)
        }
        var landed: (head: Int64, recordedAt: Date, inserted: Int64, reached: Int64)?
        do {
            let query = Append.query(rows, count: count, recordedAtMs: recordedAtMs, exact: exact)
            for try await row in try await connection.run(Append.self, query, logger: logger) {
                landed = try row.decode((Int64, Date, Int64, Int64).self)
            }
        } catch where error.sqlState == "23505" {
            // A stream moved past its expectation (or, expected new, exists): another writer
            // appended to it first.
            throw Rejection.concurrentModification(stream: Set(rows.streams).sorted().joined(separator: ","))
        }
        guard let landed else { throw StoreError.corrupt("the ledger head row is missing") }
        guard landed.inserted == count else { throw StoreError.corrupt("an append inserted \(landed.inserted) of \(count) events") }
        if landed.reached != exact.streams.count {
            // Expected at a version the stream has not reached: the caller's view is not the
            // ledger's; the transaction rolls back with what this statement inserted.
            throw Rejection.concurrentModification(stream: try await unreached(exact, on: connection))
        }
        // The events hold the positions after the head's old one, in order, and one time: so
        // the statement answers one row, not one per event (a 10,000-line movement request
        // read back and decoded 10,000 rows).
        let first = landed.head - count
        return rows.versions.indices.map { index in
            AppendedEvent(position: first + Int64(index) + 1, streamVersion: rows.versions[index], recordedAt: landed.recordedAt)
        }
    }

    /// The append statement of `insert`: take the head, insert, check, notify.
    fileprivate enum Append: StatementText {
        static let name = "ledger_append"
        static let sql = query(Rows(), count: 0, recordedAtMs: nil, exact: ([], [])).sql

        static func query(_ rows: Rows, count: Int64, recordedAtMs: Int64?, exact: (streams: [String], versions: [Int64])) -> PostgresQuery {
            """
            WITH head AS (
                UPDATE ledger_head SET position = position + \(count)
                RETURNING position, pg_notify(\(EventStore.channel), position::text)
            ), at AS MATERIALIZED (
                SELECT coalesce('epoch'::timestamptz + \(recordedAtMs)::bigint * interval '1 millisecond', clock_timestamp()) AS recorded_at
            ), inserted AS (
                INSERT INTO ledger (position, stream, stream_version, type, payload, metadata, location_ids, recorded_at)
                SELECT head.position - \(count) + e.n, e.stream, e.version, e.type, e.payload::json, e.metadata::json,
                       string_to_array(e.locations, ';'), at.recorded_at
                  FROM head, at, unnest(\(rows.streams)::text[], \(rows.versions)::bigint[], \(rows.types)::text[],
                                        \(rows.payloads)::text[], \(rows.metadata)::text[], \(rows.locations)::text[])
                                 WITH ORDINALITY AS e(stream, version, type, payload, metadata, locations, n)
                RETURNING 1
            ), reached AS (
                SELECT count(*) AS streams FROM unnest(\(exact.streams)::text[], \(exact.versions)::bigint[]) AS x(stream, version)
                 WHERE EXISTS (SELECT 1 FROM ledger l WHERE l.stream = x.stream AND l.stream_version = x.version)
            )
            SELECT head.position, at.recorded_at, (SELECT count(*) FROM inserted), reached.streams FROM head, at, reached
            """
        }
    }

    /// The first stream (by name) that lacks the event at its expected version: none of this
    /// transaction's own events is at such a version, as they come after it.
    private func unreached(_ exact: (streams: [String], versions: [Int64]), on connection: PostgresConnection) async throws -> String {
        for try await stream in try await connection.query(
            """
            SELECT x.stream FROM unnest(\(exact.streams)::text[], \(exact.versions)::bigint[]) AS x(stream, version)
             WHERE NOT EXISTS (SELECT 1 FROM ledger l WHERE l.stream = x.stream AND l.stream_version = x.version)
             ORDER BY x.stream LIMIT 1
            """,
            logger: logger
        ).decode(String.self) {
            return stream
        }
        throw StoreError.corrupt("an expected stream version was missing, then found")
    }

    /// The ledger's last committed position.
    public func head(on database: Database) async throws -> Int64 {
        try await database.withConnection { connection in try await self.head(connection) }
    }

    /// The ledger's last committed position as a transaction sees it.
    public func head(in transaction: Transaction) async throws -> Int64 {
        try await head(transaction.connection)
    }

    func head(_ connection: PostgresConnection) async throws -> Int64 {
        for try await position in try await connection.query("SELECT position FROM ledger_head", logger: logger).decode(Int64.self) {
            return position
        }
        throw StoreError.corrupt("the ledger head row is missing")
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

