import Foundation
import Logging
import OmnistockCore
import PostgresNIO

/// A location as the projection holds it.
public struct LocationRecord: Sendable, Equatable {
    public var location: Location
    public var version: Int64
    public var createdAt: Date
    public var updatedAt: Date
}

/// What a definition did: created the location, changed it, or found it already so.
public enum DefineOutcome: Sendable, Equatable {
    case created
    case changed
    case unchanged
}

/// Locations: the `location.defined` events and the `locations` projection, written together.
public struct LocationStore: Sendable {
    let events: EventStore
    let logger: Logger

    public init(events: EventStore, logger: Logger) {
        self.events = events
        self.logger = logger
    }

    /// Creates or replaces a location, deciding with the pure core against the locked row.
    public func define(
        _ proposed: Location, metadata: EventMetadata, on database: Database
    ) async throws -> (LocationRecord, DefineOutcome) {
        var attempt = 1
        while true {
            do {
                return try await database.transaction { connection in
                    try await define(proposed, metadata: metadata, on: connection)
                }
            } catch Rejection.concurrentModification(let stream) where attempt < Limits.locationRaceAttemptsMax {
                logger.debug("location definition raced; retrying", metadata: ["stream": "\(stream)"])
                attempt += 1
            }
        }
    }

    /// The same, inside the caller's transaction.
    public func define(
        _ proposed: Location, metadata: EventMetadata, on connection: PostgresConnection
    ) async throws -> (LocationRecord, DefineOutcome) {
        // A new default safety stock recounts the location's sellable positions: hold them all,
        // before the location's row as every writer does, then again once the row is held, for
        // those a writer stocked meanwhile (it held the row FOR SHARE: LocationDefaults).
        let redefaults = try await fetch(id: proposed.id, lock: false, on: connection).map {
            $0.location.safetyStockDefault != proposed.safetyStockDefault
        } ?? false
        if redefaults { _ = try await LocationDefaults.lockPositions(at: proposed.id, on: connection, logger: logger) }
        let current = try await fetch(id: proposed.id, lock: true, on: connection)
        let newEvents: [LedgerEvent]
        switch LocationStream.decide(current: current?.location, define: proposed) {
        case .failure(let rejections): throw rejections
        case .success(let events): newEvents = events
        }
        if newEvents.isEmpty, let current { return (current, .unchanged) }
        let nowMs = try await Clock.now(on: connection, logger: logger)
        var positions: [StockKey: PositionRecord] = [:]
        if let current, current.location.safetyStockDefault != proposed.safetyStockDefault {
            positions = try await LocationDefaults.lockPositions(at: proposed.id, on: connection, logger: logger)
        }
        var transaction = LedgerTransaction(
            on: connection, nowMs: nowMs, logger: logger, positions: positions, locations: current.map { [$0] } ?? [])
        transaction.apply(newEvents, metadata: metadata)
        try await transaction.finish(using: events)
        guard let record = transaction.location(proposed.id) else { throw StoreError.corrupt("a location event produced no location") }
        return (record, current == nil ? .created : .changed)
    }

    /// One location, or nil.
    public func get(id: String, on database: Database) async throws -> LocationRecord? {
        try await database.withConnection { connection in
            try await fetch(id: id, lock: false, on: connection)
        }
    }

    /// Locations ordered by id, after the cursor id, optionally only those in `scope`.
    public func list(after: String?, limit: Int, on database: Database) async throws -> [LocationRecord] {
        try await database.withConnection { connection in
            try await connection.query(
                """
                SELECT \(unescaped: Self.columns) FROM locations
                 WHERE (\(after)::text IS NULL OR id > \(after)::text)
                 ORDER BY id LIMIT \(limit)
                """,
                logger: logger
            ).collect().map(Self.record)
        }
    }

    /// The locations of these ids that exist, by id (at most `ids.count` rows).
    public func records(ids: [String], on database: Database) async throws -> [String: LocationRecord] {
        guard !ids.isEmpty else { return [:] }
        return try await database.withConnection { connection in
            let rows = try await connection.query(
                "SELECT \(unescaped: Self.columns) FROM locations WHERE id = ANY(\(ids)::text[])", logger: logger
            ).collect().map(Self.record)
            return Dictionary(rows.map { ($0.location.id, $0) }, uniquingKeysWith: { first, _ in first })
        }
    }

    func fetch(id: String, lock: Bool, on connection: PostgresConnection) async throws -> LocationRecord? {
        let query: PostgresQuery =
            lock
            ? "SELECT \(unescaped: Self.columns) FROM locations WHERE id = \(id) FOR UPDATE"
            : "SELECT \(unescaped: Self.columns) FROM locations WHERE id = \(id)"
        return try await connection.query(query, logger: logger).collect().first.map(Self.record)
    }

    static let columns =
        "id, name, kind, latitude, longitude, pickup, ships, daily_capacity, priority, pickup_window_days, active, safety_stock_default, version, created_at, updated_at"

    static func record(_ row: PostgresRow) throws -> LocationRecord {
        let (id, name, kind, latitude, longitude, pickup, ships, capacity, priority, window, active, safetyDefault, version, createdAt, updatedAt) =
            try row.decode((String, String, String, Double, Double, Bool, Bool, Int64?, Int64, Int64, Bool, Int64, Int64, Date, Date).self)
        guard let kind = Location.Kind(rawValue: kind) else { throw StoreError.corrupt("location \(id) has kind '\(kind)'") }
        return LocationRecord(
            location: Location(
                id: id, name: name, kind: kind, latitude: latitude, longitude: longitude,
                capabilities: .init(pickup: pickup, ships: ships), dailyCapacity: capacity, priority: priority,
                pickupWindowDays: window, active: active, safetyStockDefault: safetyDefault),
            version: version, createdAt: createdAt, updatedAt: updatedAt)
    }
}
