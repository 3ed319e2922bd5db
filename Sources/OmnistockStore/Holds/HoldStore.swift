import Foundation
import Logging
import OmnistockCore
import PostgresNIO

/// Reads of holds, and the SQL the hold writer shares with them. Every "now" that decides
/// whether a hold has expired is the database's `Clock`.
public struct HoldStore: Sendable {
    let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    /// A hold and the database's clock when it was read, or nil when there is no such hold.
    public func get(id: String, on database: Database) async throws -> (record: HoldRecord, nowMs: Int64)? {
        try await database.withConnection { connection in
            let rows = try await connection.query(
                """
                SELECT \(unescaped: Self.columns), \(unescaped: Clock.nowMsSQL) AS now_ms FROM holds WHERE id = \(id)
                """,
                logger: logger
            ).collect()
            guard let row = rows.first else { return nil }
            let record = try Self.record(row)
            let now = try row.makeRandomAccess()["now_ms"].decode(Int64.self, context: .default)
            return (record, now)
        }
    }

    /// Ids of active holds whose expiry has passed, oldest expiry first: the sweeper's work.
    public func due(limit: Int, on database: Database) async throws -> [String] {
        try await database.withConnection { connection in
            var ids: [String] = []
            for try await id in try await connection.query(
                """
                SELECT id FROM holds WHERE status = 'active' AND expires_at_ms <= (SELECT \(unescaped: Clock.nowMsSQL))
                 ORDER BY expires_at_ms LIMIT \(limit)
                """,
                logger: logger
            ).decode(String.self) {
                ids.append(id)
            }
            return ids
        }
    }

    static let columns = """
        id, status, reference, fulfilment, allow_partial, line_skus, line_locations, line_quantities, unfilled,
        placed_at_ms, expires_at_ms, ended_at_ms, updated_at_ms, version
        """

    static func record(_ row: PostgresRow) throws -> HoldRecord {
        let (id, status, reference, fulfilment, allowPartial, skus, locations, quantities, unfilled, placed, expires, ended, updated, version) =
            try row.decode((String, String, String?, String?, Bool, [String], [String], [Int64], String, Int64, Int64, Int64?, Int64, Int64).self)
        guard let recordedStatus = HoldStatus(rawValue: status), skus.count == locations.count, skus.count == quantities.count else {
            throw StoreError.corrupt("the hold '\(id)' could not be read")
        }
        let decoder = JSONDecoder()
        let lines = skus.indices.map { HoldLine(id: String($0 + 1), sku: skus[$0], locationId: locations[$0], quantity: quantities[$0]) }
        do {
            return HoldRecord(
                hold: Hold(
                    id: id, recordedStatus: recordedStatus, reference: reference,
                    fulfilment: try fulfilment.map { text in
                        try JSONReader.read(text) { (reader: inout JSONReader) throws(JSONReader.Mismatch) in try reader.fulfilment() }
                            ?? decoder.decode(Fulfilment.self, from: Data(text.utf8))
                    },
                    allowPartial: allowPartial, lines: lines,
                    unfilled: unfilled == "[]" ? [] : try decoder.decode([UnfilledLine].self, from: Data(unfilled.utf8)),
                    placedAtMs: placed, expiresAtMs: expires, endedAtMs: ended, updatedAtMs: updated),
                version: version)
        } catch {
            throw StoreError.corrupt("the hold '\(id)' could not be read")
        }
    }
}
