import Logging
import PostgresNIO

/// The one clock every decision uses: the database's. Several `oms serve` instances then agree
/// on the instant a hold ends or a pickup window closes, whatever their own clocks say, and a
/// decision read after its locks were granted is never earlier than one a previous holder of
/// those rows made. Every event is recorded at the time its decision used (`LedgerTransaction`).
enum Clock {
    /// The database clock in milliseconds since 1970, as SQL. It is volatile: compared with an
    /// indexed column it must be wrapped in a sub-select, evaluated once, or the index is not
    /// used (measured: a 44 ms scan of the holds table for every sweep).
    static let nowMsSQL = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint"

    /// Reads the database clock.
    static func now(on connection: PostgresConnection, logger: Logger) async throws -> Int64 {
        for try await nowMs in try await connection.query("SELECT \(unescaped: nowMsSQL)", logger: logger).decode(Int64.self) {
            return nowMs
        }
        throw StoreError.corrupt("the database clock could not be read")
    }
}

/// The rule "a hold stops counting at its `expiresAt`", once, as SQL: the units of active hold
/// lines whose expiry has passed at a time but whose expiry the ledger has not recorded yet.
/// Positions store `held` with those units in it; every reader and writer that needs what is
/// held now subtracts this (the sweeper only catches the ledger up).
enum ExpiredHolds {
    /// The expired units of the position `sku`/`location` (SQL expressions) at `nowMs` (SQL).
    static func unitsSQL(sku: String, location: String, nowMs: String) -> String {
        """
        coalesce((SELECT sum(h.quantity) FROM active_hold_lines h
                   WHERE h.sku = \(sku) AND h.location_id = \(location) AND h.expires_at_ms <= \(nowMs)), 0)::bigint
        """
    }
}

extension ExpiredHolds {
    /// Rows (sku, location_id, units) of the positions of `keys` (a relation with columns sku
    /// and location_id) whose expired units at `nowMs` (SQL, evaluated once) are more than 0.
    ///
    /// One semi-join over the lines, grouped (the form the hold writer used before this rule had
    /// one home), rather than a sub-select per position, whose cost grows with the positions of
    /// a batch when the planner misjudges the lines table. (A slowdown first blamed on this
    /// form was PostgreSQL's JIT; see `DatabaseSettings.clientConfiguration`.)
    static func perPositionSQL(keys: String, nowMs: String) -> String {
        """
        SELECT h.sku, h.location_id, sum(h.quantity)::bigint AS units
          FROM active_hold_lines h
         WHERE (h.sku, h.location_id) IN (SELECT sku, location_id FROM \(keys)) AND h.expires_at_ms <= \(nowMs)
         GROUP BY h.sku, h.location_id
        """
    }
}
