import Logging
import OmnistockCore
import PostgresNIO

/// What the KPI counters of a period add up to, per location and per bucket of a series.
public struct KPIRead: Sendable {
    public struct Bucket: Sendable {
        public var startMs: Int64
        public var input: KPIInput
    }
    /// Per location: the period's sums, and the levels at its end.
    public var period: [String: KPICounters]
    public var levels: [String: KPICounters]
    /// The period's order-to-ready histogram (minute → orders), every location asked together.
    public var readyMinutes: [Int: Int64]
    /// With a granularity: each bucket's figures' input, in time order (levels at its end).
    public var series: [Bucket]

    /// The period's input for some locations (all of those read when nil).
    public func input(locations: Set<String>? = nil) -> KPIInput {
        func sum(_ rows: [String: KPICounters]) -> KPICounters {
            rows.filter { locations?.contains($0.key) ?? true }.values.reduce(KPICounters(), +)
        }
        return KPIInput(period: sum(period), levels: sum(levels), readyMinutes: readyMinutes)
    }
}

/// Reads the KPI projection (`kpi_counters`, `kpi_ready_minutes`): a period is the sum of its
/// hours' rows, a level at a time the sum of every hour before it. Every read is one indexed
/// statement per question, bounded by the period's hours and the locations asked.
public struct KPIStore: Sendable {
    let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    /// The counters of [fromMs, toMs) (whole hours) for these locations (every location when
    /// nil), with a series of buckets of `bucketMs` when given.
    public func read(
        fromMs: Int64, toMs: Int64, locations: [String]?, bucketMs: Int64?, on database: Database
    ) async throws -> KPIRead {
        precondition(fromMs < toMs && KPIs.hourMs(fromMs) == fromMs && KPIs.hourMs(toMs) == toMs, "a KPI period is whole hours")
        return try await database.withConnection { connection in
            try await connection.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", logger: logger)
            do {
                let read = try await read(fromMs: fromMs, toMs: toMs, locations: locations, bucketMs: bucketMs, on: connection)
                try await connection.query("COMMIT", logger: logger)
                return read
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw error
            }
        }
    }

    private func read(
        fromMs: Int64, toMs: Int64, locations: [String]?, bucketMs: Int64?, on connection: PostgresConnection
    ) async throws -> KPIRead {
        let filter = locations ?? []
        let all = locations == nil
        let sums = KPICounters.names.map { "sum(\($0))::bigint" }.joined(separator: ", ")
        let period = try await counters(
            PostgresQuery(unsafeSQL: """
                SELECT location_id, \(sums) FROM kpi_counters
                 WHERE hour_ms >= $1 AND hour_ms < $2 AND ($3 OR location_id = ANY($4::text[])) GROUP BY location_id
                """, binds: try binds(fromMs, toMs, all, filter)),
            on: connection)
        let levels = try await counters(
            PostgresQuery(unsafeSQL: """
                SELECT location_id, \(sums) FROM kpi_counters
                 WHERE hour_ms < $1 AND ($2 OR location_id = ANY($3::text[])) GROUP BY location_id
                """, binds: try levelBinds(toMs, all, filter)),
            on: connection)
        var minutes: [Int: Int64] = [:]
        for try await (minute, orders) in try await connection.query(
            PostgresQuery(unsafeSQL: """
                SELECT minute, sum(orders)::bigint FROM kpi_ready_minutes
                 WHERE hour_ms >= $1 AND hour_ms < $2 AND ($3 OR location_id = ANY($4::text[])) GROUP BY minute
                """, binds: try binds(fromMs, toMs, all, filter)),
            logger: logger
        ).decode((Int64, Int64).self) {
            minutes[Int(minute)] = orders
        }
        var series: [KPIRead.Bucket] = []
        if let bucketMs {
            series = try await self.series(
                fromMs: fromMs, toMs: toMs, bucketMs: bucketMs, all: all, filter: filter,
                levelsAtStart: levels.values.reduce(KPICounters(), +) - period.values.reduce(KPICounters(), +), on: connection)
        }
        return KPIRead(period: period, levels: levels, readyMinutes: minutes, series: series)
    }

    /// The period bucket by bucket: each bucket's sums and histogram, and the levels at its
    /// end (the levels at the period's start plus every bucket's changes so far).
    private func series(
        fromMs: Int64, toMs: Int64, bucketMs: Int64, all: Bool, filter: [String], levelsAtStart: KPICounters,
        on connection: PostgresConnection
    ) async throws -> [KPIRead.Bucket] {
        let count = Int((toMs - fromMs + bucketMs - 1) / bucketMs)
        precondition(count >= 1 && count <= Limits.kpiSeriesBucketsMax, "a series has a bounded number of buckets")
        var sums = [KPICounters](repeating: KPICounters(), count: count)
        var minutes = [[Int: Int64]](repeating: [:], count: count)
        let names = KPICounters.names.map { "sum(\($0))::bigint" }.joined(separator: ", ")
        let buckets = try await counters(
            PostgresQuery(unsafeSQL: """
                SELECT ((hour_ms - $1) / $5)::text, \(names) FROM kpi_counters
                 WHERE hour_ms >= $1 AND hour_ms < $2 AND ($3 OR location_id = ANY($4::text[])) GROUP BY 1
                """, binds: try binds(fromMs, toMs, all, filter, bucketMs)),
            on: connection)
        for (index, counters) in buckets { sums[Int(index)!] = counters }
        for try await (index, minute, orders) in try await connection.query(
            PostgresQuery(unsafeSQL: """
                SELECT (hour_ms - $1) / $5, minute, sum(orders)::bigint FROM kpi_ready_minutes
                 WHERE hour_ms >= $1 AND hour_ms < $2 AND ($3 OR location_id = ANY($4::text[])) GROUP BY 1, 2
                """, binds: try binds(fromMs, toMs, all, filter, bucketMs)),
            logger: logger
        ).decode((Int64, Int64, Int64).self) {
            minutes[Int(index)][Int(minute)] = orders
        }
        var levels = levelsAtStart
        return (0..<count).map { index in
            levels = levels + sums[index]
            return KPIRead.Bucket(
                startMs: fromMs + Int64(index) * bucketMs, input: KPIInput(period: sums[index], levels: levels, readyMinutes: minutes[index]))
        }
    }

    /// Rows of a key (text) and every counter's sum.
    private func counters(_ query: PostgresQuery, on connection: PostgresConnection) async throws -> [String: KPICounters] {
        var result: [String: KPICounters] = [:]
        for try await row in try await connection.query(query, logger: logger) {
            let cells = Array(row)
            let key = try cells[0].decode(String.self)
            result[key] = KPICounters(all: try cells.dropFirst().map { try $0.decode(Int64.self) })
        }
        return result
    }

    private func levelBinds(_ toMs: Int64, _ all: Bool, _ filter: [String]) throws -> PostgresBindings {
        var binds = PostgresBindings()
        binds.append(toMs)
        binds.append(all)
        binds.append(filter)
        return binds
    }

    private func binds(_ fromMs: Int64, _ toMs: Int64, _ all: Bool, _ filter: [String], _ bucketMs: Int64? = nil) throws -> PostgresBindings {
        var binds = PostgresBindings()
        binds.append(fromMs)
        binds.append(toMs)
        binds.append(all)
        binds.append(filter)
        if let bucketMs { binds.append(bucketMs) }
        return binds
    }
}

extension KPICounters {
    static func - (left: KPICounters, right: KPICounters) -> KPICounters {
        KPICounters(all: zip(left.all, right.all).map { $0 - $1 })
    }
}
